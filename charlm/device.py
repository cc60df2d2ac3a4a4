"""Pick the device: CUDA when present, else CPU. One place, so the CLI, app and benchmarks agree."""

from __future__ import annotations

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
