"""Models in memory: the shipped checkpoints (loaded once, shared read-only by every session) and an LRU cache of
users' models, each with its int8 copy for chat (``Limits.serve_int8``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from charlm.errors import CheckpointError
from charlm.models.quantize import quantize_for_cpu
from charlm.storage.checkpoint import CONFIG_FILE, MODEL_FILE, LoadedModel, load_checkpoint
from charlm.storage.run import Run


@dataclass
class Entry:
    """A model in memory: its weights (re-read when training saves new ones) and its int8 copy for chat."""

    loaded: LoadedModel
    stamp: int = 0  # mtime of the weights when loaded
    chat: LoadedModel | None = None  # int8 copy for chat replies (Limits.serve_int8), made from ``chat_src``
    chat_src: LoadedModel | None = None


class ModelCache:
    """The shipped models plus at most ``max_loaded`` users' models, least recently used first out."""

    def __init__(self, checkpoints_dir: Path, max_loaded: int, serve_int8: bool) -> None:
        self.max_loaded, self.serve_int8 = max_loaded, serve_int8
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], Entry] = OrderedDict()  # (user, name) -> Entry, LRU order
        self.shipped: dict[str, Entry] = {}
        self.load_errors: list[str] = []
        for sub in sorted(checkpoints_dir.iterdir()) if checkpoints_dir.is_dir() else []:
            if (sub / CONFIG_FILE).is_file():
                try:  # load now: the first chat must not wait, and every session shares this one copy
                    entry = Entry(load_checkpoint(sub))
                except CheckpointError as exc:
                    self.load_errors.append(str(exc))
                    continue
                self.shipped[sub.name] = entry
                self.chat_copy(sub.name, entry)  # quantize now, not in the first user's reply

    def entry(self, user: str, run: Run) -> tuple[object, Entry]:
        """A user's model, read again when its weights changed on disk since it was cached."""
        cache_key = (user, run.name)
        try:
            stamp = (run.checkpoint / MODEL_FILE).stat().st_mtime_ns
        except (OSError, TypeError):
            stamp = -1
        with self._lock:
            entry = self._cache.get(cache_key)
        if entry is None or entry.stamp != stamp:
            entry = Entry(_read(run), stamp)
        with self._lock:
            self._cache[cache_key] = entry
            self._cache.move_to_end(cache_key)
            while len(self._cache) > self.max_loaded:  # memory stays bounded
                self._cache.popitem(last=False)
        return cache_key, entry

    def forget(self, user: str, name: str) -> None:
        with self._lock:
            self._cache.pop((user, name), None)

    def serves_int8(self, loaded: LoadedModel) -> bool:
        return self.serve_int8 and loaded.device.type == "cpu"

    def chat_copy(self, name: object, entry: Entry) -> LoadedModel:
        """The model to chat with: its int8 copy (made once per weights) when serving int8 on the CPU."""
        loaded = entry.loaded
        if not self.serves_int8(loaded):
            return loaded
        chat, src = entry.chat, entry.chat_src
        if chat is None or src is not loaded:  # new, or re-read after training saved a better checkpoint
            try:
                chat = quantize_for_cpu(loaded)
            except (RuntimeError, ValueError) as exc:  # no int8 engine in this torch build: serve fp32
                self.load_errors.append(f"int8 serving is off for {name}: {exc}")
                chat = loaded  # and do not try again for these weights
            entry.chat, entry.chat_src = chat, loaded  # two racing replies build equal copies; either is fine
        return chat


def _read(run: Run) -> LoadedModel:
    for attempt in range(3):  # the trainer swaps folders atomically; a read can fall in between
        try:
            return load_checkpoint(run.checkpoint)
        except CheckpointError:
            if attempt == 2:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")
