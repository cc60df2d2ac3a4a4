"""Giving memory back (charlm.memory): works with glibc, and is a harmless no-op without it."""

import gc
import weakref

from charlm import memory


def test_release_collects_garbage_and_trims_the_heap():
    class Cycle:
        pass

    a, b = Cycle(), Cycle()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    gc.disable()  # only release() may collect the cycle
    try:
        del a, b
        assert gone() is not None
        memory.release()
        assert gone() is None
    finally:
        gc.enable()


def test_limit_arenas_reports_whether_glibc_took_it(monkeypatch):
    assert memory.limit_arenas(2) is (memory._LIBC is not None)
    monkeypatch.setattr(memory, "_LIBC", None)  # macOS, Windows, musl
    assert memory.limit_arenas(2) is False
    memory.release()  # still collects, without trimming
