"""The five-character quatrain (五言绝句): the corpus format and the form check.

The built-in Chinese corpus holds one poem per line, as ``title:poem``:

    靜夜思:床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。

A well-formed quatrain is four lines of five Han characters, the 1st and 3rd ending in '，' (U+FF0C) and the 2nd and
4th in '。' (U+3002): 24 characters after the ':'. 16,888 of the corpus's 17,000 poems pass; the others hold □ for
lost characters, a ？ in place of a ，, or lines of other lengths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from charlm.vocab import describe_chars

COMMA, STOP, END = "，", "。", "\n"
LINE_ENDS = (COMMA, STOP, COMMA, STOP)  # what each of the four lines ends with
LINE_CHARS = 5  # Han characters per line
POEM_LENGTH = 25  # characters after the ':' -- 4 x (5 + 1) -- plus the newline that ends the poem
FORCED = {5: COMMA, 11: STOP, 17: COMMA, 23: STOP, 24: END}  # position after ':' -> the only character allowed
MAX_TITLE = 30  # longer titles are rare in the corpus (median 8) and only eat a GPT's context window

# CJK unified ideographs: Extension A, the main block, the compatibility block and Extensions B-H. Not Han: □ (a
# lost character), 〇/○ (a zero) and punctuation.
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF))
_HAN = "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in _HAN_RANGES) + "]"
FORM = re.compile(f"{_HAN}{{5}}，{_HAN}{{5}}。{_HAN}{{5}}，{_HAN}{{5}}。")
_LINE_PUNCT = "，。？！；、,.?!;"  # where a line of a (possibly broken) poem ends, for the per-line report
_SEGMENT = re.compile(f"[^{_LINE_PUNCT}]*[{_LINE_PUNCT}]|[^{_LINE_PUNCT}]+$")


def is_han(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or any(a <= o <= b for a, b in _HAN_RANGES)  # the main block first: fast path


def han_array(code_points: np.ndarray) -> np.ndarray:
    return np.logical_or.reduce([(code_points >= a) & (code_points <= b) for a, b in _HAN_RANGES])


# --- the corpus format -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Poem:
    title: str
    body: str  # the text after the first ':', without the newline


def parse_line(line: str) -> Poem | None:
    """``title:poem`` -> Poem; None for a line without a ':' (the poem is everything after the first one)."""
    title, sep, body = line.rstrip("\n").partition(":")
    return Poem(title, body) if sep else None


def parse_corpus(text: str) -> list[Poem]:
    return [p for line in text.splitlines() if (p := parse_line(line)) is not None]


def well_formed_corpus(text: str, max_title: int = MAX_TITLE) -> str:
    """Only the poems that pass the form check, each poem once, with titles of at most ``max_title`` characters:
    a cleaner corpus for a small model (16,260 of the built-in 17,000 lines)."""
    seen: set[str] = set()
    lines = []
    for poem in parse_corpus(text):
        if is_well_formed(poem.body) and len(poem.title) <= max_title and poem.body not in seen:
            seen.add(poem.body)
            lines.append(f"{poem.title}:{poem.body}\n")
    return "".join(lines)


# --- the form check ----------------------------------------------------------------------------------------------
def is_well_formed(body: str) -> bool:
    """True when ``body`` (the text after ':'; a final newline is ignored) is four lines of five Han characters."""
    return FORM.fullmatch(body.removesuffix(END)) is not None


@dataclass(frozen=True)
class LineCheck:
    """One line of a poem as written, and what is wrong with it (for a per-line display)."""

    number: int  # 1-based
    text: str  # the line, its punctuation included
    chars: int  # characters before the closing punctuation
    not_han: tuple[str, ...]  # distinct characters of the line that are not Han characters
    end: str  # the punctuation it ends with ("" when none)
    expected_end: str | None  # "，" or "。"; None for a line beyond the fourth

    @property
    def ok(self) -> bool:
        return self.chars == LINE_CHARS and not self.not_han and self.end == self.expected_end

    def problems(self) -> list[str]:
        if self.expected_end is None:
            return [f"line {self.number} is one line too many"]
        out = []
        if self.chars != LINE_CHARS:
            out.append(f"line {self.number} has {self.chars} characters, not {LINE_CHARS}")
        if self.not_han:
            verb = "is not a Han character" if len(self.not_han) == 1 else "are not Han characters"
            out.append(f"line {self.number}: {describe_chars(self.not_han)} {verb}")
        if self.end != self.expected_end:
            ends = f"ends with {self.end!r}" if self.end else "has no closing punctuation"
            out.append(f"line {self.number} {ends}; it should end with {self.expected_end!r}")
        return out


@dataclass(frozen=True)
class FormCheck:
    """The result of checking a poem: ``ok``, and per line what is wrong."""

    lines: tuple[LineCheck, ...]

    @property
    def ok(self) -> bool:
        return len(self.lines) == len(LINE_ENDS) and all(line.ok for line in self.lines)

    def problems(self) -> list[str]:
        n = len(self.lines)
        if n == len(LINE_ENDS):
            out = []
        else:
            out = [f"the poem has {n} lines, not 4" if n != 1 else "the poem has 1 line, not 4"]
        # lines beyond the fourth are covered by the count above; the first four say what is wrong with them
        return out + [p for line in self.lines[: len(LINE_ENDS)] for p in line.problems()]

    def summary(self) -> str:
        return "well-formed: four lines of five characters, ，。，。" if self.ok else "; ".join(self.problems())


def check_form(body: str) -> FormCheck:
    """Check a poem (the text after ':'; a final newline is ignored), line by line.

    ``check_form(b).ok == is_well_formed(b)`` for every string (the tests check it on the whole corpus)."""
    segments = _SEGMENT.findall(body.removesuffix(END))
    lines = []
    for i, seg in enumerate(segments):
        end = seg[-1] if seg[-1] in _LINE_PUNCT else ""
        words = seg[: len(seg) - len(end)]
        not_han = tuple(dict.fromkeys(c for c in words if not is_han(c)))
        expected = LINE_ENDS[i] if i < len(LINE_ENDS) else None
        lines.append(LineCheck(i + 1, seg, len(words), not_han, end, expected))
    return FormCheck(tuple(lines))


def prefix_problem(text: str) -> str:
    """Why ``text`` cannot begin a well-formed poem ("" when it can)."""
    if len(text) > POEM_LENGTH:
        return f"it has {len(text)} characters; a poem has {POEM_LENGTH - 1} and a line break"
    for p, ch in enumerate(text):
        want = FORCED.get(p)
        if want is not None and ch != want:
            return f"character {p + 1} is {ch!r}; the form needs {want!r} there"
        if want is None and not is_han(ch):
            return f"character {p + 1}, {ch!r}, is not a Han character"
    return ""
