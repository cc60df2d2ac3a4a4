"""Server-side caps, read from environment variables so a Space owner can tune them without code changes.

Every field ``x`` is set by ``CHARLM_X`` (upper case). Every value the browser or an API client sends is checked
against these on the server, and a refusal names the variable and the value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path


def _parse(name: str, raw: str, kind: type):
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"environment variable {name} must be 1 or 0, not {raw!r}")
    if kind is str:
        return raw
    try:
        value = kind(float(raw))
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, not {raw!r}") from None
    if not value > 0:
        raise ValueError(f"environment variable {name} must be positive, not {raw!r}")
    return value


def default_storage() -> str:
    """Where users' models live: ``$XDG_CACHE_HOME/charlm/app`` (~/.cache/charlm/app); it outlives restarts."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "charlm" / "app")


@dataclass(frozen=True)
class Limits:
    max_upload_mb: float = 50.0  # any uploaded file (text or checkpoint)
    # Gradio's upload route (charlm.ui.uploads): per client address within upload_ttl seconds, and in total on disk;
    # every uploaded (and downloadable) file is deleted upload_ttl seconds after it was stored.
    upload_quota_mb: float = 200.0
    upload_total_mb: float = 2000.0
    upload_ttl: float = 600.0
    max_train_seconds: int = 900  # one training run's time budget
    max_params: int = 10_000_000  # model size for training and for uploads (counted from the config, before building)
    max_new_chars: int = 2000  # characters per chat reply
    max_concurrent_training: int = 1  # training runs at once; the rest wait in a visible queue
    # Chat replies generated at once, /chat and /chat_stream together: the rows of a model's decoding batch. 32: a
    # class of 30 at once; a 32-row step costs ~2.7x an 8-row one for 4x the characters (docs/benchmarks.md).
    chat_concurrency: int = 32
    # Seconds between two streamed updates of one chat reply (each carries every character since the last): fewer
    # updates cost the server less per reply; the text is the same (docs/benchmarks.md, "A classroom").
    chat_stream_every: float = 0.04
    # Streamed updates per second for all the chat replies in progress together: with many replies each one's
    # updates are spaced out to ``live replies / this`` seconds (30 replies: one each 0.25 s, at 120), since every
    # update costs Gradio as much CPU as decoding a character for the whole class. 1e9: off (docs/benchmarks.md,
    # "A classroom").
    chat_updates_per_s: float = 120.0
    # CHARLM_DECODING_NICE: > 0 lowers the decoding thread's priority by that much (Linux), so Gradio's threads (new
    # requests, streamed updates) go first on a busy CPU. Off by default (docs/benchmarks.md, "A classroom").
    decoding_nice: int = 0
    heavy_concurrency: int = 2  # at once per heavy endpoint (scoring, evaluation, backprop, uploads)
    max_session_models: int = 8  # trained + uploaded models kept per user; the oldest is deleted with its files
    # Work per request, estimated before it starts (charlm.budget; bench/bench_budget.py calibrates them): about one
    # second per training step and tens of seconds per scoring request on a 2-core CPU.
    max_step_gflop: float = 20.0
    max_step_mb: float = 512.0
    max_request_gflop: float = 600.0
    max_request_mb: float = 1024.0  # peak memory of one scoring or inspection request (charlm.budget's estimate)
    # What one generated character may cost, counted from the config before anything is built (charlm.budget:
    # weights, attention over the context, work over the vocabulary, adaptive clusters). Uploads and training
    # refuse models above it, as they refuse too many parameters: every shipped model costs 4-10 MFLOP, a 10 M
    # parameter LSTM 24, an RNN over a million characters 294.
    max_char_mflop: float = 30.0
    max_eval_cells: int = 3_000_000  # evaluation: hypothesis x reference tokens over all examples (~6 µs each)
    max_ter_seconds: float = 15.0  # TER alone can take minutes on long dissimilar lines: it is left out after this
    # CHARLM_MAX_TEXT_CHARS: the longest text any field accepts unless it has a smaller cap of its own
    # (charlm.ui.guard), checked before the text is converted, decoded or parsed; a request body may be 4 bytes per
    # such character plus 1 MB (charlm.ui.uploads). Longer training texts are uploaded as files.
    max_text_chars: int = 2_000_000
    max_backprop_weights: int = 5000  # weights in a Backprop-tab network (every one is drawn and traced)
    # CHARLM_TORCH_THREADS: torch threads per operation. 1 by default: with training and several chats sharing a
    # 2-core server, a parallel region waits for its slowest thread and 2 threads measured 3-10x slower than 1
    # (docs/benchmarks.md); concurrent requests still use both cores.
    torch_threads: int = 1
    # CHARLM_SERVE_INT8 (1/0): chat replies on the CPU use an int8 copy of the model (torch dynamic quantization):
    # 1.6-6x faster decoding for +0.001-0.002 bits/char (docs/benchmarks.md). Scores in Evaluate stay fp32.
    serve_int8: bool = True
    storage: str = ""  # folder for users' models ("" = default_storage()); put it on a persistent disk
    retention_days: float = 30.0  # a browser's models are deleted this long after its last visit
    session_ttl: float = 3600.0  # seconds an API session (no browser key) keeps its models after its last request
    save_every: float = 30.0  # seconds of training between checkpoints: a crash loses at most this much
    max_loaded_models: int = 16  # users' models kept in memory at once (least recently used are unloaded)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def storage_dir(self) -> Path:
        return Path(self.storage or default_storage())

    @classmethod
    def from_env(cls) -> Limits:
        values = {}
        for f in fields(cls):
            name = f"CHARLM_{f.name.upper()}"
            raw = os.environ.get(name, "").strip()
            if raw:
                values[f.name] = _parse(name, raw, type(f.default))
        return cls(**values)

    def describe(self, lang: str = "en") -> str:
        """One line for the page footer, so users know the rules before they hit them (``lang``: see ui.i18n)."""
        from charlm.ui.i18n import ui_text

        return ui_text(lang, "limits.line", upload_mb=f"{self.max_upload_mb:g}", train_s=self.max_train_seconds,
                    params=f"{self.max_params:,}", chars=f"{self.max_new_chars:,}", runs=self.max_concurrent_training,
                    days=f"{self.retention_days:g}")  # fmt: skip
