"""Audio as signals: WAV / FLAC / OGG / AIFF in (via libsndfile), the same encoding out, SNR as headline.

Values: floats in [-1, 1] as the file defines them: an n-bit PCM sample k reads as k / 2^(n-1),
float samples as stored. Channels are output dimensions (a stereo clip is a signal R -> R^2);
``channels="mono"`` averages them. Coordinates: one time axis on ``base.grid((T,))``, i.e. sample i of
T sits at -1 + 2 i / (T - 1) (first and last sample on the endpoints). Signals hold float32, so
PCM_32 and DOUBLE samples keep 24 significant bits (2^-24 relative; far below any INR's error).

Metrics (``metrics``): SNR = 10 log10(sum y^2 / sum (y - y_hat)^2) (headline), PSNR
with peak 1, and the log-spectral distance on an STFT, all on the waveform as produced (no clamping:
float files may exceed 1).

PCM goes through our own integer conversion (``_read`` / ``_write``): libsndfile's float path scales
by 2^(n-1) on reading but by 2^(n-1) - 1 on writing, which would shift every sample of a round trip.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np
import soundfile as sf
import torch

from kan_inr.errors import KanInrError
from kan_inr import limits, metrics
from kan_inr.atomic import atomic_write
from kan_inr.signals.base import Signal
from kan_inr.signals.plan import RenderPlan

EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")
VALUE_RANGE = (-1.0, 1.0)
RECONSTRUCTION_SUFFIX = ".wav"
HEADLINE = "snr"
PCM_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
# Integer arrays are PCM as a WAV file stores it: sample k of n bits reads as (k - zero) / 2^(n-1)
_PCM_ARRAYS = {np.dtype(np.int8): (0, 2.0**7), np.dtype(np.uint8): (128, 2.0**7),
               np.dtype(np.int16): (0, 2.0**15), np.dtype(np.int32): (0, 2.0**31)}
# A clip's time axis runs from its first sample (-1) to its last (+1): one sample spans no time, gives
# no axis to fit along (every coordinate would be 0) and no waveform to play or measure.
MIN_SAMPLES = 2
_CONTAINER = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF"}
_PLOT_COLUMNS = 400  # waveform columns (min/max each) and spectrogram frames drawn in TensorBoard figures


def _info(path: Path) -> Any:
    """soundfile's header info (rate, frames, channels, format, subtype), or one clear error."""
    return _decoding(path, lambda: sf.info(str(path)))


def _read(path: Path, subtype: str, start: int = 0, frames: int = -1) -> np.ndarray:
    """Frames ``start : start + frames`` of a file as float (T, C) in [-1, 1].

    PCM: read as left-aligned int32 and divided by 2^31, exact for every bit depth. FLOAT: float32 as
    stored. Anything else libsndfile decodes (DOUBLE, u-law, ADPCM, Vorbis ...): its float64 output.
    """
    if subtype in PCM_BITS:
        raw = _decoding(path, lambda: sf.read(str(path), start=start, frames=frames, dtype="int32", always_2d=True)[0])
        return raw.astype(np.float64) / 2.0**31  # (T, C)
    dtype = "float32" if subtype == "FLOAT" else "float64"
    return _decoding(path, lambda: sf.read(str(path), start=start, frames=frames, dtype=dtype, always_2d=True)[0])


def _decoding(path: Path, action: Callable[[], Any]) -> Any:
    """``action()`` (a soundfile call), with libsndfile's errors turned into one line."""
    try:
        return action()
    except (sf.LibsndfileError, RuntimeError) as exc:
        reason = str(exc).split(": ", 1)[-1].strip() or type(exc).__name__
        raise KanInrError(f"cannot read audio {path}: unsupported or corrupt encoding ({reason})") from None


def _write(f: IO[bytes], array: np.ndarray, rate: int, subtype: str, container: str) -> None:
    """Write float samples (T, C) with ``subtype``: PCM by our own rounding, k = round(x 2^(n-1))
    clipped to the n-bit range (the exact inverse of ``_read``); float subtypes as given."""
    if subtype in PCM_BITS:
        bits = PCM_BITS[subtype]
        k = np.clip(np.round(array.astype(np.float64) * 2.0 ** (bits - 1)), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        array = k.astype(np.int32) << (32 - bits)  # left-aligned: libsndfile keeps the top n bits exactly
    elif subtype == "FLOAT":
        array = array.astype(np.float32)
    sf.write(f, array, rate, subtype=subtype, format=container)


def load(path: str | os.PathLike, channels: str | None = None, start: float | None = None,
         duration: float | None = None) -> Signal:
    """Read an audio file, optionally one segment (``start`` / ``duration`` in seconds) and downmixed
    (``channels="mono"``). A segment running past the end stops at the end."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise KanInrError(f"{path}: empty file")
    if channels not in (None, "all", "mono"):
        raise KanInrError(f"--channels must be 'mono' or 'all', got '{channels}'")
    info = _info(path)
    rate, total = int(info.samplerate), int(info.frames)
    if total == 0:
        raise KanInrError(f"{path}: the file holds no audio samples")
    first = _frames(start or 0.0, rate, "--start")
    if first >= total:
        raise KanInrError(f"{path}: --start {start} s is past the end of the clip ({total / rate:.3f} s)")
    count = total - first if duration is None else min(_frames(duration, rate, "--duration"), total - first)
    if count < 1:
        raise KanInrError(f"{path}: --duration {duration} s selects no samples (zero-length segment at {rate} Hz)")
    _check_length(count, str(path))
    limits.check(f"{path}: samples to decode ({count:,} frames x {info.channels} channels)", count * int(info.channels),
                 limits.MAX_DECODED_SAMPLES)
    array = _read(path, info.subtype, first, count)  # (T, C)
    if not np.isfinite(array).all():
        raise KanInrError(f"{path}: audio contains NaN or infinite samples")
    if channels == "mono":
        array = array.mean(axis=1, keepdims=True)
    values = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))  # (T, C)
    subtype = info.subtype if sf.check_format("WAV", info.subtype) else "FLOAT"
    meta: dict[str, Any] = {"source": str(path), "sample_rate": rate, "subtype": subtype,
                            "source_subtype": info.subtype, "format": info.format,
                            "source_channels": int(info.channels), "downmix": channels == "mono",
                            "start_s": first / rate, "duration_s": count / rate}
    return Signal(values, (count,), "audio", VALUE_RANGE, meta)


def from_array(array: np.ndarray, sample_rate: int | None = None, channels: str | None = None,
               source: str = "array") -> Signal:
    """A clip (T,) or (T, C), T >= ``MIN_SAMPLES``, at ``sample_rate`` Hz as a Signal (written back as
    float WAV); ``channels="mono"`` averages the channels. Float samples are taken as given (in
    [-1, 1]); integer samples are PCM and scaled as a WAV reader does: int16 k / 32768, int32
    k / 2^31, int8 k / 128, uint8 (k - 128) / 128; other integer types (int64 ...) and bool are refused,
    their scale being unknown."""
    if sample_rate is None or not sample_rate >= 1:
        raise KanInrError(f"{source}: audio from an array needs sample_rate (samples per second), got {sample_rate}")
    array = np.asarray(array)
    if array.dtype in _PCM_ARRAYS:
        zero, scale = _PCM_ARRAYS[array.dtype]
        array = (array.astype(np.float64) - zero) / scale
    elif not np.issubdtype(array.dtype, np.floating):
        raise KanInrError(f"{source}: unsupported sample type {array.dtype} for audio (use float samples in [-1, 1] "
                          f"or int8, uint8, int16, int32 PCM)")
    array = array.astype(np.float32)
    array = array[:, None] if array.ndim == 1 else array
    if array.ndim != 2 or array.size == 0:
        raise KanInrError(f"{source}: expected audio samples (T,) or (T, C), got array of shape {array.shape}")
    _check_length(array.shape[0], source)
    if not np.isfinite(array).all():
        raise KanInrError(f"{source}: audio contains NaN or infinite samples")
    if channels not in (None, "all", "mono"):
        raise KanInrError(f"--channels must be 'mono' or 'all', got '{channels}'")
    source_channels = array.shape[1]
    if channels == "mono":
        array = array.mean(axis=1, keepdims=True)
    t = array.shape[0]
    meta: dict[str, Any] = {"source": source, "sample_rate": int(sample_rate), "subtype": "FLOAT",
                            "source_channels": source_channels, "downmix": channels == "mono",
                            "start_s": 0.0, "duration_s": t / sample_rate}
    return Signal(torch.from_numpy(np.ascontiguousarray(array)), (t,), "audio", VALUE_RANGE, meta)


def _check_length(frames: int, source: str) -> None:
    """A clip of fewer than ``MIN_SAMPLES`` frames cannot be fitted: one clear error when it is read."""
    if frames < MIN_SAMPLES:
        raise KanInrError(f"{source}: {frames} audio sample(s) is too short a clip to fit (at least {MIN_SAMPLES}: "
                          f"its time axis runs from the first sample to the last)")


def _frames(seconds: float, rate: int, option: str) -> int:
    if not (math.isfinite(seconds) and seconds >= 0):
        raise KanInrError(f"{option} must be a non-negative number of seconds, got {seconds}")
    return round(seconds * rate)


def save(values: torch.Tensor, shape: tuple[int, ...], meta: dict[str, Any], path: str | os.PathLike,
         subtype: str | None = None) -> Path:
    """Write values (T, C) as an audio file at ``meta["sample_rate"]``, atomically (``atomic.atomic_write``).
    Encoding: ``subtype`` if given (an error if the container cannot hold it), else the source's
    (``meta["subtype"]``) when the container holds it, else the container's default."""
    path = Path(path)
    container = _CONTAINER.get(path.suffix.lower())
    if container is None:
        raise KanInrError(f"cannot write {path}: choose one of {', '.join(EXTENSIONS)}")
    if subtype is not None:
        subtype = subtype.upper()
        if not sf.check_format(container, subtype):
            valid = ", ".join(sf.available_subtypes(container))
            raise KanInrError(f"cannot write {subtype} samples to a {path.suffix} file (valid: {valid})")
    else:
        subtype = meta.get("subtype", "FLOAT")
        if not sf.check_format(container, subtype):
            subtype = sf.default_subtype(container)
    array = values.detach().double().cpu().reshape(shape[0], -1).numpy()  # (T, C)
    try:
        atomic_write(path, lambda f: _write(f, array, int(meta["sample_rate"]), subtype, container))
    except RuntimeError as exc:  # libsndfile's errors
        raise KanInrError(f"cannot write {path}: {exc}") from None
    return path


def render_plan(signal: dict[str, Any], scale: float | None = None, size: tuple[int, ...] | None = None,
                rate: float | None = None, duration: float | None = None, subtype: str | None = None) -> RenderPlan:
    """Where to sample a fitted clip (a ``RenderPlan``): the INR is continuous in time.

    Output sample i sits at time i / R from the clip's start, i.e. at coordinate
    -1 + 2 (i / R) rate / (T - 1), so a render at R = 2 rate reproduces every source sample at its even
    positions. Length: round(T R / rate) samples (``duration`` D: round(D R)); the last one may sit up
    to one source sample past +1. ``scale`` s means R = s rate; ``size`` (N,) means N samples over
    the clip (R = N rate / T). The file's header rate is R rounded to whole hertz.
    """
    t, src_rate = int(signal["shape"][0]), float(signal["meta"]["sample_rate"])
    given = [name for name, v in (("--scale", scale), ("--size", size), ("--rate", rate)) if v is not None]
    if len(given) > 1:
        raise KanInrError(f"give one of {', '.join(given)}, not several")
    if size is not None:
        if len(size) != 1 or size[0] < 1:
            raise KanInrError(f"render size {size} does not fit a 1-d audio signal (give N samples)")
        rate = size[0] * src_rate / t
    elif scale is not None:
        rate = scale * src_rate
    rate = src_rate if rate is None else rate
    if not (math.isfinite(rate) and round(rate) >= 1):
        raise KanInrError(f"the render rate must be a positive number of samples per second, got {rate:g}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise KanInrError(f"--duration must be a positive number of seconds, got {duration}")
    if not math.isfinite(t * rate / src_rate):
        raise KanInrError(f"the render rate {rate:g} Hz gives more samples than can be counted")
    n_clip = round(t * rate / src_rate)
    n = n_clip if duration is None else round(min(duration * rate, n_clip + 1))  # a huge D: past the clip, not inf
    if n < 1:
        raise KanInrError(f"rendering {duration} s at {rate:g} Hz gives no samples")
    if n > n_clip:
        raise KanInrError(f"--duration {duration} s is longer than the fitted clip ({t / src_rate:.4g} s)")
    if subtype is not None:
        if subtype.upper() not in sf.available_subtypes():
            raise KanInrError(f"unknown --subtype '{subtype}' (e.g. {', '.join(sf.available_subtypes('WAV'))})")
    last = 0.0 if t == 1 else -1.0 + 2.0 * ((n - 1) / rate) * src_rate / (t - 1)  # coordinate of sample n-1
    meta = {**signal["meta"], "sample_rate": round(rate), "duration_s": n / rate}
    return RenderPlan((n,), meta, extent=((0.0 if t == 1 else -1.0, last),), save_options={"subtype": subtype})


def evaluate(pred: torch.Tensor, target: torch.Tensor, shape: tuple[int, ...]) -> dict[str, float]:
    """SNR, PSNR (peak 1) and LSD of a full-clip prediction (T, C) (``metrics``)."""
    return {"snr": metrics.snr(pred, target), "psnr": metrics.psnr(pred, target, peak=1.0),
            "lsd": metrics.lsd(pred, target)}


def log_tensorboard(writer: Any, pred: torch.Tensor, signal: Signal, step: int) -> None:
    """The reconstruction as playable audio (one track per channel) and a figure of waveforms and
    spectrograms: target, reconstruction, error (first channel)."""
    rate = int(signal.meta.get("sample_rate", 16000))
    pred = pred.detach().float().cpu()  # (T, C)
    for c in range(pred.shape[1]):
        tag = "eval/reconstruction" if pred.shape[1] == 1 else f"eval/reconstruction/channel{c}"
        writer.add_audio(tag, pred[:, c].clamp(-1.0, 1.0).unsqueeze(0), step, sample_rate=rate)
    writer.add_figure("eval/waveform_spectrogram", figure(signal.values[:, 0], pred[:, 0], rate), step)


def figure(target: torch.Tensor, pred: torch.Tensor, rate: int) -> Any:
    """Matplotlib figure: 3 rows (target, reconstruction, error) x (waveform envelope, log spectrogram)
    of two waveforms (T,). The waveform is drawn as a min/max envelope over at most ``_PLOT_COLUMNS``
    columns and the spectrogram from at most about as many frames, so its cost does not grow with the clip."""
    from matplotlib.figure import Figure  # a heavy library (1.6 s to import): loaded when a figure is drawn

    rows = {"target": target.double(), "reconstruction": pred.double(), "error": (pred - target).double()}
    fig = Figure(figsize=(10, 6), dpi=80)  # fixed margins: constrained layout costs 10x the drawing
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.08, top=0.97, wspace=0.18, hspace=0.12)
    axes = fig.subplots(3, 2, sharex="col")
    n_fft = max(16, min(512, 2 ** int(math.log2(max(target.numel(), 2)))))
    hop = max(n_fft // 4, target.numel() // _PLOT_COLUMNS)  # at most ~_PLOT_COLUMNS frames per image
    window = torch.hann_window(n_fft, dtype=torch.float64)
    floor = None
    for r, (name, wave) in enumerate(rows.items()):
        t, low, high = _envelope(wave, rate)
        axes[r, 0].fill_between(t, low, high, linewidth=0.5)
        axes[r, 0].set_ylabel(name)
        spec = torch.stft(wave, n_fft, hop, window=window, return_complex=True, pad_mode="constant")
        db = 10 * torch.log10(spec.abs() ** 2 + 1e-10)  # (bins, frames)
        floor = db.max().item() - 100 if floor is None else floor  # one colour scale: the target's
        duration = wave.numel() / rate
        axes[r, 1].imshow(db.numpy(), origin="lower", aspect="auto", vmin=floor, vmax=floor + 100,
                          extent=(0, duration, 0, rate / 2000), interpolation="nearest")
        axes[r, 1].set_ylabel("kHz")
    axes[2, 0].set_xlabel("s")
    axes[2, 1].set_xlabel("s")
    return fig


def _envelope(wave: torch.Tensor, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, minima and maxima of a waveform (T,) over at most ``_PLOT_COLUMNS`` equal columns."""
    cols = min(_PLOT_COLUMNS, wave.numel())
    per = wave.numel() // cols
    blocks = wave[: cols * per].reshape(cols, per)  # (cols, per)
    t = (torch.arange(cols) * per + per / 2) / rate
    return t.numpy(), blocks.min(dim=1).values.numpy(), blocks.max(dim=1).values.numpy()
