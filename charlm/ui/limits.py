"""Server-side caps, read from environment variables so a Space owner can tune them without code changes.

Every value the browser sends is also checked against these on the server: a client can send any number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_num(name: str, default: float, cast=float):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = cast(float(raw))
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"environment variable {name} must be positive, not {raw!r}")
    return value


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {name} must be 1 or 0, not {raw!r}")


@dataclass(frozen=True)
class Limits:
    max_upload_mb: float = 50.0  # CHARLM_MAX_UPLOAD_MB: any uploaded file (text or checkpoint)
    max_train_seconds: int = 900  # CHARLM_MAX_TRAIN_SECONDS: one training run's time budget
    max_params: int = 10_000_000  # CHARLM_MAX_PARAMS: model size for training and for uploads
    max_new_chars: int = 2000  # CHARLM_MAX_NEW_CHARS: characters per chat reply
    max_concurrent_training: int = 1  # CHARLM_MAX_CONCURRENT_TRAINING: runs at once, the rest wait in a queue
    chat_concurrency: int = 8  # CHARLM_CHAT_CONCURRENCY: chat replies generated at once
    max_session_models: int = 8  # CHARLM_MAX_SESSION_MODELS: trained + uploaded models kept per session
    # CHARLM_TORCH_THREADS: torch threads per operation. 1 by default: with training and several chats sharing a
    # 2-core server, a parallel region waits for its slowest thread and 2 threads measured 3-10x slower than 1
    # (docs/benchmarks.md); concurrent requests still use both cores.
    torch_threads: int = 1
    # CHARLM_SERVE_INT8 (1/0): chat replies on the CPU use an int8 copy of the model (torch dynamic quantization):
    # 1.6-6x faster decoding for +0.001-0.002 bits/char (docs/benchmarks.md). Scores in Evaluate stay fp32.
    serve_int8: bool = True

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls) -> Limits:
        d = cls()
        return cls(
            max_upload_mb=_env_num("CHARLM_MAX_UPLOAD_MB", d.max_upload_mb),
            max_train_seconds=_env_num("CHARLM_MAX_TRAIN_SECONDS", d.max_train_seconds, int),
            max_params=_env_num("CHARLM_MAX_PARAMS", d.max_params, int),
            max_new_chars=_env_num("CHARLM_MAX_NEW_CHARS", d.max_new_chars, int),
            max_concurrent_training=_env_num("CHARLM_MAX_CONCURRENT_TRAINING", d.max_concurrent_training, int),
            chat_concurrency=_env_num("CHARLM_CHAT_CONCURRENCY", d.chat_concurrency, int),
            max_session_models=_env_num("CHARLM_MAX_SESSION_MODELS", d.max_session_models, int),
            torch_threads=_env_num("CHARLM_TORCH_THREADS", d.torch_threads, int),
            serve_int8=_env_bool("CHARLM_SERVE_INT8", d.serve_int8),
        )

    def describe(self) -> str:
        """One line for the page footer, so users know the rules before they hit them."""
        return (
            f"Limits on this server: uploads ≤ {self.max_upload_mb:g} MB, training ≤ {self.max_train_seconds} s "
            f"and ≤ {self.max_params:,} parameters, replies ≤ {self.max_new_chars:,} characters, "
            f"{self.max_concurrent_training} training run(s) at a time."
        )
