"""Entropy coding of quantised weights with ``constriction``'s range coder (Bamler 2022,
arXiv 2201.01741).

Each tensor's integers are coded as i.i.d. draws of a zero-mean quantised Laplace or Gaussian
distribution over its range -L..L (the two shapes trained weights take: heavy-tailed for most
matrices, near-uniform or Gaussian for a few); its scale is the maximum-likelihood one (mean |q| for
Laplace, sqrt(mean q^2) for Gaussian) and the shape that codes the tensor shorter is kept. The
decoder rebuilds the same model from (shape id, scale, L), which the file's quantiser table holds.
An i.i.d. model per tensor costs one float per tensor, which matters at a few thousand parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import constriction
import numpy as np

from kan_inr.errors import KanInrError

SHAPES = ("laplace", "gaussian")
MIN_SCALE = 0.05  # a tensor of zeros still needs a valid (positive) scale


@dataclass(frozen=True)
class SymbolModel:
    """The distribution one tensor's integers are coded with."""

    shape: int  # index into SHAPES
    scale: float  # float32-representable, so the file stores it exactly
    limit: int  # L: symbols run over -L..L

    def build(self) -> object:
        model = (constriction.stream.model.QuantizedLaplace if SHAPES[self.shape] == "laplace"
                 else constriction.stream.model.QuantizedGaussian)
        return model(-self.limit, self.limit, 0.0, self.scale)


def fit_model(q: np.ndarray, limit: int) -> SymbolModel:
    """The shape and maximum-likelihood scale that code ``q`` (int32, any shape) in the fewest bits."""
    q = q.ravel().astype(np.int32)
    moments = (np.abs(q).mean(), np.sqrt(np.mean(q.astype(np.float64) ** 2)))
    best, best_bits = None, None
    for shape, moment in enumerate(moments):
        model = SymbolModel(shape, float(np.float32(max(float(moment), MIN_SCALE))), limit)
        trial = constriction.stream.queue.RangeEncoder()
        trial.encode(q, model.build())
        if best_bits is None or trial.num_bits() < best_bits:
            best, best_bits = model, trial.num_bits()
    assert best is not None
    return best


def encode(tensors: list[np.ndarray], models: list[SymbolModel]) -> bytes:
    """One range-coded stream of every tensor's integers, in order: little-endian 32-bit words."""
    encoder = constriction.stream.queue.RangeEncoder()
    for q, model in zip(tensors, models, strict=True):
        if q.size:
            encoder.encode(q.ravel().astype(np.int32), model.build())
    return encoder.get_compressed().astype("<u4").tobytes()


def decode(payload: bytes, sizes: list[int], models: list[SymbolModel]) -> list[np.ndarray]:
    """Inverse of :func:`encode`: flat int32 arrays of the given sizes. The caller has bounded the
    sizes; a payload that is not whole 32-bit words, or that is not exactly the encoding of
    ``sum(sizes)`` integers, is a corrupt file.

    A range decoder cannot tell where its stream ends: asked for more integers than were coded it
    reads on into padding, asked for fewer it stops early, and both give a network of garbage (a
    header forged from 3 channels to 4). So the integers decoded are encoded again, which is
    deterministic, and must give back the payload byte for byte."""
    if len(payload) % 4:
        raise KanInrError("corrupt file: the weight stream is not a whole number of 32-bit words")
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    out = []
    for size, model in zip(sizes, models, strict=True):
        try:
            values = decoder.decode(model.build(), size) if size else np.zeros(0, np.int32)
        except Exception as exc:  # the coder reports a bad stream in its own types
            raise KanInrError(f"corrupt file: the weight stream does not decode ({exc})") from None
        out.append(np.asarray(values, dtype=np.int32))
    if encode(out, models) != payload:
        raise KanInrError(f"corrupt file: the weight stream does not hold exactly the {sum(sizes):,} integers "
                          f"the header's network needs")
    return out
