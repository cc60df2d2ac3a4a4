"""JSON from strangers, with its size and nesting depth checked before it is parsed.

Python's ``json`` parser recurses once per level, so ``"[" * 100_000`` raises RecursionError (a server error,
not a message) and a few MB of text can hold millions of levels. Nothing charlm reads (a Backprop spec, a
checkpoint's ``config.json``, a line of a JSONL file) is nested more than a few levels, so ``MAX_DEPTH`` is far
above any real file and far below Python's recursion limit.
"""

from __future__ import annotations

import json
import re

from charlm.errors import DataError

MAX_DEPTH = 32
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)  # strings (skipped whole) and brackets


def nesting_depth(text: str, stop_above: int = MAX_DEPTH) -> int:
    """How deeply ``text``'s arrays and objects nest (brackets inside strings do not count); stops counting as
    soon as it passes ``stop_above``, so a hostile text costs one pass at most."""
    depth = deepest = 0
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        elif tok in "]}":
            depth -= 1
    return deepest


def loads(text: str, what: str, max_chars: int, max_depth: int = MAX_DEPTH) -> object:
    """``json.loads`` after the checks, each failing with a ``DataError`` naming ``what``; a syntax error is left
    to the caller (``json.JSONDecodeError``), which knows how to word it."""
    if len(text) > max_chars:
        raise DataError(f"{what} has {len(text):,} characters; at most {max_chars:,} are read")
    if nesting_depth(text, max_depth) > max_depth:
        raise DataError(f"{what} is nested more than {max_depth} levels deep")
    return json.loads(text)


__all__ = ["MAX_DEPTH", "loads", "nesting_depth"]
