#!/usr/bin/env python
"""Speed protocol (docs: benchmarks.md, protocol 5): training throughput and peak memory of every
registered model, beside the naive reference formulations of the papers' public code, in one process.

Model rows: each preset built for a 512x512 RGB image; per batch size, steps/s and coordinate samples/s
of the training step ``fit()`` runs (``kan_inr.step.train_step``: minibatch indices drawn on the device
and gathered, forward, MSE, backward, Adam), and peak memory. ``full`` is the whole 512x512 grid as one
batch (no sampling). Precision and torch.compile mode as given (``--precision``, ``--compile``, lists).

Reference rows (fp32, eager; ratio = naive / ours):
  fkan-layer    the FKAN first layer, 2 -> 128, K = 270, at batch 4,096: ``FourierKAN`` (features + one
                matmul) vs ``reference.fourier_kan_naive``, which materialises (N, out, in, K) one term at
                a time as the FKAN notebook does (target: >= 5x faster, >= 10x less memory);
  fkan-network  the whole FKAN training step with either first layer (team goal: >= 10x and >= 10x);
  sl2a-network  the SL2A training step with ``ChebyshevKAN`` vs ``reference.chebyshev_kan_einsum``,
                the public code's einsum over an expanded tensor (issue 3: >= 1.5x faster, outputs
                equal to 1e-5);
  harmonics     cos/sin(k x), k = 1..270, by complex powers vs direct evaluation (forward only), at
                batch 4,096 and 65,536.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over one step. On a CPU torch keeps no such
counter: we use torch's MemTracker (every live tensor, temporaries included, followed through the
dispatcher) where this torch has it, else the tensors autograd saves plus parameters, gradients and
Adam state (a lower bound: it misses temporaries). The JSON names the method used.

Absolute times mean something only from a quiet machine (a GPU run); on a shared CPU read the ratios.
``--record NAME`` writes the results and the markdown tables the README shows to benchmarks/NAME.json
(``records.record``: with the command, git commit, device, torch version and date); then
``python scripts/sync_readme.py`` puts them into the README's ``<!-- benchmark:NAME -->`` block.
Usage: python scripts/bench.py [--device auto] [--models fkan,sl2a] [--batches 16384,65536,262144,full]
       [--precision fp32,bf16] [--compile off,default] [--quick] [--no-references] [--json out.json]
       [--record bench-cpu]
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

import torch  # noqa: E402
import typer  # noqa: E402
from torch import nn  # noqa: E402

from kan_inr import models  # noqa: E402
import records  # noqa: E402
from kan_inr.atomic import write_json  # noqa: E402
from kan_inr.config import COMPILE_MODES, PRECISIONS, check_choice  # noqa: E402
from kan_inr.device import resolve_device  # noqa: E402
from kan_inr.pixels import POINT  # noqa: E402
from kan_inr.step import compile_model, make_optimizer, train_step  # noqa: E402
from kan_inr.training import Sampler  # noqa: E402
from tests import reference_models as reference  # noqa: E402
from kan_inr.models.layers import FourierKAN, harmonics_direct, harmonics_powers  # noqa: E402
from kan_inr.signals.base import grid  # noqa: E402

SHAPE = (512, 512)  # the benchmark image: every model is built and timed for it
BENCH_DIR = records.BENCH_DIR  # where --record writes (the tests point it at a temporary folder)
FULL = SHAPE[0] * SHAPE[1]
CHANNELS = 3


class NaiveFourierKAN(nn.Module):
    """A ``FourierKAN``'s weights run through the per-edge formula of the FKAN notebook."""

    def __init__(self, layer: FourierKAN) -> None:
        super().__init__()
        a, b = reference.fourier_kan_coefficients(layer.weight.detach(), layer.in_features)  # (out, in, K) each
        self.a, self.b = nn.Parameter(a.clone()), nn.Parameter(b.clone())
        self.bias = nn.Parameter(layer.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reference.fourier_kan_naive(x, self.a, self.b, self.bias)  # (N, out)


class EinsumChebyshevKAN(nn.Module):
    """A ``ChebyshevKAN``'s weights run through the public SL2A code's einsum formulation."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        coeffs = reference.chebyshev_kan_coefficients(layer.weight.detach(), layer.in_features)  # (in, out, D + 1)
        self.coeffs = nn.Parameter(coeffs.contiguous().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reference.chebyshev_kan_einsum(x, self.coeffs)  # (N, out)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(fn: Callable[[], Any], device: torch.device, budget_s: float,
                     max_calls: int = 1000) -> tuple[float, int]:
    """Mean wall time of ``fn()`` after a warm-up call: (seconds per call, calls timed). A first timed
    call estimates the cost; if that already spends half the budget it is the answer, else enough
    further calls to fill about ``budget_s`` are timed together (no sync between them)."""
    fn()
    _sync(device)
    tick = time.perf_counter()
    fn()
    _sync(device)
    estimate = time.perf_counter() - tick
    if estimate >= budget_s / 2:
        return estimate, 1
    calls = int(min(max(budget_s / max(estimate, 1e-9), 3), max_calls))
    tick = time.perf_counter()
    for _ in range(calls):
        fn()
    _sync(device)
    return (time.perf_counter() - tick) / calls, calls


def interleaved_seconds(steps: dict[str, Callable[[], Any]], device: torch.device, budget_s: float,
                        rounds: int = 5) -> dict[str, float]:
    """Seconds per call of each of ``steps``, timed in ``rounds`` alternating rounds (A, B, A, B ...)
    of ``budget_s / rounds`` each, keeping each one's fastest round. Other processes on a shared machine
    only ever slow a round down, so the minimum is the estimate least disturbed by them, and
    alternating exposes both sides to the same load: their ratio is what holds."""
    best = {label: float("inf") for label in steps}
    for _ in range(rounds):
        for label, step in steps.items():
            seconds, _ = seconds_per_call(step, device, budget_s / rounds, max_calls=200)
            best[label] = min(best[label], seconds)
    return best


def _state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    tensors = [*model.parameters(), *(p.grad for p in model.parameters() if p.grad is not None)]
    tensors += [t for state in optimizer.state.values() for t in state.values() if torch.is_tensor(t)]
    return sum(t.numel() * t.element_size() for t in tensors)


def peak_bytes(step: Callable[[], Any], model: nn.Module, optimizer: torch.optim.Optimizer,
               device: torch.device) -> tuple[int, str]:
    """Peak memory of one call of ``step`` (see the module docstring): (bytes, method)."""
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        _sync(device)
        return torch.cuda.max_memory_allocated(device), "torch.cuda.max_memory_allocated"
    try:
        from torch.distributed._tools.mem_tracker import MemTracker

        tracker = MemTracker()
        tracker.track_external(model, optimizer)
        with tracker:
            step()
        return int(max(d["Total"] for d in tracker.get_tracker_snapshot("peak").values())), "MemTracker (live tensors)"
    except Exception:  # private torch API: absent or changed in this torch
        saved: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            step()
        return sum(saved.values()) + _state_bytes(model, optimizer), "saved tensors + state (lower bound)"


def measure_step(model: nn.Module, batch: int | str, device: torch.device, precision: str, compile_mode: str,
                 budget_s: float, out_features: int = CHANNELS) -> dict[str, Any]:
    """Time the training step of ``model`` (moved to ``device``) on the 512x512 grid: a row of the table."""
    model = model.to(device).train()
    coords = grid(SHAPE, device)  # (FULL, 2)
    target = torch.rand(FULL, out_features, device=device)  # (FULL, C): content does not change speed
    size = FULL if batch == "full" else int(batch)
    sampler = None if batch == "full" else Sampler(FULL, size, 0, device)
    optimizer = make_optimizer(model.parameters(), 1e-4, device)
    tick = time.perf_counter()
    step_model, how = compile_model(model, compile_mode, device, coords[:size], target[:size], precision, POINT)
    compile_s = time.perf_counter() - tick

    def step() -> torch.Tensor:
        if sampler is None:
            return train_step(step_model, optimizer, coords, target, precision, pixels=POINT)
        index = sampler.next()  # (batch,)
        return train_step(step_model, optimizer, coords[index], target[index], precision, pixels=POINT)

    seconds, calls = seconds_per_call(step, device, budget_s)
    peak, method = peak_bytes(step, model, optimizer, device)
    return {"batch": batch, "samples": size, "precision": precision, "compile": how, "compile_s": compile_s,
            "step_ms": seconds * 1e3, "steps_per_s": 1.0 / seconds, "samples_per_s": size / seconds,
            "timed_steps": calls, "peak_mb": peak / 2**20, "memory_method": method}


def model_rows(names: list[str], batches: list[int | str], precisions: list[str], compiles: list[str],
               device: torch.device, budget_s: float, emit: Callable[[dict[str, Any]], None]) -> None:
    for name in names:
        preset = models.preset(name, "image")
        for precision in precisions:
            for mode in compiles:
                for batch in batches:
                    row: dict[str, Any] = {"model": name, "batch": batch, "precision": precision}
                    try:
                        torch.manual_seed(0)
                        model = models.build(preset.family, 2, CHANNELS, preset.config_for(SHAPE))
                        row = {"model": name, "params": models.num_params(model),
                               **measure_step(model, batch, device, precision, mode, budget_s)}
                    except Exception as exc:  # one model failing (e.g. out of memory) must not stop the bench
                        row.update(compile=mode, error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
                    finally:
                        if device.type == "cuda":
                            torch.cuda.empty_cache()
                    emit(row)


def compare(name: str, ours: nn.Module, naive: nn.Module, batch: int, in_dim: int, out_dim: int,
            device: torch.device, budget_s: float, targets: dict[str, float],
            levers: tuple[str, str] = ("fp32", "off")) -> dict[str, Any]:
    """Time and measure ``ours`` against ``naive`` (same weights) on the same batch: one reference row.
    ``levers`` (precision, compile mode) apply to ours only; the naive side is always fp32 eager."""
    torch.manual_seed(1)
    x = (torch.rand(batch, in_dim, device=device) * 2 - 1)  # (B, in)
    with torch.no_grad():
        diff = (ours.to(device)(x) - naive.to(device)(x)).abs().max().item()
    row: dict[str, Any] = {"reference": name, "batch": batch, "max_abs_diff": diff, "ours_levers": "+".join(levers)}
    target = torch.zeros(batch, out_dim, device=device)  # (B, out)
    steps = {}
    for label, module, (precision, mode) in (("ours", ours, levers), ("naive", naive, ("fp32", "off"))):
        optimizer = make_optimizer(module.parameters(), 1e-4, device)
        step_module, _ = compile_model(module, mode, device, x, target, precision, POINT)

        # defaults bind this side's module, optimizer and precision (a closure would see the last side's)
        def step(step_module=step_module, optimizer=optimizer, precision=precision) -> torch.Tensor:
            return train_step(step_module, optimizer, x, target, precision, pixels=POINT)

        peak, method = peak_bytes(step, module, optimizer, device)
        row.update({f"{label}_mb": peak / 2**20, "memory_method": method})
        steps[label] = step
        if device.type == "cuda":
            torch.cuda.empty_cache()
    seconds = interleaved_seconds(steps, device, budget_s * len(steps))  # the budget is per side
    row.update({f"{label}_ms": seconds[label] * 1e3 for label in steps})
    row["speedup"] = row["naive_ms"] / row["ours_ms"]
    row["memory_ratio"] = row["naive_mb"] / row["ours_mb"]
    row["targets"] = targets
    row["pass"] = all(row[k] >= v if k != "max_abs_diff" else row[k] <= v for k, v in targets.items())
    return row


def reference_rows(device: torch.device, quick: bool, budget_s: float, emit: Callable[[dict[str, Any]], None],
                   levers: bool = False) -> None:
    """The naive-formulation ratios (module docstring), each guarded so one failure keeps the rest.
    ``levers``: only the row of our SL2A with bf16 + torch.compile against the einsum code (CUDA)."""

    def fkan_layer() -> dict[str, Any]:
        torch.manual_seed(0)
        ours = FourierKAN(2, 128, 270)
        return compare("fkan-layer", ours, NaiveFourierKAN(ours), 4096, 2, 128, device, budget_s,
                       {"speedup": 5.0, "memory_ratio": 10.0, "max_abs_diff": 1e-3})

    def fkan_network() -> dict[str, Any]:
        preset = models.preset("fkan", "image")
        torch.manual_seed(0)
        ours = models.build(preset.family, 2, CHANNELS, preset.config_for(SHAPE))
        naive = copy.deepcopy(ours)
        naive.kan = NaiveFourierKAN(ours.kan)
        return compare("fkan-network", ours, naive, 4096, 2, CHANNELS, device, budget_s,
                       {"speedup": 10.0, "memory_ratio": 10.0, "max_abs_diff": 1e-4})

    def sl2a_network() -> dict[str, Any]:
        preset = models.preset("sl2a", "image")
        torch.manual_seed(0)
        ours = models.build(preset.family, 2, CHANNELS, preset.config_for(SHAPE))
        naive = copy.deepcopy(ours)
        naive.kan = EinsumChebyshevKAN(ours.kan)
        batch = 4096 if quick else preset.recipe.batch or FULL
        return compare("sl2a-network", ours, naive, batch, 2, CHANNELS, device, budget_s,
                       {"speedup": 1.5, "max_abs_diff": 1e-5})

    def sl2a_levers() -> dict[str, Any]:
        """The SL2A step with the GPU levers (bf16 autocast, torch.compile) against the einsum code."""
        preset = models.preset("sl2a", "image")
        torch.manual_seed(0)
        ours = models.build(preset.family, 2, CHANNELS, preset.config_for(SHAPE))
        naive = copy.deepcopy(ours)
        naive.kan = EinsumChebyshevKAN(ours.kan)
        return compare("sl2a-network+levers", ours, naive, preset.recipe.batch or FULL, 2, CHANNELS, device,
                       budget_s, {"speedup": 1.5}, levers=("bf16", "default"))

    def harmonics(batch: int) -> dict[str, Any]:
        x = torch.rand(batch, 2, device=device) * 2 - 1  # (B, 2)
        seconds = interleaved_seconds({"ours": lambda: harmonics_powers(x, 270),
                                       "direct": lambda: harmonics_direct(x, 270)}, device, budget_s * 2)
        ours, direct = seconds["ours"], seconds["direct"]
        diff = (harmonics_powers(x, 270) - harmonics_direct(x, 270)).abs().max().item()
        return {"reference": "harmonics", "batch": batch, "ours_ms": ours * 1e3, "naive_ms": direct * 1e3,
                "speedup": direct / ours, "max_abs_diff": diff, "note": "complex powers vs direct sin/cos, forward"}

    runs = [("fkan-layer", fkan_layer), ("fkan-network", fkan_network), ("sl2a-network", sl2a_network),
            ("harmonics", lambda: harmonics(4096)), ("harmonics", lambda: harmonics(65536))]
    if levers:
        runs = [("sl2a-network+levers", sl2a_levers)]
    for name, run in runs:
        try:
            emit(run())
        except Exception as exc:  # e.g. a reference or model another issue has not added yet
            emit({"reference": name, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"})
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()


def environment(device: torch.device) -> dict[str, Any]:
    return {"device": records.device_description(device), "cores": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


REFERENCE_LABELS = {
    "fkan-layer": "FKAN first layer (2 -> 128, K = 270) vs the notebook's materialising layer",
    "fkan-network": "whole FKAN training step, our first layer vs the notebook's",
    "sl2a-network": "SL2A training step vs the einsum Chebyshev layer of the SL2A code",
    "sl2a-network+levers": "SL2A training step, bf16 + torch.compile, vs the einsum Chebyshev layer",
    "harmonics": "cos/sin(kx), K = 270: complex powers vs direct sin/cos (forward only)",
}


def _targets(row: dict[str, Any]) -> str:
    names = {"speedup": "faster", "memory_ratio": "less memory", "max_abs_diff": "difference"}
    return ", ".join(f"<= {v:g}" if k == "max_abs_diff" else f">= {v:g}x {names[k]}"
                     for k, v in row.get("targets", {}).items()) or "-"


def markdown(result: dict[str, Any]) -> str:
    """The tables the README shows (``--record``): the reference ratios, whether the FKAN training-step
    targets are met (said in words), and the model rows; sections apart by a blank line."""
    sections = []
    refs = [r for r in result["references"] if "error" not in r]
    if refs:
        lines = ["| reference (fp32, eager, same weights, same process) | batch | speed-up | less peak memory | "
                 "ours / naive ms | ours / naive peak MB | max abs. difference | target | met |",
                 "|---|---:|---:|---:|---:|---:|---:|---|---|"]
        for r in refs:
            memory = f"{r['memory_ratio']:.1f}x" if "memory_ratio" in r else "-"
            peaks = f"{r['ours_mb']:,.0f} / {r['naive_mb']:,.0f}" if "ours_mb" in r else "-"
            met = "-" if "pass" not in r else ("yes" if r["pass"] else "**no**")
            lines.append(f"| {REFERENCE_LABELS.get(r['reference'], r['reference'])} | {r['batch']:,} | "
                         f"{r['speedup']:.1f}x | {memory} | {r['ours_ms']:,.1f} / {r['naive_ms']:,.1f} | {peaks} | "
                         f"{r['max_abs_diff']:.1e} | {_targets(r)} | {met} |")
        sections.append("\n".join(lines))
    fkan = next((r for r in refs if r["reference"] == "fkan-network"), None)
    if fkan is not None:
        verdict = {True: "met", False: "**not met**"}
        sections.append(f"FKAN training step against the notebook's formulation at batch {fkan['batch']:,}: "
                        f"{fkan['speedup']:.1f}x faster (target >= 10x: {verdict[fkan['speedup'] >= 10]}), "
                        f"{fkan['memory_ratio']:.1f}x less peak memory (target >= 10x: "
                        f"{verdict[fkan['memory_ratio'] >= 10]}).")
    rows = [r for r in result["models"] if "error" not in r]
    if rows:
        sections.append("\n".join(
            ["| model | params | batch | precision | compile | step ms | samples/s | peak MB |",
             "|---|---:|---:|---|---|---:|---:|---:|"]
            + [f"| {r['model']} | {r['params']:,} | {r['samples']:,} | {r['precision']} | {r['compile']} | "
               f"{r['step_ms']:.1f} | {r['samples_per_s']:,.0f} | {r['peak_mb']:,.0f} |" for r in rows]))
    failed = [r.get("model") or r["reference"] for r in (*result["references"], *result["models"]) if "error" in r]
    if failed:
        sections.append(f"Failed (see the JSON): {', '.join(failed)}.")
    if result.get("memory_method"):
        sections.append(f"Peak memory: {result['memory_method']}.")
    return "\n\n".join(sections)


def print_tables(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))
    table = Table(title=f"training step on {result['env']['device']}, torch {result['env']['torch']}")
    for col in ("model", "params", "batch", "precision", "compile", "step ms", "steps/s", "samples/s", "peak MB"):
        table.add_column(col, justify="left" if col in ("model", "precision", "compile") else "right")
    for r in result["models"]:
        if "error" in r:
            table.add_row(r["model"], "", str(r["batch"]), r.get("precision", ""), r.get("compile", ""), f"[red]{r['error']}")
            continue
        table.add_row(r["model"], f"{r['params']:,}", str(r["batch"]), r["precision"], r["compile"],
                      f"{r['step_ms']:.2f}", f"{r['steps_per_s']:.1f}", f"{r['samples_per_s']:.3g}", f"{r['peak_mb']:.0f}")
    if result["models"]:
        console.print(table)
    refs = Table(title="ours vs the naive formulations (fp32, eager, same process; ratio = naive / ours)")
    for col in ("reference", "batch", "ours ms", "naive ms", "speedup", "ours MB", "naive MB", "memory ratio", "max |diff|", "pass"):
        refs.add_column(col, justify="left" if col == "reference" else "right")
    for r in result["references"]:
        if "error" in r:
            refs.add_row(r["reference"], "", f"[red]{r['error']}")
            continue
        refs.add_row(r["reference"], str(r["batch"]), f"{r['ours_ms']:.2f}", f"{r['naive_ms']:.2f}", f"{r['speedup']:.1f}x",
                     _fmt(r.get("ours_mb"), ".1f"), _fmt(r.get("naive_mb"), ".1f"),
                     "-" if "memory_ratio" not in r else f"{r['memory_ratio']:.1f}x", f"{r['max_abs_diff']:.1e}",
                     "-" if "pass" not in r else ("yes" if r["pass"] else "[red]no"))
    if result["references"]:
        console.print(refs)
    if result.get("memory_method"):
        console.print(f"peak memory: {result['memory_method']}")


def parse_batches(text: str) -> list[int | str]:
    out: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        if part == "full":
            out.append("full")
        elif part.isdigit() and 0 < int(part) <= FULL:
            out.append(int(part))
        else:
            raise typer.BadParameter(f"batch sizes are integers in 1..{FULL} or 'full', got '{part}'")
    return out


def main(
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu, cuda, cuda:N."),
    models_: str = typer.Option("", "--models", help="Comma-separated presets [default: all registered]."),
    batches: str = typer.Option("", help="Comma-separated batch sizes or 'full' [default: 16384,65536,262144,full; --quick: 4096]."),
    precision: str = typer.Option("fp32", help=f"Comma-separated, from {', '.join(PRECISIONS)}."),
    compile_: str = typer.Option("off", "--compile", help=f"Comma-separated torch.compile modes, from {', '.join(COMPILE_MODES)}."),
    quick: bool = typer.Option(False, help="CPU-friendly sizes and shorter timing."),
    references: bool = typer.Option(True, help="Time the naive reference formulations too."),
    seconds: float = typer.Option(0.0, help="Timing budget per row in seconds [default: 1.0; --quick: 0.3]."),
    json_: Path = typer.Option(None, "--json", help="Write the results here (rewritten after every row)."),
    record: str = typer.Option("", help="Record the results and their README tables as benchmarks/NAME.json."),
) -> None:
    """Training speed and peak memory of every model, with naive-formulation ratios (benchmarks.md #5)."""
    dev = resolve_device(device)
    names = [n.strip() for n in models_.split(",") if n.strip()] or models.names_for("image")
    for name in names:
        models.preset(name)  # unknown name: one clear error before any work
    if record:
        records.check_name(record)
    batch_list = parse_batches(batches or ("4096" if quick else "16384,65536,262144,full"))
    precisions = [check_choice("precision", p.strip(), PRECISIONS) for p in precision.split(",")]
    compiles = [check_choice("compile mode", c.strip(), COMPILE_MODES) for c in compile_.split(",")]
    budget_s = seconds or (0.3 if quick else 1.0)
    result: dict[str, Any] = {"env": environment(dev), "shape": list(SHAPE), "quick": quick, "models": [],
                              "references": [], "memory_method": None}

    def emit(row: dict[str, Any]) -> None:
        result["models" if "model" in row else "references"].append(row)
        result["memory_method"] = result["memory_method"] or row.get("memory_method")
        print(json.dumps(row), file=sys.stderr, flush=True)  # progress, and partial results if killed
        if json_ is not None:
            write_json(json_, result)

    if json_ is not None:
        json_.parent.mkdir(parents=True, exist_ok=True)
    if references:
        reference_rows(dev, quick, budget_s, emit)
    model_rows(names, batch_list, precisions, compiles, dev, budget_s, emit)
    if references and dev.type == "cuda":  # last: compiling takes a while (and minutes on a CPU)
        reference_rows(dev, quick, budget_s, emit, levers=True)
    print_tables(result)
    if record:
        path = records.record(record, result, markdown(result), device=dev, bench_dir=BENCH_DIR)
        print(f"recorded {path}; python scripts/sync_readme.py puts it into the README")


if __name__ == "__main__":
    from kan_inr import KanInrError

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(main)
    try:
        app()
    except KanInrError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        sys.exit(2)
