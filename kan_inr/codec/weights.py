"""A network's weights <-> the quantiser table and entropy-coded payload of a ``.kinr`` file.

Encoding: every parameter (``named_parameters`` order) is quantised (quant.py), its integers get a
symbol model (entropy.py), and all are range-coded into one payload. The table holds, per tensor,
the symbol model (u8 shape, f32 scale) and the step(s) (f32 each). Decoding rebuilds the network
from the header, first on the meta device, so that its parameter count, the table's exact size and
every step are checked before a single weight is allocated.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import torch
from torch import nn

from kan_inr.errors import KanInrError
from kan_inr import models
from kan_inr.codec import entropy
from kan_inr.codec.quant import QuantConfig, dequantise, levels, quantise

MAX_PARAMS = 1 << 24  # 16.8M parameters: 64 MiB of integers while decoding, far beyond any codec network
MAX_FIELD = 4096  # any integer model field (width, K, degree, rank)
MAX_LAYERS = 64  # fields that count layers: each is a module to build, even on the meta device
# A coded parameter costs bits (7 or so in practice); a header claiming far more parameters than its
# payload could carry at 1/16 bit each is refused before the network is allocated.
MIN_BITS_PER_PARAM = 1 / 16
FREE_PARAMS = 4096  # a tiny network may code to almost nothing (all-zero tensors)
_MODEL = struct.Struct("<Bf")
_STEP = struct.Struct("<f")


def encode_weights(model: nn.Module, quant: QuantConfig) -> tuple[bytes, bytes]:
    """(quantiser table, payload) for every parameter of ``model`` (a plain one: no fake quantiser)."""
    table, ints, symbol_models = [], [], []
    for _, param in model.named_parameters():
        q, step = quantise(param.detach().cpu(), quant)
        q_np = q.numpy()
        symbols = entropy.fit_model(q_np, levels(quant.bits_for(tuple(param.shape))))
        table.append(_MODEL.pack(symbols.shape, symbols.scale) + step.numpy().astype("<f4").tobytes())
        ints.append(q_np)
        symbol_models.append(symbols)
    return b"".join(table), entropy.encode(ints, symbol_models)


def check_config(config: dict[str, Any], name: str) -> None:
    """Model fields from a file are plain numbers in sane ranges before any network is built; a field
    that counts layers is a whole number (its type against the family's config: ``config_from_dict``)."""
    def ok(value: Any) -> bool:
        if type(value) is int:
            return 0 <= value <= MAX_FIELD
        if type(value) is float:
            return math.isfinite(value) and abs(value) <= 1e6
        if type(value) is list:
            return len(value) <= 64 and all(type(v) is int and 1 <= v <= MAX_FIELD for v in value)
        return type(value) is bool

    for key, value in config.items():
        if not ok(value) or ("layers" in key and not (type(value) is int and value <= MAX_LAYERS)):
            raise KanInrError(f"{name}: bad header: model field {key} = {str(value)[:40]} is out of range")


def parameter_shapes(family: str, config: dict[str, Any], in_dim: int, out_dim: int,
                     name: str) -> tuple[Any, list[tuple[int, ...]]]:
    """(model config, shape of every parameter) from a file's header, via the meta device."""
    if family not in models.FAMILIES:
        raise KanInrError(f"{name}: unknown model family '{family:.40}'")
    check_config(config, name)
    try:
        cfg = models.config_from_dict(family, config)
        with torch.device("meta"):
            meta = models.build(family, in_dim, out_dim, cfg)
    except KanInrError as exc:
        raise KanInrError(f"{name}: bad header: {exc}") from None
    except Exception as exc:  # a config the family rejects (zero width ...): any type means the same
        raise KanInrError(f"{name}: bad header: cannot build '{family}' from its config ({type(exc).__name__})") from None
    stored = set(meta.state_dict()) - {n for n, _ in meta.named_parameters()}  # persistent buffers
    if stored:  # a non-persistent buffer (a layer's spread frequencies) is rebuilt from the config
        raise KanInrError(f"{name}: model family '{family}' has buffers, which .kinr files do not store")
    shapes = [tuple(p.shape) for p in meta.parameters()]
    total = sum(math.prod(s) for s in shapes)
    if total > MAX_PARAMS:
        raise KanInrError(f"{name}: bad header: {total:,} parameters (at most {MAX_PARAMS:,})")
    return cfg, shapes


def decode_weights(family: str, config: dict[str, Any], in_dim: int, out_dim: int, quant: QuantConfig,
                   table: bytes, payload: bytes, name: str = "file") -> nn.Module:
    """The network a file describes, on the CPU, in eval mode."""
    cfg, shapes = parameter_shapes(family, config, in_dim, out_dim, name)
    total = sum(math.prod(s) for s in shapes)
    if total > FREE_PARAMS + 8 * len(payload) / MIN_BITS_PER_PARAM:
        raise KanInrError(f"{name}: bad header: {total:,} parameters cannot be coded in {len(payload):,} bytes")
    counts = [quant.num_steps(s) for s in shapes]
    expected = sum(_MODEL.size + _STEP.size * n for n in counts)
    if len(table) != expected:
        raise KanInrError(f"{name}: corrupt file: quantiser table of {len(table)} bytes, the model needs {expected}")
    symbol_models, steps, pos = [], [], 0
    for shape, n in zip(shapes, counts):
        kind, scale = _MODEL.unpack_from(table, pos)
        step = np.frombuffer(table, dtype="<f4", count=n, offset=pos + _MODEL.size).astype(np.float32)
        pos += _MODEL.size + _STEP.size * n
        if kind >= len(entropy.SHAPES) or not (math.isfinite(scale) and scale > 0):
            raise KanInrError(f"{name}: corrupt file: bad symbol model in the quantiser table")
        if not (np.isfinite(step).all() and (step > 0).all()):
            raise KanInrError(f"{name}: corrupt file: bad quantiser step in the table")
        symbol_models.append(entropy.SymbolModel(kind, scale, levels(quant.bits_for(shape))))
        steps.append(torch.from_numpy(step.copy()))
    try:
        ints = entropy.decode(payload, [math.prod(s) for s in shapes], symbol_models)
    except KanInrError as exc:  # the coder's messages name no file
        raise KanInrError(f"{name}: {exc}") from None
    model = models.build(family, in_dim, out_dim, cfg)
    with torch.no_grad():
        for param, q, q_step, shape in zip(model.parameters(), ints, steps, shapes):
            param.copy_(dequantise(torch.from_numpy(q).view(shape), q_step))
    return model.eval()
