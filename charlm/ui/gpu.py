"""ZeroGPU: mark the functions that do GPU work with ``@spaces.GPU`` on a ZeroGPU Space; a no-op elsewhere.

A ZeroGPU Space (Hugging Face's free GPU hardware) attaches a GPU only while a function decorated with
``spaces.GPU`` runs. The ``spaces`` package is imported only there (``SPACES_ZERO_GPU`` is set by the platform),
and before torch touches CUDA, which is why ``app.py`` imports this module first. On a CPU Space, a GPU machine
or a laptop nothing changes: the decorator returns the function itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)
ON_ZEROGPU = bool(os.environ.get("SPACES_ZERO_GPU"))

if ON_ZEROGPU:  # pragma: no cover - only on a ZeroGPU Space
    import spaces


def gpu_task(duration: int = 60) -> Callable[[F], F]:
    """``@spaces.GPU(duration=...)`` on ZeroGPU (the GPU is held at most ``duration`` seconds per call), else the
    function unchanged."""
    if not ON_ZEROGPU:
        return lambda fn: fn
    return spaces.GPU(duration=duration)  # pragma: no cover
