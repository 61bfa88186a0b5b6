"""kan-inr: implicit neural representations with Kolmogorov-Arnold networks.

Data flows one way: file -> Signal -> model -> fit -> run folder -> render / compare. The modules are
layered, bottom to top; a module imports only from its own layer or the layers below it, and the
imports form no cycle (tests/test_imports.py reads every module's imports, function-level ones
included, and checks both against this list):

    1. atomic, checkpoint, config, device, metrics, results  (files, training state, options, devices, numbers)
    2. signals  (file <-> Signal, render plans)
    3. models, plots  (networks; figures)
    4. logging, render  (progress and TensorBoard; model x grid -> values)
    5. step, fit, batched, distributed  (one training loop, its injected steps)
    6. runs  (run folders: layout, loading, locking, writing)
    7. jobs  (file -> finished run folder -> render)
    8. compare, many  (several fits and their reports)
    9. cli  (the command line)
"""

__version__ = "0.1.0"


class KanInrError(Exception):
    """A problem with the user's input (file, option, run folder): shown as one line, no traceback."""
