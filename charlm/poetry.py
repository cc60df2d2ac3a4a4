"""Five-character quatrains (五言绝句): the corpus format, the form check, a decoding rule and script conversion.

The built-in Chinese corpus holds one poem per line, as ``title:poem``:

    靜夜思:床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。

A well-formed quatrain is four lines of five Han characters, the 1st and 3rd ending in '，' (U+FF0C) and the 2nd and
4th in '。' (U+3002): 24 characters after the ':'. 16,888 of the corpus's 17,000 poems pass; the others hold □ for
lost characters, a ？ in place of a ，, or lines of other lengths.

Constrained decoding, a visible lesson in how a decoding rule shapes output: the form is a 25-state machine over
the position p after the ':'. At p = 5 and 17 only '，' may come, at 11 and 23 only '。', at 24 only '\\n' (the
poem's end, as in the corpus), at every other p only a Han character. ``QuatrainRule.allowed`` gives that set as a
mask; a sampler that draws only from allowed ids cannot break the form, whatever the model's logits say.

Script: the corpus is in traditional characters. ``to_traditional`` converts a title typed in simplified ones with
OpenCC's ``s2t`` (of OpenCC's configs, the one whose output matches the corpus best: 1.5% of characters differ
after a round trip, against 1.9-2.0% for s2tw/s2hk), and ``to_simplified`` turns a poem back for readers of
simplified Chinese.

``write_poem`` puts it together: one quatrain for a title (or a first line) from a loaded model, free or
constrained, in either script, with its form check and notices (the app's poem mode and ``python -m charlm poem``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from charlm.errors import PoetryError
from charlm.generation.sample import sample_ids
from charlm.generation.settings import DEFAULT_SAMPLING, Sampling
from charlm.vocab import CharVocab, describe_chars

COMMA, STOP, END = "，", "。", "\n"
LINE_ENDS = (COMMA, STOP, COMMA, STOP)  # what each of the four lines ends with
LINE_CHARS = 5  # Han characters per line
POEM_LENGTH = 25  # characters after the ':' -- 4 x (5 + 1) -- plus the newline that ends the poem
FORCED = {5: COMMA, 11: STOP, 17: COMMA, 23: STOP, 24: END}  # position after ':' -> the only character allowed
MAX_TITLE = 30  # longer titles are rare in the corpus (median 8) and only eat a GPT's context window
FREE_MAX_CHARS = 2 * POEM_LENGTH  # free mode: a model that never ends its line is cut here
SCRIPTS = ("traditional", "simplified")
UNTITLED = "無題"  # "untitled", a real classical title: used when only a first line is given

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


def _han_array(code_points: np.ndarray) -> np.ndarray:
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


# --- the decoding rule ---------------------------------------------------------------------------------------------
def _prefix_problem(text: str) -> str:
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


class QuatrainRule:
    """The form as a decoding rule over one vocabulary: which ids may come next, given the poem so far.

    The 25 masks are built once (a few microseconds per step afterwards), so any sampler can use the rule:
    ``logits.masked_fill(~rule.allowed(n), -inf)`` or ``logits + rule.logit_bias(n)``, where ``n`` is how many
    characters follow the title's ':' so far. The unknown id 0 is never allowed (it is not a Han character).
    """

    def __init__(self, vocab: CharVocab) -> None:
        missing = [c for c in (COMMA, STOP, END) if c not in vocab]
        if missing:
            raise PoetryError(f"the model's vocabulary lacks {describe_chars(missing)}; it cannot write a quatrain")
        code_points = np.fromiter(map(ord, vocab.chars), dtype=np.int64, count=len(vocab.chars))
        han = np.zeros(vocab.size, dtype=bool)
        han[1:] = _han_array(code_points)  # id i + 1 is vocab.chars[i]; id 0 (unknown) stays False
        if not han.any():
            raise PoetryError("the model's vocabulary has no Chinese characters; it cannot write a quatrain")
        self.vocab = vocab
        self.han = torch.from_numpy(han)
        self.forced_ids = {p: vocab.id_of(ch) for p, ch in FORCED.items()}
        self._masks = []
        for p in range(POEM_LENGTH):
            forced = self.forced_ids.get(p)
            if forced is None:
                self._masks.append(self.han)
            else:
                only = torch.zeros(vocab.size, dtype=torch.bool)
                only[forced] = True
                self._masks.append(only)
        self._biases: dict[int, torch.Tensor] = {}  # id(mask) -> 0 / -inf float vector, built on first use

    def position(self, generated: str | int) -> int:
        """How far the poem is: ``generated`` is the text after the ':' (checked) or its length (trusted)."""
        if isinstance(generated, int):
            if generated < 0:
                raise ValueError(f"position must be 0 or more, not {generated}")
            return generated
        problem = _prefix_problem(generated)
        if problem:
            raise PoetryError(f"the poem so far breaks the form: {problem}")
        return len(generated)

    def done(self, generated: str | int) -> bool:
        """True once the newline that ends the poem has been written."""
        return self.position(generated) >= POEM_LENGTH

    def allowed(self, generated: str | int) -> torch.Tensor | None:
        """Boolean mask (vocab size) of the ids that may come next; None when the poem is complete.

        The tensor is shared between calls: read it, do not modify it."""
        p = self.position(generated)
        return None if p >= POEM_LENGTH else self._masks[p]

    def allowed_ids(self, generated: str | int) -> torch.Tensor:
        """The allowed next ids, ascending (empty when the poem is complete)."""
        mask = self.allowed(generated)
        return torch.empty(0, dtype=torch.long) if mask is None else mask.nonzero().flatten()

    def forced_id(self, generated: str | int) -> int | None:
        """The one id the form allows next, if there is only one: a sampler can skip sampling there."""
        return self.forced_ids.get(self.position(generated))

    def logit_bias(self, generated: str | int) -> torch.Tensor | None:
        """0 where allowed, -inf elsewhere (float32, vocab size): one addition per step; None when complete."""
        mask = self.allowed(generated)
        if mask is None:
            return None
        key = id(mask)
        if key not in self._biases:
            self._biases[key] = torch.zeros(mask.shape).masked_fill_(~mask, float("-inf"))
        return self._biases[key]


# --- prompts -------------------------------------------------------------------------------------------------------
def _clean_title(title: str) -> str:
    title = " ".join((title or "").split())  # line breaks would end the corpus line early
    return title.replace(":", "：")  # an ASCII ':' would start the poem; the corpus's titles use the fullwidth one


def poem_prompt(title: str = "", first_line: str = "") -> str:
    """The prompt that makes a model write a quatrain: ``"\\n" + title + ":"`` (every corpus poem follows a
    newline), plus an optional first line (its closing '，' is added when missing). Convert a simplified title with
    ``to_traditional`` first."""
    title = _clean_title(title)
    start = "".join(first_line.split()).replace(",", COMMA)
    if not title and not start:
        raise PoetryError("give a title or a first line")
    if len(title) > MAX_TITLE:
        raise PoetryError(f"a title has at most {MAX_TITLE} characters; this one has {len(title)}")
    problem = _prefix_problem(start)
    if problem:
        raise PoetryError(f"the first line cannot begin a quatrain: {problem}")
    if len(start) in FORCED and FORCED[len(start)] != END:  # a line without its punctuation: add it
        start += FORCED[len(start)]
    return f"\n{title or UNTITLED}:{start}"


def fit_prompt(ids: Sequence[int], max_context: int | None) -> list[int]:
    """Keep the end of the prompt so that it and the whole poem fit a GPT's context window (recurrent models,
    ``max_context`` None, read everything)."""
    ids = list(ids)
    if max_context is None:
        return ids
    room = max_context - POEM_LENGTH
    if room < 1:
        raise PoetryError(f"this model's context window ({max_context}) is too short for a {POEM_LENGTH}-char poem")
    return ids[-room:]


# --- simplified <-> traditional ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _converter(config: str):
    """An OpenCC converter (loading its dictionaries takes ~0.1 s, so each is built once)."""
    try:
        import opencc
    except ImportError:
        raise PoetryError(
            "converting between simplified and traditional characters needs the opencc package "
            "(pip install opencc==1.4.2)"
        ) from None
    return opencc.OpenCC(config)


def to_traditional(text: str, vocab: CharVocab | None = None) -> str:
    """Simplified -> traditional (OpenCC ``s2t``). With ``vocab``, a converted character the model never saw is
    replaced by the user's own one where the model knows that one (the corpus writes some characters in their
    simplified-looking inherited forms, 黄 546 times against 黃 166): in the research this cut the characters
    unknown to the model from 115 to 18 in 200,000."""
    converted = _converter("s2t").convert(text)
    if vocab is None or len(converted) != len(text):  # s2t maps character to character; be safe if it does not
        return converted
    return "".join(t if t in vocab or s not in vocab else s for s, t in zip(text, converted, strict=True))


def to_simplified(text: str) -> str:
    """Traditional -> simplified (OpenCC ``t2s``), to show a poem to readers of simplified Chinese."""
    return _converter("t2s").convert(text)


# --- writing a poem -------------------------------------------------------------------------------------------------
@dataclass
class PoemResult:
    """One written quatrain. ``poem`` is the text after the title's ':' in the asked script, first line included,
    without the newline that ends it; ``form`` checks the poem as the model wrote it (traditional)."""

    title: str  # the title in the asked script ("無題"/"无题" when only a first line was given)
    poem: str
    poem_traditional: str
    script: str
    constrained: bool
    form: FormCheck
    notices: list[str] = field(default_factory=list)  # conversions, unknown characters, a poem that did not end
    title_traditional: str = ""  # the title as the model read it

    @property
    def well_formed(self) -> bool:
        return self.form.ok

    def to_json(self) -> dict:
        return {"title": self.title, "title_traditional": self.title_traditional, "poem": self.poem,
                "poem_traditional": self.poem_traditional,
                "script": self.script, "constrained": self.constrained, "well_formed": self.form.ok,
                "form": self.form.summary(), "form_problems": self.form.problems(),
                "notices": self.notices}  # fmt: skip


def _convert(text: str, vocab: CharVocab, notices: list[str], *, first_line: bool = False) -> str:
    """A simplified title or first line in the corpus's traditional characters (unchanged, with a notice, when
    OpenCC is missing). Each notice is one whole sentence, so that the app can translate it."""
    if not text:
        return text
    try:
        converted = to_traditional(text, vocab)
    except PoetryError as exc:
        notices.append(
            f"the first line is used as typed: {exc}" if first_line else f"the title is used as typed: {exc}"
        )
        return text
    if converted != text:
        notices.append(
            f"the first line in traditional characters, as the model learned them: {text} → {converted}"
            if first_line
            else f"the title in traditional characters, as the model learned them: {text} → {converted}"
        )
    return converted


_RULES: dict[tuple[str, ...], QuatrainRule] = {}  # a few models' rules (building one costs ~1 ms at 6k ids)


def rule_for(vocab: CharVocab) -> QuatrainRule:
    """The quatrain rule of a vocabulary, built once."""
    key = tuple(vocab.chars)
    rule = _RULES.get(key)
    if rule is None:
        rule = QuatrainRule(vocab)
        if len(_RULES) >= 8:
            _RULES.pop(next(iter(_RULES)))
        _RULES[key] = rule
    return rule


def _quatrain_steps(rule: QuatrainRule, start: int):
    """The ``sample_ids`` rule of the form: the forced id where the form allows one character, else the bias that
    forbids every id but Han characters."""

    def step(n: int) -> torch.Tensor | int | None:
        forced = rule.forced_id(start + n)
        return forced if forced is not None else rule.logit_bias(start + n)

    return step


def write_poem(
    loaded,
    title: str = "",
    first_line: str = "",
    *,
    constrained: bool = False,
    script: str = "traditional",
    sampling: Sampling = DEFAULT_SAMPLING,
) -> PoemResult:
    """Write one quatrain with ``loaded`` (a LoadedModel) for ``title`` and/or ``first_line`` (simplified or
    traditional characters). ``constrained`` samples under the form (``QuatrainRule``): it cannot break it. Free,
    the model writes until it ends the line (at most ``FREE_MAX_CHARS`` characters): the form sets the length,
    so ``sampling.max_new_chars`` and ``sampling.stop`` are not used."""
    if script not in SCRIPTS:
        raise PoetryError(f"script must be one of {', '.join(SCRIPTS)}, not {script!r}")
    vocab, notices = loaded.vocab, []
    prompt = poem_prompt(_convert(title, vocab, notices), _convert(first_line, vocab, notices, first_line=True))
    read_title, start = prompt[1:].split(":", 1)  # the title as read, and the first line with its punctuation
    encoded = vocab.encode(prompt)
    unknown = encoded.unknown
    if unknown:
        notices.append(f"the model does not know {describe_chars(unknown)}; they are read as 'unknown'")
    ids = fit_prompt(encoded.ids, loaded.model.max_context)
    quatrain = rule_for(vocab)  # also checks that the model can write a quatrain at all (，。 and Han characters)
    rule = _quatrain_steps(quatrain, len(start)) if constrained else None
    end = vocab.id_of(END) if END in vocab else None
    most = POEM_LENGTH - len(start) if constrained else FREE_MAX_CHARS
    out = []
    for i in sample_ids(loaded.model, vocab, ids, replace(sampling, max_new_chars=most, stop=()), rule=rule):
        if i == end:
            break
        out.append(i)
    else:
        notices.append(f"the model did not end the poem within {most} characters; it was cut there")
    body = shown = start + vocab.decode(out)
    shown_title = read_title
    if script == "simplified":
        try:
            shown, shown_title = to_simplified(body), to_simplified(read_title)
        except PoetryError as exc:
            notices.append(f"the poem is shown in traditional characters: {exc}")
    return PoemResult(shown_title, shown, body, script, constrained, check_form(body), notices, read_title)
