"""Command line: parses, validates and delegates. With cli_options (its shared options), the only module that
imports typer.

Each command imports the torch-heavy modules it needs inside its function, so `kan-inr --help` and a
mistyped option answer at once. Every user error ends as one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from kan_inr import limits
from kan_inr.config import FULL_BATCH, TrainConfig
from kan_inr.options import train_options
from kan_inr.options import fields_from
from kan_inr.cli_options import (TUNE_OPTIONS, AllowCode, AsJson, Channels, Device, Duration, ModelName, NoLimits,
                                  Outputs, Quiet, Resize, Start, Steps, fit_options, with_options)
from kan_inr.errors import KanInrError


# Click's exception base: typer >= 0.25 vendors click, older typer re-exports it; BadParameter has it in both.
# Any: a class found at run time (mypy sees neither); it has format_message() and exit_code.
ClickException: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Fit implicit neural representations (Fourier-KAN, SL2A, SIREN, ...) to images and audio.")


def checked_options(given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model fields, training options by their user names, as the API takes them) from the ``FIT_OPTIONS``
    given and the ``--config`` file."""
    options = {k: v for k, v in given.items() if k not in ("set_", "config")}
    return train_options(given["config"], given["set_"], **options)


@app.command()
@fit_options
def fit(
    given: dict[str, Any],
    signal: Optional[Path] = typer.Argument(None, help="Image or audio file to fit (with --resume: only if moved)."),
    model: ModelName = "fkan",
    resume: Optional[Path] = typer.Option(None, "--resume",
                                          help="Continue an interrupted run folder with its own options."),
    checkpoint_every: Optional[int] = typer.Option(None, help="Checkpoint every N steps [default: by time only]."),
    checkpoint_minutes: float = typer.Option(10.0, help="Checkpoint at least every M minutes."),
    resize: Resize = None,
    channels: Channels = None,
    start: Start = None,
    duration: Duration = None,
    outputs: Outputs = Path("outputs"),
    name: Optional[str] = typer.Option(None, help="Run folder name [default: <file stem>-<model>]."),
    overwrite: bool = typer.Option(False, help="Replace an existing run folder of the same name."),
    quiet: Quiet = False,
    distributed: bool = typer.Option(False, "--distributed", help="Data-parallel (DDP) over the processes of "
                                     "`torchrun ... -m kan_inr.cli fit`: --batch coordinates per process per step."),
    json_: AsJson = False,
    allow_code: AllowCode = False,
    no_limits: NoLimits = False,
) -> None:
    """Fit a model to a signal file and write a run folder (config, weights, metrics, reconstruction, tb/).
    --model takes a preset or your own model, FILE.py:Class or package.module:Class.
    Ctrl-C or SIGTERM stops after the current step with a checkpoint; --resume continues exactly."""
    import kan_inr  # here, not at the top: start-up time (torch)

    if resume is not None:
        # None = not given; an empty --set list is not given either (0 and False are values)
        fixed = {**{k.rstrip("_"): (v or None) if k == "set_" else v for k, v in given.items() if k != "device"},
                 "resize": resize, "channels": channels, "start": start, "duration": duration, "name": name,
                 "overwrite": overwrite or None}
        if any(v is not None for v in fixed.values()):
            named = ", ".join(f"--{k.replace('_', '-')}" for k, v in fixed.items() if v is not None)
            raise KanInrError(f"--resume continues a run with the options it was started with: drop {named}")
        with limits.lifted(no_limits):
            run = kan_inr.resume(resume, signal, device=given["device"], progress=not quiet, allow_code=allow_code,
                                 distributed=distributed, checkpoint_every=checkpoint_every,
                                 checkpoint_minutes=checkpoint_minutes)
    elif signal is None:
        raise KanInrError("give a signal file to fit, or --resume RUN_FOLDER")
    else:
        if allow_code:
            raise KanInrError("--allow-code is for --resume: a model you name with --model FILE.py:Class is "
                              "imported anyway")
        with limits.lifted(no_limits):  # the box cap is checked where the options are validated
            model_fields, options = checked_options(given)
            run = kan_inr.fit(signal, model, model_config=model_fields, resize=resize, channels=channels,
                              start=start, duration=duration, outputs=outputs, name=name, overwrite=overwrite,
                              progress=not quiet, distributed=distributed, checkpoint_every=checkpoint_every,
                              checkpoint_minutes=checkpoint_minutes, **options)
    if run is None:
        return  # a DDP rank other than 0: rank 0 writes the run and reports
    if run.status != "complete":
        print(f"kan-inr: interrupted after step {run.metrics.get('step')} (checkpoint saved); resume with: "
              f"kan-inr fit --resume {run.run_dir}{' --distributed' if distributed else ''}", file=sys.stderr)
        sys.exit(run.exit_code or 130)
    m = run.metrics
    if json_:
        typer.echo(json.dumps({"run_dir": str(run.run_dir), **m}, indent=2))
    else:
        shown = "  ".join(f"{k[6:]} {v:.4f}" for k, v in m.items() if k.startswith("final_"))
        typer.echo(f"{run.run_dir}: {shown}  ({m['params']:,} params, {m['steps']} steps, {m['train_s']:.1f} s, "
                   f"{m['device']})")


@app.command("fit-many")
@fit_options
def fit_many(
    given: dict[str, Any],
    sources: list[str] = typer.Argument(..., help="Folders, globs (quoted) or files of signals to fit."),
    model: ModelName = "fkan",
    resize: Resize = None,
    outputs: Outputs = Path("outputs"),
    name: Optional[str] = typer.Option(None, help="Folder of the runs and summary [default: <folder>-<model>]."),
    batched: Optional[bool] = typer.Option(None, "--batched/--sequential", help="Fit signals of equal shape "
                                           "together as a batch of independent networks (same result), or one "
                                           "after another [default: batched on CUDA, sequential on a CPU]."),
    group: int = typer.Option(64, help="At most this many networks fitted together."),
    checkpoint_every: Optional[int] = typer.Option(None, help="Checkpoint every run every N steps [default: by time "
                                                   "only]."),
    checkpoint_minutes: float = typer.Option(10.0, help="Checkpoint at least every M minutes."),
    quiet: Quiet = False,
    no_limits: NoLimits = False,
) -> None:
    """Fit every signal of folders or globs: a run folder each, summary.csv / summary.md (mean +- std).
    A re-run skips completed runs; under torchrun the signals are shared out over the processes."""
    from kan_inr.checkpoint import CheckpointPolicy  # here, not at the top: start-up time (torch)
    from kan_inr.logging import RunLog
    from kan_inr.many import fit_many as run_many

    model_fields, options = checked_options(given)
    with limits.lifted(no_limits):
        result = run_many(sources, model, outputs=outputs, name=name, batched=batched, group=group,
                          model_overrides=model_fields, load_options={"resize_to": resize},
                          log=RunLog(None, console=not quiet),
                          policy=CheckpointPolicy(checkpoint_every, checkpoint_minutes),
                          **fields_from(TrainConfig, options, "fit-many"))
    if result.summary is not None:
        typer.echo(f"{result.summary.with_suffix('.md')}: {len(result.fitted)} fitted by this process, "
                   f"{len(result.skipped)} already complete, {len(result.missing)} missing")
    if result.failed:
        raise KanInrError(f"{len(result.failed)} signal(s) could not be fitted: "
                          + "; ".join(f"{path}: {why}" for path, why in result.failed.items())[:2000])
    if result.summary is not None and result.missing:
        raise KanInrError(f"{len(result.missing)} signal(s) not fitted ({', '.join(result.missing)}): re-run to "
                          f"complete them")


def parse_size(text: Optional[str], scale: Optional[float]) -> Optional[tuple[int, ...]]:
    """'WxH' -> (H, W) (grid order is rows first); 'N' -> (N,) for 1-D signals; an error beside ``scale``."""
    if scale is not None and text is not None:
        raise KanInrError("give --scale or --size, not both")
    if text is None:
        return None
    try:
        parts = tuple(int(p) for p in text.lower().split("x"))
    except ValueError:
        raise KanInrError(f"--size expects WxH (e.g. 1024x768), got '{text}'") from None
    return parts[::-1]


@app.command()
def render(
    run: Path = typer.Argument(..., help="Run folder written by `kan-inr fit`."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file [default: inside the run folder]."),
    scale: Optional[float] = typer.Option(None, help="Render at this multiple of the source size."),
    size: Optional[str] = typer.Option(None, help="Render at WxH pixels (audio: N samples)."),
    rate: Optional[float] = typer.Option(None, help="Audio: samples per second [default: the source's]."),
    duration: Optional[float] = typer.Option(None, help="Audio: render the first D seconds."),
    subtype: Optional[str] = typer.Option(None, help="Audio: sample encoding, e.g. PCM_16, PCM_24, FLOAT [default: "
                                          "the source's]."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N."),
    allow_code: AllowCode = False,
    prefilter: bool = typer.Option(True, "--prefilter/--no-prefilter", help="Below the fitted size: average the "
                                   "first KAN layer over each output pixel instead of aliasing [default: on]."),
    no_limits: NoLimits = False,
) -> None:
    """Render a fitted INR at the source size or any other resolution."""
    import kan_inr  # here, not at the top: start-up time (torch)

    with limits.lifted(no_limits):
        typer.echo(str(kan_inr.export(run, out, scale=scale, size=parse_size(size, scale), device=device,
                                      allow_code=allow_code, prefilter=prefilter, rate=rate, duration=duration,
                                      subtype=subtype)))


@app.command()
def inspect(
    run: Path = typer.Argument(..., help="Run folder of a KAN model (fkan, sl2a, cheby-kan, bspline-kan)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write [default: RUN/inspect.png]."),
) -> None:
    """Plot the first KAN layer: its learned 1-D functions and its energy per frequency / degree
    against the grid's Nyquist limit (PNG + TensorBoard figure)."""
    from kan_inr.inspection import inspect_run  # here, not at the top: start-up time (torch)

    typer.echo(str(inspect_run(run, out)))


@app.command("models")
def list_models(
    for_: Optional[Path] = typer.Option(None, "--for", help="Count parameters for this signal file."),
    json_: AsJson = False,
) -> None:
    """Table of model presets: family, paper, parameters of the default network and of the paper's
    (`fit --recipe paper` builds it), and the default recipe (lr, batch, length in epochs, pixel model)
    (plug-in presets included)."""
    from rich.console import Console  # here, not at the top: start-up time
    from rich.table import Table
    import kan_inr
    from kan_inr.plugins import label

    rows = kan_inr.presets(for_)
    if json_:
        typer.echo(json.dumps(rows, indent=2))
        return
    first = rows[0]
    shape = "x".join(map(str, first["shape"]))
    channels = f"{first['channels']} channel" + ("s" if first["channels"] != 1 else "")
    table = Table(title=f"model presets for {first['kind']} of shape {shape}, {channels}")
    numeric = ("params", "paper params", "lr", "batch", "length", "pixels")
    for col in ("name", "family", "paper", *numeric):
        # a preset name is never cut or wrapped (scripts grep it); the paper column wraps instead
        table.add_column(col, justify="right" if col in numeric else "left",
                         no_wrap=col != "paper", min_width=max(len(r["name"]) for r in rows) if col == "name" else None)
    for r in rows:
        # a preset for other kinds only (neaf: audio) is counted for its own kind's default signal
        other = "" if r["kind"] == first["kind"] else f" ({r['kind']})"
        table.add_row(r["name"], label(r["family"]), r["paper"], f"{r['params']:,}{other}",
                      f"{r['paper_params']:,}{other}", f"{r['lr']:g}",
                      "full" if r["batch"] == FULL_BATCH else f"{r['batch']:,}", r["length"],
                      f"box {r['box']}x{r['box']}" if r["box"] else "point")
    others = {r["kind"]: r for r in rows if r["kind"] != first["kind"]}
    table.caption = "; ".join(f"({k}): for {k} signals only, counted for shape {'x'.join(map(str, r['shape']))} "
                              f"with {r['channels']} channels" for k, r in others.items())
    # a pipe gets the table at its natural width, one line per preset; a terminal gets its own width
    Console(width=None if sys.stdout.isatty() else 10_000).print(table)


@app.command()
def compare(
    signals: list[Path] = typer.Argument(None, help="Signal files (default: the protocol's)."),
    models: Optional[str] = typer.Option(None, help="Comma-separated presets, e.g. fkan,sl2a,siren (default: the "
                                         "protocol's, else all)."),
    steps: Optional[int] = typer.Option(None, help="Every model trains this many steps (same batch)."),
    seconds: Optional[float] = typer.Option(None, help="Every model trains this many seconds, as fit --seconds "
                                            "(same batch)."),
    recipe: Optional[str] = typer.Option(None, help="default or paper, as for fit: every model under its own "
                                         "recipe of that family (the protocol's where it has one); with "
                                         "--seconds, cut at S seconds."),
    batch: Optional[int] = typer.Option(None, help="Shared batch of a steps/seconds budget; 0 = full (default 4096)."),
    protocol: Optional[str] = typer.Option(None, help="A named benchmark: div2k-sl2a, div2k-16, fkan-recipe, bach, "
                                           "superres, bach-superres, speech-superres, ttq, ttq-bach or ttq-speech "
                                           "(its signals: --data; the speech ones ship with kan-inr)."),
    data: Optional[Path] = typer.Option(None, help="Folder holding the protocol's signals (div2k/00.png ..., "
                                        "audio/bach.wav); default: $KAN_INR_DATA (speech protocols: kan-inr's "
                                        "data/)."),
    resize: Optional[int] = typer.Option(None, help="Images: shrink so the longest side is N pixels."),
    downsample: Optional[int] = typer.Option(None, help="Super-resolution: fit each signal reduced by F (area / "
                                             "decimation), render it at its size, score it beside bicubic / Lanczos "
                                             "(audio: linear, sinc)."),
    seed: int = typer.Option(0, help="Random seed, the same for every run."),
    device: Device = None,
    eval_every: Optional[int] = typer.Option(None, help="Steps between evaluations (default: 20 per run)."),
    name: Optional[str] = typer.Option(None, help="Writes outputs/compare-<name>/ (default: protocol or budget)."),
    outputs: Path = typer.Option(Path("outputs"), "--outputs", help="Folder that holds the comparison."),
    quiet: Quiet = False,
    json_: AsJson = False,
    allow_code: AllowCode = False,
    budget_steps: Optional[int] = typer.Option(None, hidden=True, help="Deprecated: --steps."),
    budget_seconds: Optional[float] = typer.Option(None, hidden=True, help="Deprecated: --seconds."),
) -> None:
    """Fit several models to the same signals (same seed, same evaluation); write a table and figures.
    --models may name your own, FILE.py:Class. Re-running skips finished runs."""
    import kan_inr  # here, not at the top: start-up time (torch)
    from kan_inr.comparison import make_budget

    steps = renamed("--budget-steps", budget_steps, "--steps", steps)
    seconds = renamed("--budget-seconds", budget_seconds, "--seconds", seconds)
    budget = make_budget(steps, seconds, recipe, batch, protocol)
    if eval_every is not None and eval_every < 1:
        raise KanInrError(f"--eval-every must be at least 1, got {eval_every}")
    if downsample is not None and downsample < 2:
        raise KanInrError(f"--downsample must be a whole factor of at least 2, got {downsample}")
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    result = kan_inr.compare(signals or [], names, budget, protocol=protocol, data=data, resize=resize, seed=seed,
                             device=device, eval_every=eval_every, name=name, outputs=outputs, progress=not quiet,
                             command=" ".join(["kan-inr", *sys.argv[1:]]), allow_code=allow_code,
                             downsample=downsample)
    typer.echo(json.dumps({"out_dir": str(result.out_dir), "rows": result.rows, "fitted": result.fitted,
                           "skipped": result.skipped}, indent=2) if json_ else result.markdown)


@app.command()
@with_options(TUNE_OPTIONS)
def tune(
    given: dict[str, Any],
    signals: list[Path] = typer.Argument(..., help="Signal files; the objective is the mean over them."),
    model: ModelName = "fkan",
    outputs: Outputs = Path("outputs"),
    resize: Resize = None,
    channels: Channels = None,
    start: Start = None,
    duration: Duration = None,
    quiet: Quiet = False,
) -> None:
    """Tune a model's settings on your signals (Optuna): best.toml for fit --config, trials.csv, figures.
    Processes sharing one --storage share the trials; Ctrl-C loses at most the running trial."""
    import kan_inr  # here, not at the top: start-up time (torch)

    typer.echo(kan_inr.tune(signals, model, outputs=outputs, resize=resize, channels=channels, start=start,
                            duration=duration, progress=not quiet, **given).summary())


@app.command()
def compress(
    image: Path = typer.Argument(..., help="Image to compress."),
    bpp: float = typer.Option(..., help="Bit budget in bits per pixel (the network is sized to it)."),
    model: ModelName = "sl2a",
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The .kinr file [default: IMAGE's name, .kinr]."),
    resize: Resize = None,
    steps: Steps = None,
    seed: int = typer.Option(0, help="Random seed (same seed, same file on CPU)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N."),
    logdir: Optional[Path] = typer.Option(None, help="TensorBoard folder [default: outputs/compress/<file stem>]."),
    quiet: Quiet = False,
) -> None:
    """Store an image as a small INR's quantised, entropy-coded weights at a bit budget."""
    from kan_inr.codec.jobs import compress as run  # here, not at the top: start-up time (torch)

    out = out or image.with_suffix(".kinr")
    r = run(image, bpp, model, out, resize=resize, seed=seed, device=device, steps=steps,
            tb_dir=logdir or Path("outputs") / "compress" / out.stem, console=not quiet)
    typer.echo(f"{r.path}: {r.bytes:,} bytes, {r.bpp:.4f} bpp, PSNR {r.psnr:.4f} dB, SSIM {r.ssim:.4f} "
               f"({r.model}, {r.params:,} params, {r.train_s:.1f} s)")


@app.command()
def decompress(
    file: Path = typer.Argument(..., help="A .kinr file written by `kan-inr compress`."),
    out: Path = typer.Option(..., "--out", "-o", help="Image file to write (.png keeps 16-bit sources)."),
    scale: Optional[float] = typer.Option(None, help="Render at this multiple of the stored size."),
    size: Optional[str] = typer.Option(None, help="Render at WxH pixels."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N."),
    no_limits: NoLimits = False,
) -> None:
    """Render a .kinr file at its own size or any other."""
    from kan_inr.codec.jobs import decompress as run  # here, not at the top: start-up time (torch)

    with limits.lifted(no_limits):
        typer.echo(str(run(file, out, scale=scale, size=parse_size(size, scale), device=device)))


def renamed(old: str, old_value: Any, new: str, value: Any) -> Any:
    """The value of option ``new`` given under its deprecated name ``old`` (a note on stderr says so) or
    its own; both given is an error."""
    if old_value is None:
        return value
    if value is not None:
        raise KanInrError(f"give {new} once ({old} is its old name)")
    print(f"kan-inr: note: {old} is deprecated, say {new}", file=sys.stderr)
    return old_value


def error_line(error: object) -> str:
    """One stderr line for a user error, whatever the message holds (a --set value with a newline ...)."""
    return "kan-inr: error: " + " ".join(str(error).split())


def main() -> None:
    """Console entry point: runs the app and turns user errors into one line and exit status 2."""
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:  # typer returns exit codes here, e.g. 130 for a Ctrl-C it caught
            if code == 130:
                print("kan-inr: interrupted", file=sys.stderr)
            sys.exit(code)
    except KanInrError as exc:
        print(error_line(exc), file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("kan-inr: interrupted", file=sys.stderr)
        sys.exit(130)
    except ClickException as exc:
        print(error_line(exc.format_message()), file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
