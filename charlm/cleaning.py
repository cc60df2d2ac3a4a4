"""Optional cleaning of a training text, with its effect on length and vocabulary.

Fewer distinct characters means a smaller output layer and faster learning; the stats let a user see what a
setting costs before training. The CLI (``train --lowercase --collapse-whitespace --min-char-count N``) and the
Train tab apply the same options in the same order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from charlm.data import char_counts
from charlm.errors import DataError
from charlm.vocab import describe_chars


@dataclass(frozen=True)
class CleanOptions:
    lowercase: bool = False
    collapse_whitespace: bool = False  # runs of spaces/tabs -> one space, 3+ newlines -> a blank line
    min_count: int = 0  # drop characters seen fewer than this many times (0/1: keep all)

    def __post_init__(self) -> None:
        if self.min_count < 0:
            raise DataError(f"'drop characters rarer than' must be 0 or more, not {self.min_count}")

    @property
    def active(self) -> bool:
        return self.lowercase or self.collapse_whitespace or self.min_count > 1


@dataclass(frozen=True)
class CleanStats:
    chars_before: int
    chars_after: int
    vocab_before: int
    vocab_after: int
    dropped_chars: tuple[str, ...] = ()

    def markdown(self) -> str:
        def change(a: int, b: int) -> str:
            return f"{a:,}" if a == b else f"{a:,} → **{b:,}**"

        lines = [
            f"Text length: {change(self.chars_before, self.chars_after)} characters · "
            f"vocabulary: {change(self.vocab_before, self.vocab_after)} distinct characters"
        ]
        if self.dropped_chars:
            lines.append(f"Dropped rare characters: {describe_chars(self.dropped_chars, limit=12)}")
        return "\n\n".join(lines)


_SPACES = re.compile(r"[ \t\f\v]+")
_TRAILING = re.compile(r" +\n")
_BLANKS = re.compile(r"\n{3,}")


def clean_text(text: str, opts: CleanOptions) -> tuple[str, CleanStats]:
    """Apply the options in a fixed order (lowercase, whitespace, rare characters) and report the effect."""
    before = char_counts(text) if text else {}
    out = text
    if opts.lowercase:
        out = out.lower()
    if opts.collapse_whitespace:
        out = _BLANKS.sub("\n\n", _TRAILING.sub("\n", _SPACES.sub(" ", out)))
    dropped: tuple[str, ...] = ()
    if opts.min_count > 1 and out:
        counts = char_counts(out)
        rare = sorted((c for c, n in counts.items() if n < opts.min_count), key=lambda c: (counts[c], c))
        if rare:
            out = out.translate({ord(c): None for c in rare})
            dropped = tuple(rare)
    if text and not out.strip():
        raise DataError("cleaning removed all of the text; lower 'drop characters rarer than'")
    after = char_counts(out) if out else {}
    return out, CleanStats(len(text), len(out), len(before), len(after), dropped)
