"""Pick the device: CUDA when present, else CPU. One place, so the CLI, app and benchmarks agree."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

import torch


def pick_device(requested: str | None = "auto") -> torch.device:
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but no CUDA device is available")
    return torch.device(requested)


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matmuls run natively (elsewhere they are emulated and slower)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_precision(requested: str, device: torch.device, width: int) -> str:
    """Resolve "auto". Measured on a 2-core AVX-512/AMX CPU (docs/benchmarks.md): bf16 autocast trains 1.3-1.6x
    faster at width >= 256 and gains nothing at width 128, where per-op overhead dominates."""
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if width >= 256 and cpu_has_native_bf16() else "fp32"


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """The context a forward pass runs in: bf16 autocast for "bf16", plain fp32 otherwise. Training and scoring
    share it, so a model is scored in the precision it was trained in."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def pick_threads(work: str = "train", jobs: int = 1) -> int:
    """torch threads for one job, instead of torch's default (every core).

    Measured on a 2-core server (docs/benchmarks.md): decoding one character has nothing to split across threads
    and ran 8-15x *slower* on 2 threads whenever the other core was busy, so ``work="decode"`` always gets 1. For
    training and scoring, an OpenMP region waits for its slowest thread: the cores that other processes keep busy
    (the 1-minute load average) are left out, and ``jobs`` concurrent jobs share the rest, at least 1 thread each.
    Alone on the machine a job gets every core.
    """
    if work == "decode":
        return 1
    cores = usable_cores()
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    idle = max(1, round(cores - busy))
    return max(1, min(idle, cores // max(1, jobs)))


def cpu_share() -> float:
    """The part of a core a new single-threaded job can expect now: 1 on an idle or lightly used machine, less
    when more processes are runnable than there are cores (1-minute load average)."""
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return min(1.0, usable_cores() / (busy + 1.0))
