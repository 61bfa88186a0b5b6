"""Basis layers shared by KAN models: a basis expansion of each input, then one matrix multiply.

A KAN layer y_o = sum_i phi_oi(x_i) with phi_oi = sum_k c_oik B_k(x_i) is linear in the fixed features
B_k(x_i). Computing those features, (N, in * n_basis), and calling ``F.linear`` once gives the same
result as the per-edge formula without ever materialising a (N, out, in, K) tensor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


EXACT_MAX_INPUTS = 4  # up to this many inputs, exact_linear multiplies and adds elementwise (no matmul)


def exact_linear(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(x)`` computed and returned in fp32 inside a bf16 autocast step: (..., in) -> (..., out).

    The layers whose precision a bf16 step cannot spare (mixed-precision practice keeps the first and
    last layers in fp32):
    - a first layer over few coordinates (SIREN's, FINER's) whose output is scaled by omega_0 = 30-3000
      before a sine: bf16 rounds W x to 8 significant bits, a phase error of up to omega_0 |W x| / 256.
      With ``in`` <= EXACT_MAX_INPUTS it is ``in`` elementwise multiply-adds, which autocast leaves in
      fp32 and TF32 never touches (TF32 rounds matmul inputs to 11 bits);
    - the output layer: a bf16 output carries a rounding error of 2^-9 of its value (an RMS of about
      -65 dB on [0, 1]), which a fit at 50 dB already feels. Here an fp32 matmul, autocast off.
    Measured in benchmarks/precision.json (scripts/precision_neutrality.py).
    """
    weight = linear.weight.float()  # (out, in)
    bias = linear.bias.float() if linear.bias is not None else None
    x = x.float()
    if linear.in_features > EXACT_MAX_INPUTS:
        with torch.autocast(x.device.type, enabled=False):
            return F.linear(x, weight, bias)  # (..., out)
    z = bias if bias is not None else weight.new_zeros(weight.shape[0])  # (out,)
    for i in range(linear.in_features):
        z = torch.addcmul(z, x[..., i:i + 1], weight[:, i])  # (..., out) += x_i * W[:, i]
    return z


def harmonics_at(x: torch.Tensor, frequencies: torch.Tensor) -> torch.Tensor:
    """(cos k x_i, sin k x_i) for the given frequencies k (K,): (N, in) -> (N, in, K, 2)."""
    angles = x.unsqueeze(-1) * frequencies.to(x.dtype)  # (N, in, K)
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)  # (N, in, K, 2)


def harmonics_direct(x: torch.Tensor, grid_size: int) -> torch.Tensor:
    """(cos k x_i, sin k x_i) for k = 1..K by evaluating each: (N, in) -> (N, in, K, 2).

    Integer frequencies on raw coordinates, no 2 pi, no constant term (FKAN, arXiv 2409.09323).
    """
    return harmonics_at(x, torch.arange(1, grid_size + 1, device=x.device, dtype=x.dtype))


def harmonics_powers(x: torch.Tensor, grid_size: int) -> torch.Tensor:
    """The same as :func:`harmonics_direct` from one sin/cos pair per input: e^{ikx} = (e^{ix})^k by a
    cumulative complex product (de Moivre). The rounding error grows by about one ulp per power
    (1.2e-5 at K = 270 in fp32, the size of the fp32 rounding of the argument k x in the direct form).
    """
    unit = torch.polar(torch.ones_like(x), x)  # e^{ix}: (N, in) complex
    powers = torch.cumprod(unit.unsqueeze(-1).expand(*x.shape, grid_size), dim=-1)  # (N, in, K) e^{ikx}
    return torch.view_as_real(powers)  # (N, in, K, 2)


def harmonics(x: torch.Tensor, grid_size: int) -> torch.Tensor:
    """(cos k x_i, sin k x_i) for k = 1..K: (N, in) -> (N, in, K, 2).

    Eager fp32/fp64 on an input that needs no gradient (coordinates): complex powers, 1.6x cheaper
    than K sin/cos evaluations on a CPU. An input that needs one (a hidden Fourier-KAN layer, NeAF):
    the direct form, since the backward pass of the complex cumprod costs more than the forward saves
    (2.5x slower at K = 1,024 with it counted). Under torch.compile (which fuses the direct form into
    the one kernel that writes the features) and for dtypes without complex support (bf16, fp16): the
    direct form.
    """
    if torch.compiler.is_compiling() or x.requires_grad or x.dtype not in (torch.float32, torch.float64):
        return harmonics_direct(x, grid_size)
    return harmonics_powers(x, grid_size)


DENSE_FREQUENCIES = 8  # spread_frequencies keeps 1..8 (the slow shapes of a clip) before spreading


def spread_frequencies(count: int, band: int, dense: int = DENSE_FREQUENCIES) -> torch.Tensor:
    """``count`` distinct integer frequencies over 1..``band``: 1..``dense``, then one drawn uniformly
    from each of ``count - dense`` equal runs of (dense, band], with a fixed generator so a config
    rebuilds the same layer. ``band <= count``: 1..count, the harmonics of the FKAN paper. (count,) float32.

    Why: a first layer of K harmonics k = 1..K spans only K / (2 pi) cycles per coordinate unit, and
    K harmonics of a scaled input would make every feature (so the whole network) periodic with
    period 2 pi / scale. Distinct integers spread over the band reach it at a fixed cost per sample;
    no two share a period shorter than 2 pi, longer than the [-1, 1] extent, so no feature repeats
    within the signal. Drawing frequencies over a band follows Fourier features (Tancik et al. 2020,
    arXiv 2006.10739) and SIREN^2's spectrum-scaled first layer, on the integer lattice of a
    Fourier-KAN layer (FKAN, arXiv 2409.09323).
    """
    if band <= count or count <= dense:
        return torch.arange(1, count + 1, dtype=torch.float32, device="cpu")
    runs = count - dense
    generator = torch.Generator().manual_seed(0)
    j = torch.arange(runs + 1, dtype=torch.int64, device="cpu")  # on the CPU even under a meta device
    edges = dense + j * (band - dense) // runs  # (runs + 1,) strictly increasing since band - dense >= runs
    low, width = edges[:-1] + 1, edges[1:] - edges[:-1]  # (runs,) run j holds the integers e_j + 1 .. e_j+1
    u = torch.rand(runs, generator=generator, dtype=torch.float64, device="cpu")  # (runs,) in [0, 1)
    drawn = low + (u * width).long().clamp(max=width - 1)  # one integer per run
    return torch.cat([torch.arange(1, dense + 1, device="cpu"), drawn]).float()  # (count,)


class FourierKAN(nn.Module):
    """Fourier-KAN layer (FKAN, Mehrabian et al. 2024, arXiv 2409.09323, eq. for phi):

        y_o = b_o + sum_i sum_{k=1..K} A_oik cos(k x_i) + B_oik sin(k x_i)

    stored as ``weight`` (out, in * 2K) with row layout [A_oi1..A_oiK, B_oi1..B_oiK] per input i.
    ``band`` > K: the K frequencies are ``spread_frequencies(K, band)`` instead of 1..K (``frequencies``,
    a buffer rebuilt from the arguments, not stored with the weights).
    """

    frequencies: torch.Tensor  # (K,)

    def __init__(self, in_features: int, out_features: int, grid_size: int, band: int = 0) -> None:
        super().__init__()
        self.in_features, self.out_features, self.grid_size, self.band = in_features, out_features, grid_size, band
        self.register_buffer("frequencies", spread_frequencies(grid_size, band), persistent=False)  # (K,)
        self.weight = nn.Parameter(torch.empty(out_features, in_features * 2 * grid_size))
        self.bias = nn.Parameter(torch.empty(out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """A, B ~ N(0, 1) / (sqrt(in) sqrt(K)); bias 0 (the FKAN public code)."""
        nn.init.normal_(self.weight, 0.0, 1.0 / math.sqrt(self.in_features * self.grid_size))
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out)."""
        assert x.shape[-1] == self.in_features, x.shape
        flat = x.reshape(-1, self.in_features)  # (N, in)
        spread = self.band > self.grid_size
        features = (harmonics_at(flat, self.frequencies) if spread else harmonics(flat, self.grid_size)).flatten(1)
        # the stored layout (out, in, 2, K) reordered to the features' (out, in, K, 2): a small copy
        weight = self.weight.view(self.out_features, self.in_features, 2, self.grid_size).transpose(2, 3)
        y = F.linear(features, weight.reshape(self.out_features, -1), self.bias)  # (N, out)
        return y.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        band = f", band={self.band}" if self.band > self.grid_size else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, grid_size={self.grid_size}{band}"


def chebyshev_basis(t: torch.Tensor, degree: int | torch.Tensor) -> torch.Tensor:
    """Chebyshev polynomials T_0..T_D of each entry of ``t`` in [-1, 1]: (N, in) -> (N, in, D + 1).

    T_k(t) = cos(k arccos t). ``t`` is first clamped to the largest float below 1 in magnitude: that
    moves only t = +-1 exactly, by one ulp (within the input's own rounding), and keeps the gradient
    of arccos, -1 / sqrt(1 - t^2), finite, so saturated inputs (tanh = +-1) never make NaN gradients.
    One arccos per input and one cos per basis entry, vs the public SL2A code's arccos of the expanded
    (N, in, D + 1) tensor. ``degree`` a tensor (M,): those degrees instead of 0..D, (N, in, M).
    """
    edge = 1.0 - torch.finfo(t.dtype).eps / 2  # the float just below 1
    theta = torch.arccos(t.clamp(-edge, edge))  # (N, in)
    if isinstance(degree, torch.Tensor):
        k = degree.to(device=t.device, dtype=t.dtype)  # (M,)
    else:
        k = torch.arange(degree + 1, device=t.device, dtype=t.dtype)  # (D + 1,)
    return torch.cos(theta.unsqueeze(-1) * k)  # (N, in, D + 1)


class ChebyshevKAN(nn.Module):
    """Chebyshev-KAN layer (SL2A-INR, Heidari et al. 2024, arXiv 2409.10836, eq. of psi):

        y_o = sum_i sum_{k=0..D} c_iok T_k(tanh x_i)

    No bias: T_0 = 1 plays its part. tanh maps any input into (-1, 1), the domain of T_k, so the layer
    accepts all reals. Stored as ``weight`` (out, in * (D + 1)) with row layout [c_i0..c_iD] per input i.
    ``band`` > D + 1: the D + 1 degrees are 0 and ``spread_frequencies(D, band)`` instead of 0..D
    (``degrees``, a buffer rebuilt from the arguments): T_k(tanh x) oscillates at most k times faster
    than x, so degrees spread over a band reach it as Fourier frequencies do.
    """

    degrees: torch.Tensor  # (D + 1,)

    def __init__(self, in_features: int, out_features: int, degree: int, band: int = 0) -> None:
        super().__init__()
        self.in_features, self.out_features, self.degree, self.band = in_features, out_features, degree, band
        degrees = torch.cat([torch.zeros(1, device="cpu"), spread_frequencies(degree, band)])  # (D + 1,)
        self.register_buffer("degrees", degrees, persistent=False)
        self.weight = nn.Parameter(torch.empty(out_features, in_features * (degree + 1)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform on coefficients shaped (in, out, D + 1), as the public SL2A code stores them:
        PyTorch's 3-D fan rule gives bound sqrt(6 / ((in + out)(D + 1)))."""
        coeffs = nn.init.xavier_uniform_(torch.empty(self.in_features, self.out_features, self.degree + 1))
        with torch.no_grad():
            self.weight.copy_(coeffs.permute(1, 0, 2).reshape_as(self.weight))  # (out, in * (D + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out)."""
        assert x.shape[-1] == self.in_features, x.shape
        basis = chebyshev_basis(torch.tanh(x.reshape(-1, self.in_features)), self.degrees)  # (N, in, D + 1)
        return F.linear(basis.flatten(1), self.weight).view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        band = f", band={self.band}" if self.band > self.degree else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, degree={self.degree}{band}"


def bspline_nonzero(x: torch.Tensor, grid_range: tuple[float, float], grid_size: int,
                    order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k + 1 nonzero B-splines of ``order`` (3 = cubic) at each x, on a uniform grid of G intervals
    over ``grid_range`` extended by k knots each side (knots t_j = lo + (j - k) h): (N, in) with x in
    the range -> (indices j, values B_j(x)), both (N, in, k + 1), j in 0..G + k - 1.

    Only k + 1 of them are nonzero at any x: with x = lo + (m + f) h (f in [0, 1]), the Cox-de Boor
    recursion B_j^p = (x - t_j) / (p h) B_j^{p-1} + (t_{j+p+1} - x) / (p h) B_{j+1}^{p-1} restricted to
    them reads b^p_r = (f + p - r) / p * b^{p-1}_{r-1} + (r + 1 - f) / p * b^{p-1}_r (r = 0..p, entries
    outside 0..p-1 zero), with b^p_r the value of B_{m+k-p+r}; at p = k these are B_m..B_{m+k}.
    Work per input is O(k^2), not O(k (G + k)) as for the recursion over all knots.
    """
    lo, hi = grid_range
    u = (x - lo) * (grid_size / (hi - lo))  # (N, in): position in intervals from lo
    m = u.detach().floor().clamp(0, grid_size - 1)  # interval index; x = hi uses the last one, f = 1
    f = (u - m).unsqueeze(-1)  # (N, in, 1)
    b = torch.ones_like(f)  # b^0: (N, in, 1)
    for p in range(1, order + 1):
        r = torch.arange(p + 1, device=x.device, dtype=x.dtype)  # (p + 1,)
        zero = torch.zeros_like(f)
        from_left = torch.cat([zero, b], dim=-1)  # b^{p-1}_{r-1}: (N, in, p + 1)
        from_right = torch.cat([b, zero], dim=-1)  # b^{p-1}_r
        b = ((f + p - r) * from_left + (r + 1 - f) * from_right) / p
    index = m.long().unsqueeze(-1) + torch.arange(order + 1, device=x.device)  # (N, in, k + 1): j = m + r
    return index, b


def bspline_basis(x: torch.Tensor, grid_range: tuple[float, float], grid_size: int, order: int) -> torch.Tensor:
    """All G + k B-splines of :func:`bspline_nonzero` at each x: (N, in) -> (N, in, G + k), mostly zeros.
    They sum to 1 everywhere on the range."""
    index, values = bspline_nonzero(x, grid_range, grid_size, order)
    basis = torch.zeros(*x.shape, grid_size + order, device=x.device, dtype=x.dtype)
    return basis.scatter(-1, index, values)  # (N, in, G + k)


class BSplineKAN(nn.Module):
    """B-spline KAN layer (KAN, Liu et al. 2024, arXiv 2404.19756, eq. 2.10), efficient formulation:

        y_o = sum_i w_oi silu(x_i) + sum_i sum_j c_oij B_j(clamp(x_i))

    computed as ONE ``F.linear`` of the features [silu(x_i), B_1(x_i) .. B_{G+k}(x_i)] per input i.
    The paper's per-edge scales (scale_base, scale_sp) are folded into w and c (a product of free
    parameters adds nothing). Input domain: the grid has G intervals on ``grid_range`` plus k knots on
    each side, so the B-splines sum to 1 on the whole range; the spline branch sees x clamped to the
    range (beyond it the spline continues with its edge value instead of silently dropping to 0),
    the SiLU branch sees x as given.
    """

    def __init__(self, in_features: int, out_features: int, grid_size: int, order: int = 3,
                 grid_range: tuple[float, float] = (-1.0, 1.0)) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.grid_size, self.order, self.grid_range = grid_size, order, grid_range
        self.weight = nn.Parameter(torch.empty(out_features, in_features * (1 + grid_size + order)))
        self.reset_parameters()

    def reset_parameters(self, noise_scale: float = 0.5) -> None:
        """pykan's initialisation: base weight w ~ U(+-1 / sqrt(in)) (scale_base); spline coefficients
        c = scale_sp * noise with scale_sp = 1 / sqrt(in) and noise ~ U(+-noise_scale / (2 G))."""
        per_input = self.weight.detach().view(self.out_features, self.in_features, 1 + self.grid_size + self.order)
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(per_input[..., 0], -bound, bound)
        noise = noise_scale / (2 * self.grid_size)
        nn.init.uniform_(per_input[..., 1:], -noise * bound, noise * bound)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[silu(x_i), B_j(clamp(x_i))] per input i: (N, in) -> (N, in * (1 + G + k)).

        One scatter of the k + 2 nonzero values per input into a zero tensor: no pass over a dense
        spline basis before the concatenation."""
        index, splines = bspline_nonzero(x.clamp(*self.grid_range), self.grid_range, self.grid_size, self.order)
        values = torch.cat([F.silu(x).unsqueeze(-1), splines], dim=-1)  # (N, in, k + 2)
        index = torch.cat([torch.zeros_like(index[..., :1]), index + 1], dim=-1)  # slot 0: silu
        out = torch.zeros(*x.shape, 1 + self.grid_size + self.order, device=x.device, dtype=x.dtype)
        return out.scatter(-1, index, values).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out)."""
        assert x.shape[-1] == self.in_features, x.shape
        y = F.linear(self.features(x.reshape(-1, self.in_features)), self.weight)  # (N, out)
        return y.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, grid_size={self.grid_size}, "
                f"order={self.order}, grid_range={self.grid_range}")


KANLayer = FourierKAN | ChebyshevKAN | BSplineKAN  # the basis layers of this module


@torch.no_grad()
def edge_functions(layer: KANLayer, x: torch.Tensor) -> torch.Tensor:
    """The learned univariate functions phi_oi of a KAN layer y_o = sum_i phi_oi(x_i) (+ b_o), sampled
    at ``x`` (M,): (M, out, in), each shifted to phi_oi(0) = 0 (a constant moves freely between the
    edges of one output and its bias, so only the shape of phi is defined).

    Evaluates the layer with input i set to x and the others to 0, minus its value at 0: the other
    edges cancel. Works for every layer of this module (FourierKAN, ChebyshevKAN, BSplineKAN).
    """
    n_in = layer.in_features
    probes = torch.zeros(n_in, x.numel(), n_in, device=x.device, dtype=x.dtype)  # (in, M, in)
    probes[torch.arange(n_in), :, torch.arange(n_in)] = x.flatten()  # row i of probe i holds x
    y = layer(probes) - layer(torch.zeros(n_in, device=x.device, dtype=x.dtype))  # (in, M, out)
    return y.permute(1, 2, 0)  # (M, out, in)
