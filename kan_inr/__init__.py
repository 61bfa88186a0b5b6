"""kan-inr: implicit neural representations with Kolmogorov-Arnold networks.

Data flows one way: file -> Signal -> model -> fit -> run folder -> render / compare.
"""

__version__ = "0.1.0"


class KanInrError(Exception):
    """A problem with the user's input (file, option, run folder): shown as one line, no traceback."""
