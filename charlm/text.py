"""Turning user bytes into text: one reader for training texts, evaluation files, uploads and pasted text.

Every place that accepts text from a user goes through here, so a file that trains also evaluates and a pasted
text means the same as the same text uploaded:
- UTF-8 with or without a BOM, or UTF-16 marked by its BOM; anything else must be valid UTF-8 (never guessed,
  never "replaced": a wrong decoding would give meaningless models and scores);
- line ends normalised to LF (Windows CRLF and old-Mac lone CR alike);
- binary data refused (NUL bytes, or more than 1% control characters) rather than turned into junk symbols.
"""

from __future__ import annotations

import os
from pathlib import Path

from charlm.errors import DataError

DEFAULT_MAX_BYTES = 512 * 1024 * 1024  # refuse bigger files outright: they would not train on a laptop anyway
_SNIFF = 8 * 1024 * 1024  # how much of the start is checked for NUL bytes and control characters


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF; a leading BOM (U+FEFF) is dropped."""
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def decode_bytes(raw: bytes, name: str = "the text", allow_empty: bool = False) -> str:
    """Decode UTF-8 (BOM optional) or BOM-marked UTF-16 and normalise line ends; errors name ``name``.

    Blank text is an error unless ``allow_empty`` (an evaluation file of empty lines is still lines).
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raw, encoding = raw[3:], "utf-8"
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
        if b"\x00" in raw[:_SNIFF]:
            raise DataError(f"{name} looks binary (it contains NUL bytes); use a plain-text file")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{name} is not valid {encoding.upper()} (byte {exc.start}: {raw[exc.start : exc.start + 4]!r}); "
            "save it as UTF-8 and try again"
        ) from None
    text = normalize_newlines(text)
    sample = text[:100_000]
    controls = sum(1 for c in sample if ord(c) < 32 and c not in "\n\t\f\v")
    if controls > max(10, len(sample) // 100):
        raise DataError(f"{name} looks binary ({controls} control characters in its first {len(sample)})")
    if not allow_empty and not text.strip():
        raise DataError(f"{name} is empty")
    return text


def read_text(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES, allow_empty: bool = False) -> str:
    """Read a text file with the checks of :func:`decode_bytes`, naming the file (not its folder) in errors."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no such file: {p.name}")
    size = p.stat().st_size
    if size > max_bytes:
        raise DataError(f"{p.name} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {p.name} ({exc.strerror or exc})") from None
    return decode_bytes(raw, name=p.name, allow_empty=allow_empty)


def check_text(text: str, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The same rules for text that arrives already decoded (a pasted text box): normalised, non-empty, capped."""
    text = normalize_newlines(text or "")
    if not text.strip():
        raise DataError(f"{name} is empty")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise DataError(f"{name} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB")
    return text


def split_lines(text: str) -> list[str]:
    """Segments one per line, as an editor shows them: one trailing newline is not an extra empty line.

    ``split('\\n')`` (not ``splitlines``) keeps U+2028 and form feeds inside a line, so counts match.
    """
    text = normalize_newlines(text)
    if text == "":
        return []
    return text.removesuffix("\n").split("\n")
