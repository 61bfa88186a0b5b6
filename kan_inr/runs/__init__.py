"""Run folders (this package: ``layout`` file names, ``load`` reading, ``lock`` one writer at a time,
``writer`` creating and updating): self-contained, relocatable results of one fit.

    <run_dir>/config.json     plain data: format version, model name/family/config, train config, signal
    <run_dir>/weights.pt      state_dict of the raw module (the latest: initial, checkpointed, then final)
    <run_dir>/metrics.json    status ("running", "interrupted", "complete"), step; when complete the final
                              and best metrics, params, steps, wall time, device, samples/s
    <run_dir>/checkpoint.pt   full training state of the last checkpoint (``checkpoint.capture``) until complete
    <run_dir>/history.json    one row per evaluation (step, time, loss, metrics)
    <run_dir>/reconstruction.<ext>, <run_dir>/tb/  TensorBoard logs, <run_dir>/.lock  held by the writer

A run folder is valid at every moment, even after a SIGKILL: it appears complete-at-step-0 by renaming
a staged folder into place, and every later file is replaced atomically (temporary file, fsync,
rename), so ``render`` (latest weights) and ``kan-inr fit --resume`` accept it. One process writes a
run at a time (``lock``). Every .pt file loads with ``weights_only=True``: a file from someone else
cannot run code. Nothing stores absolute paths the run depends on: ``render`` needs the folder alone.
"""

from kan_inr.config import FORMAT_VERSION
from kan_inr.runs.layout import (CHECKPOINT, COMPLETE, CONFIG, HISTORY, INTERRUPTED, LOCK, METRICS, RUNNING,
                                 WEIGHTS)
from kan_inr.runs.load import (Run, build_model, load_checkpoint, load_config, load_run, read_status,
                               signal_digest)
from kan_inr.runs.lock import lock, unlock
from kan_inr.runs.writer import RunWriter

__all__ = ["CHECKPOINT", "COMPLETE", "CONFIG", "FORMAT_VERSION", "HISTORY", "INTERRUPTED", "LOCK", "METRICS",
           "RUNNING", "Run", "RunWriter", "WEIGHTS", "build_model", "load_checkpoint", "load_config", "load_run",
           "lock", "read_status", "signal_digest", "unlock"]
