"""Character vocabulary: Unicode code points <-> integer ids.

Id 0 is reserved for "unknown": a prompt character the model never saw maps there instead of crashing (the most
common complaint about char-rnn and nanoGPT), and the sampler never emits it. The vocabulary travels inside every
checkpoint's ``config.json``, so a model can always decode its own output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

UNK_ID = 0
UNK_TOKEN = "\ufffd"  # shown when decoding the unknown id (it is never sampled)


@dataclass(frozen=True)
class Encoded:
    """Ids for a text, plus the characters the vocabulary did not know (so the caller can tell the user)."""

    ids: list[int]
    unknown: tuple[str, ...] = ()  # distinct unknown characters, in order of first appearance
    dropped: int = 0  # how many characters were dropped (policy "drop")

    def require_scored(self) -> None:
        """Refuse a text none of whose characters after the first is known: there is nothing to score (the result
        would be "nan bits/char")."""
        if not any(i != UNK_ID for i in self.ids[1:]):
            from charlm.errors import DataError

            raise DataError(f"the model knows none of the characters of this text after the first, so there is "
                            f"nothing to score (unknown: {describe_chars(self.unknown)})")  # fmt: skip


@dataclass
class CharVocab:
    chars: list[str]  # the known characters; char i has id i + 1
    _stoi: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("vocabulary characters must be distinct")
        if any(len(c) != 1 for c in self.chars):
            raise ValueError("vocabulary entries must be single characters")
        self._stoi = {c: i + 1 for i, c in enumerate(self.chars)}

    @classmethod
    def from_chars(cls, chars: Iterable[str]) -> CharVocab:
        """Sorted by code point, so the same text always gives the same ids."""
        return cls(sorted(set(chars)))

    @property
    def size(self) -> int:
        """Number of ids, the unknown id included (the model's embedding size)."""
        return len(self.chars) + 1

    def __len__(self) -> int:
        return self.size

    def __contains__(self, ch: str) -> bool:
        return ch in self._stoi

    def id_of(self, ch: str) -> int:
        return self._stoi.get(ch, UNK_ID)

    def encode(self, text: str, unknown: str = "replace") -> Encoded:
        """Encode ``text``; ``unknown`` is "replace" (map to the unknown id), "drop" or "error"."""
        if unknown not in ("replace", "drop", "error"):
            raise ValueError(f"unknown-character policy must be replace, drop or error, not {unknown!r}")
        ids: list[int] = []
        missing: dict[str, None] = {}
        dropped = 0
        stoi = self._stoi
        for ch in text:
            i = stoi.get(ch)
            if i is None:
                missing.setdefault(ch, None)
                if unknown == "drop":
                    dropped += 1
                    continue
                i = UNK_ID
            ids.append(i)
        if missing and unknown == "error":
            shown = ", ".join(repr(c) for c in list(missing)[:10])
            raise KeyError(f"characters not in the vocabulary: {shown}")
        return Encoded(ids, tuple(missing), dropped)

    def decode(self, ids: Iterable[int]) -> str:
        chars = self.chars
        return "".join(chars[i - 1] if i > 0 else UNK_TOKEN for i in ids)

    def encode_array(self, text: str) -> np.ndarray:
        """Fast path for whole corpora: a compact integer array (uint16 when it fits)."""
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.zeros(0x110000, dtype=np.int32)
        for i, c in enumerate(self.chars):
            table[ord(c)] = i + 1
        dtype = np.uint16 if self.size <= np.iinfo(np.uint16).max else np.int32
        return table[cps].astype(dtype, copy=False)

    def to_json(self) -> dict:
        return {"chars": "".join(self.chars), "unk_id": UNK_ID}

    @classmethod
    def from_json(cls, obj: dict) -> CharVocab:
        chars = obj.get("chars") if isinstance(obj, dict) else None
        if not isinstance(chars, str) or not chars:
            raise ValueError("vocabulary must have a non-empty 'chars' string")
        return cls(list(chars))


def describe_chars(chars: Iterable[str], limit: int = 8) -> str:
    """Readable list of characters for notices: repr() shows invisible ones such as '\\x07'."""
    chars = list(chars)
    shown = " ".join(repr(c) for c in chars[:limit])
    more = f" and {len(chars) - limit} more" if len(chars) > limit else ""
    return shown + more
