"""Pick the device: CUDA when present, else CPU. One place, so the CLI, app and benchmarks agree."""

from __future__ import annotations

import os
import time
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


def idle_cores(window: float = 0.3) -> float:
    """How many cores are idle right now: the idle and iowait time of every usable core in ``/proc/stat`` over
    ``window`` seconds, in cores (2.0 on an idle 2-core machine, ~1.0 while another process spins on one core).

    This job sleeps while it measures, so unlike the 1-minute load average it does not count itself, nor the
    shell, the import of torch or a job that just ended (issue 17: at a load average of 0.65 on 2 idle cores the
    old rule, ``round(cores - load)``, chose 1 thread). Where ``/proc/stat`` cannot be read, cores minus the load."""
    first = _cpu_times()
    if first is None:
        busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        return max(0.0, usable_cores() - busy)
    time.sleep(window)
    second = _cpu_times()
    idle = total = 0
    for cpu in usable_cpu_ids():
        if cpu in first and cpu in second:
            (i0, t0), (i1, t1) = first[cpu], second[cpu]
            idle, total = idle + i1 - i0, total + t1 - t0
    share = idle / total if total > 0 else 1.0
    return share * usable_cores()


def usable_cpu_ids() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return list(range(os.cpu_count() or 1))


def _cpu_times(path: str = "/proc/stat") -> dict[int, tuple[int, int]] | None:
    """{cpu id: (idle + iowait ticks, all ticks)} from ``/proc/stat``, or None where it cannot be read."""
    try:
        with open(path, encoding="ascii") as f:
            lines = f.readlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and len(fields) >= 5:
            ticks = [int(v) for v in fields[:8]]
            out[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks))
    return out or None


# A core counts as free when it was idle at least this share of the window: measured (bench/bench_threads.py,
# docs/benchmarks.md) a second thread on a busy core made training 2-4x *slower*, while on an idle core it makes
# it at most ~1.5x faster, so a core that is mostly busy is left alone.
FREE_CORE = 0.8


def pick_threads(work: str = "train", jobs: int = 1) -> int:
    """torch threads for one job, instead of torch's default (every core).

    Measured on 2-core servers (docs/benchmarks.md): decoding one character has nothing to split across threads
    and ran 8-15x *slower* on 2 threads whenever the other core was busy, so ``work="decode"`` always gets 1. For
    training and scoring, an OpenMP region waits for its slowest thread: the cores that other processes keep busy
    now (``idle_cores``) are left out, and ``jobs`` concurrent jobs share the rest, at least 1 thread each.
    Alone on the machine a job gets every core.
    """
    if work == "decode":
        return 1
    cores = usable_cores()
    idle = max(1, int(idle_cores() + 1 - FREE_CORE))
    return max(1, min(idle, cores // max(1, jobs)))


def cpu_share() -> float:
    """The part of a core a new single-threaded job can expect now: 1 on an idle or lightly used machine, less
    when more processes are runnable than there are cores (1-minute load average)."""
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return min(1.0, usable_cores() / (busy + 1.0))
