"""errors.py: a user error is one line whatever it quotes; out-of-memory failures are recognised."""

import pickle

from kan_inr.errors import KanInrError, is_out_of_memory


def test_a_user_error_is_one_line_whatever_it_quotes():
    exc = KanInrError("file: unknown model family '\n'\r\tfrom  its header")
    assert str(exc) == "file: unknown model family ' ' from its header"
    assert str(pickle.loads(pickle.dumps(exc))) == str(exc)  # as it crosses processes (torchrun)


def test_out_of_memory_is_recognised():
    assert is_out_of_memory(MemoryError()) and is_out_of_memory(RuntimeError("CUDA out of memory. Tried ..."))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
