"""The files of a run folder and the statuses its metrics.json can hold (see ``kan_inr.runs``)."""

CONFIG, WEIGHTS, METRICS, HISTORY = "config.json", "weights.pt", "metrics.json", "history.json"
CHECKPOINT, LOCK = "checkpoint.pt", ".lock"
RUNNING, INTERRUPTED, COMPLETE = "running", "interrupted", "complete"
