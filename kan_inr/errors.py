"""The user-error type, at the bottom of the house: every layer raises it without importing the
public facade (``kan_inr/__init__``), and the CLI turns it into one stderr line and exit status 2."""

from __future__ import annotations


class KanInrError(Exception):
    """A problem with the user's input (file, option, run folder): shown as one line, no traceback. The
    message is made one line here, whatever it quotes (a field name from a file may hold a newline)."""

    def __init__(self, message: object = "") -> None:
        super().__init__(" ".join(str(message).split()))


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception is an allocator's failure: ``MemoryError``, the CPU allocator's
    "can't allocate memory" or CUDA's "out of memory" (``torch.cuda.OutOfMemoryError`` is a
    RuntimeError whose message says so): what becomes one line of advice instead of a traceback."""
    text = str(exc)
    return isinstance(exc, MemoryError) or "can't allocate memory" in text or "out of memory" in text.lower()


def first_line(exc: BaseException | str, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name when it has none), at most ``limit``
    characters: how a library's error is quoted inside one of ours."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
