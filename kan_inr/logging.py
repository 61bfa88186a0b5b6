"""Where a fit reports progress: a rich progress bar on the console and TensorBoard in the run folder.

The library never prints; ``fit`` receives a log object. ``NullLog`` is silent (tests, notebooks);
``RunLog`` draws the progress bar and writes TensorBoard scalars and reconstructions.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from kan_inr import signals

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


PROGRESS_UNITS = 1000  # the bar's resolution: it counts thousandths of the fit (steps or time budget)


class NullLog:
    """Receives everything, shows nothing."""

    def start(self, total_steps: int, description: str, seconds: float | None = None) -> None: ...

    def train(self, step: int, loss: float, lr: float, samples_per_s: float) -> None: ...

    def evaluation(self, step: int, metrics: dict[str, float], pred: torch.Tensor, signal: Any) -> None: ...

    def message(self, text: str) -> None: ...

    def precision(self, step: int, running: str, why: str) -> None: ...

    def close(self) -> None: ...


class RunLog(NullLog):
    """Rich progress bar (step, loss, headline metric, speed, ETA) + TensorBoard under ``tb_dir``."""

    def __init__(self, tb_dir: Path | None = None, console: bool = True) -> None:
        self.console = Console(stderr=True, quiet=not console)
        self.tb_dir = tb_dir
        self.writer: SummaryWriter | None = None
        self.progress: Progress | None = None
        self.task = TaskID(-1)  # the progress bar's task, added with it by start

    def start(self, total_steps: int, description: str, seconds: float | None = None) -> None:
        """``seconds``: a wall-clock budget; the bar (and its ETA) then follows whichever of steps and
        time is further along, as the lr schedule does (``training.lr_at``)."""
        if self.tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # a heavy library (seconds): only when logging to a folder

            self.writer = SummaryWriter(str(self.tb_dir))
        self.total, self.seconds, self.began = total_steps, seconds, time.perf_counter()
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("step {task.fields[step]}"),
            TextColumn("loss {task.fields[loss]}  {task.fields[metric]}  {task.fields[speed]}"),
            TimeRemainingColumn(), console=self.console, transient=False,
            disable=self.console.quiet or not sys.stderr.isatty())
        self.progress.start()
        self.task = self.progress.add_task(description, total=PROGRESS_UNITS, loss="-", metric="", speed="", step=0)

    def fraction(self, step: int) -> float:
        """How far along the fit is: steps done, or the time budget spent, whichever is further."""
        done = step / max(self.total, 1)
        if self.seconds:
            done = max(done, (time.perf_counter() - self.began) / self.seconds)
        return min(done, 1.0)

    def train(self, step: int, loss: float, lr: float, samples_per_s: float) -> None:
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, step)
            self.writer.add_scalar("lr", lr, step)
            self.writer.add_scalar("train/samples_per_s", samples_per_s, step)
        if self.progress is not None:
            self.progress.update(self.task, completed=PROGRESS_UNITS * self.fraction(step), step=f"{step:,}",
                                 loss=f"{loss:.3g}", speed=f"{samples_per_s / 1e6:.2f}M samples/s")

    def evaluation(self, step: int, metrics: dict[str, float], pred: torch.Tensor, signal: Any) -> None:
        kind = signals.module(signal.kind)
        if self.writer is not None:
            for name, value in metrics.items():
                self.writer.add_scalar(f"eval/{name}", value, step)
            kind.log_tensorboard(self.writer, pred, signal, step)
            self.writer.flush()
        headline = f"{kind.HEADLINE} {metrics[kind.HEADLINE]:.2f} dB"
        if self.progress is not None and self.progress.disable is False:
            self.progress.update(self.task, metric=headline)
        else:  # no live bar (a pipe, a log file): one line per evaluation, with the time left
            done = self.fraction(step)
            spent = time.perf_counter() - self.began
            eta = f"  (ETA {spent * (1 - done) / done:.0f} s)" if 0 < done < 1 else ""
            self.console.print(f"step {step}: " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()) + eta)

    def message(self, text: str) -> None:
        self.console.print(text)

    def precision(self, step: int, running: str, why: str) -> None:
        """The precision the steps after ``step`` run (at the start, and where auto switches): the
        scalar ``train/bf16`` (1 bf16, 0 otherwise) and the reason as TensorBoard text, and a line."""
        if self.writer is not None:
            self.writer.add_scalar("train/bf16", float(running == "bf16"), step)
            self.writer.add_text("precision", f"{running}: {why}", step)
        if step:
            self.message(f"step {step:,}: precision {running}: {why}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.writer is not None:
            self.writer.close()


def write_scalars(tb_dir: Path, scalars: dict[str, float], step: int) -> None:
    """Write a few scalars to TensorBoard under ``tb_dir`` once (a result, not a training curve)."""
    from torch.utils.tensorboard import SummaryWriter  # optional heavy library, loaded only when scalars are logged

    writer = SummaryWriter(str(tb_dir))
    for name, value in scalars.items():
        writer.add_scalar(name, value, step)
    writer.close()
