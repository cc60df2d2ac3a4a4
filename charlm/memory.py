"""Giving memory back to the operating system after a big request, so a long-running server stays small.

CPython and torch free tensors promptly, but glibc's malloc keeps the freed pages in its arenas (one per thread
that allocated, and a web server has dozens of threads), so a process that once peaked at 4 GB can hold 4 GB
forever. ``limit_arenas`` caps the number of arenas at start-up; ``release`` runs the garbage collector and asks
malloc to return free pages (``malloc_trim``). Both are no-ops where glibc is absent (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

_M_ARENA_MAX = -8  # glibc's mallopt parameter number for M_ARENA_MAX


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def limit_arenas(n: int = 2) -> bool:
    """Cap malloc arenas (call early, before worker threads start); True if glibc took it."""
    return bool(_LIBC is not None and _LIBC.mallopt(_M_ARENA_MAX, n))


def release() -> None:
    """Collect garbage and return free heap pages to the OS."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
