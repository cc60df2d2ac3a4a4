"""Turning text into compact id arrays, splits and training batches (``charlm.text`` reads it).

Memory stays proportional to the text: the corpus lives as one uint16 (or int32 for huge vocabularies) array,
and batches are cut from it on the fly.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from charlm.errors import DataError
from charlm.text import DEFAULT_MAX_BYTES, read_text
from charlm.vocab import CharVocab

_CHUNK = 8 * 1024 * 1024


def char_counts(text: str) -> dict[str, int]:
    """Count characters in chunks, so a 100 MB text needs no per-character Python objects."""
    counts = np.zeros(0x110000, dtype=np.int64)
    for start in range(0, len(text), _CHUNK):
        cps = np.frombuffer(text[start : start + _CHUNK].encode("utf-32-le"), dtype=np.uint32)
        counts += np.bincount(cps, minlength=0x110000)
    nz = np.flatnonzero(counts)
    return {chr(int(c)): int(counts[c]) for c in nz}


def encode_corpus(text: str, vocab: CharVocab) -> np.ndarray:
    """Whole-corpus encoding, chunked to bound temporary memory."""
    dtype = np.uint16 if vocab.size <= np.iinfo(np.uint16).max else np.int32
    out = np.empty(len(text), dtype=dtype)
    for start in range(0, len(text), _CHUNK):
        piece = text[start : start + _CHUNK]
        out[start : start + len(piece)] = vocab.encode_array(piece)
    return out


def val_start(n_chars: int, val_fraction: float = 0.1) -> int:
    """Where validation begins: the last ``val_fraction`` of the text (one id per character), nanoGPT's split."""
    return n_chars - int(round(n_chars * val_fraction))


@dataclass
class Corpus:
    """A text ready to train on: ids, the vocabulary and a fingerprint for the checkpoint's record."""

    name: str
    ids: np.ndarray
    vocab: CharVocab
    sha256: str

    @property
    def n_chars(self) -> int:
        return int(self.ids.shape[0])

    def split(self, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Contiguous split: the last ``val_fraction`` is validation (nanoGPT's split, so numbers compare)."""
        if not 0.0 <= val_fraction < 1.0:
            raise DataError(f"validation fraction must be in [0, 1), got {val_fraction}")
        cut = val_start(self.n_chars, val_fraction)
        return self.ids[:cut], self.ids[cut:]

    def to_json(self) -> dict:
        return {"name": self.name, "chars": self.n_chars, "sha256": self.sha256}


def build_corpus(text: str, name: str = "text", vocab: CharVocab | None = None) -> Corpus:
    """Encode ``text``; a given vocabulary (e.g. when resuming) must cover every character."""
    if not text:
        raise DataError(f"{name} is empty")
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if vocab is None:
        vocab = CharVocab.from_chars(char_counts(text))
    else:
        missing = [c for c in char_counts(text) if c not in vocab]
        if missing:
            raise DataError(f"{name} has {len(missing)} characters the model's vocabulary lacks (e.g. {missing[0]!r})")
    return Corpus(name=name, ids=encode_corpus(text, vocab), vocab=vocab, sha256=sha)


def load_corpus(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> Corpus:
    return build_corpus(read_text(path, max_bytes=max_bytes), name=Path(path).name)


def check_trainable(train_ids: np.ndarray, val_ids: np.ndarray, block_size: int) -> None:
    """Fail early, with numbers, when a text is too short to hold even one training window."""
    if len(train_ids) < block_size + 1:
        raise DataError(
            f"the training part of the text has {len(train_ids)} characters, fewer than one training window "
            f"of {block_size + 1}; use a longer text or a smaller context length"
        )
    if 0 < len(val_ids) < 2:
        raise DataError("the validation part is too small to measure; use a longer text or val fraction 0")


def get_batch(
    ids: np.ndarray, batch_size: int, block_size: int, generator: torch.Generator, device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows (x, y = x shifted by one), drawn with ``generator`` so that resuming is exact."""
    hi = len(ids) - block_size - 1
    starts = torch.randint(0, hi + 1, (batch_size,), generator=generator).numpy()
    offsets = starts[:, None] + np.arange(block_size + 1)[None, :]
    window = torch.from_numpy(ids[offsets].astype(np.int64))
    x, y = window[:, :-1], window[:, 1:]
    if device != "cpu":
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    return x, y
