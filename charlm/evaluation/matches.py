"""Which n-grams of an output also appear in its reference: what BLEU counts, shown on the text itself.

BLEU (and chrF, per character) score the share of the output's n-grams found in the reference; a learner sees the
number but not which words it came from. ``matched_spans`` cuts the output into its tokens (one per Chinese
character, runs of letters/digits, single punctuation marks: as the ``zh`` tokenizer does) and gives each the
longest n (1-4) of an n-gram through it that some reference contains, so the page can highlight the matches.
Counts are not clipped (a word the reference has once is marked each time it occurs): the marks show where the
overlap is, the score itself comes from sacrebleu.
"""

from __future__ import annotations

from collections.abc import Sequence

import regex

from charlm.evaluation.tokens import _CJK

MAX_N = 4  # BLEU's longest n-gram
_PIECE_RE = regex.compile(rf"[{_CJK}]|[^\W_{_CJK}]+|\s+|.", regex.DOTALL)


def _pieces(text: str) -> list[tuple[str, bool]]:
    """(piece, is_token): every character of ``text`` in order; whitespace is kept but is no token."""
    return [(m.group(), not m.group().isspace()) for m in _PIECE_RE.finditer(text)]


def _ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def matched_spans(hypothesis: str, references: Sequence[str], max_n: int = MAX_N) -> list[tuple[str, int | None]]:
    """The hypothesis as (text, n) pieces that join back to it exactly: n is the longest matched n-gram through
    that token (0: in no reference n-gram; None: whitespace)."""
    pieces = _pieces(hypothesis)
    tokens = [p for p, is_token in pieces if is_token]
    ref_tokens = [[p for p, is_token in _pieces(r) if is_token] for r in references]
    best = [0] * len(tokens)
    for n in range(1, max_n + 1):
        found = set().union(*(_ngrams(r, n) for r in ref_tokens)) if ref_tokens else set()
        for i in range(len(tokens) - n + 1):
            if tuple(tokens[i : i + n]) in found:
                for j in range(i, i + n):
                    best[j] = max(best[j], n)
    out, k = [], 0
    for piece, is_token in pieces:
        if is_token:
            out.append((piece, best[k]))
            k += 1
        else:
            out.append((piece, None))
    return out


__all__ = ["MAX_N", "matched_spans"]
