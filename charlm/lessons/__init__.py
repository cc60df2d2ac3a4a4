"""The computations behind the Learn tab's lessons and the classroom notebooks (``notebooks/``).

Each module computes one lesson's figure from a real model, as plain data (lists, dicts, numpy arrays), so the app
draws it, a notebook prints or plots it, and a test checks it. Nothing here imports gradio. Inputs are bounded
(``MAX_TEXT`` characters) because the app passes untrusted requests straight in.

    from charlm.lessons import decoding
    decoding.next_char_table(model, vocab, "ROMEO:", temperature=0.8, top_k=10, top_p=0.9)
"""

from __future__ import annotations

from charlm.errors import DataError

MAX_TEXT = 300  # characters a lesson reads at once: every lesson must show in a few seconds


def check_text(text: str, min_chars: int = 1, max_chars: int = MAX_TEXT) -> str:
    """Refuse a text that is not a string, too short or too long for a lesson."""
    if not isinstance(text, str):
        raise DataError("a lesson reads text")
    if len(text) < min_chars:
        raise DataError(f"the text needs at least {min_chars} characters")
    if len(text) > max_chars:
        raise DataError(f"the text has {len(text):,} characters; a lesson reads at most {max_chars:,}")
    return text


__all__ = ["MAX_TEXT", "check_text"]
