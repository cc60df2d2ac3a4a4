"""``write_poem``: one quatrain for a title (or a first line) from a loaded model, free or constrained, in either
script, with its form check and notices (the app's poem mode and ``python -m charlm poem``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from charlm.errors import PoetryError
from charlm.generation.sample import sample_ids
from charlm.generation.settings import DEFAULT_SAMPLING, Sampling
from charlm.poetry.form import COMMA, END, FORCED, MAX_TITLE, POEM_LENGTH, FormCheck, check_form, prefix_problem
from charlm.poetry.rule import quatrain_steps, rule_for
from charlm.poetry.script import to_simplified, to_traditional
from charlm.vocab import CharVocab, describe_chars

FREE_MAX_CHARS = 2 * POEM_LENGTH  # free mode: a model that never ends its line is cut here
SCRIPTS = ("traditional", "simplified")
MAX_RAW_CHARS = 200  # a title or first line longer than this is refused before OpenCC converts it (or anything else)
UNTITLED = "無題"  # "untitled", a real classical title: used when only a first line is given


def clean_title(title: str) -> str:
    """A title as the corpus writes it: one line, with a fullwidth colon (an ASCII one would start the poem)."""
    title = " ".join((title or "").split())  # line breaks would end the corpus line early
    return title.replace(":", "：")  # an ASCII ':' would start the poem; the corpus's titles use the fullwidth one


def poem_prompt(title: str = "", first_line: str = "") -> str:
    """The prompt that makes a model write a quatrain: ``"\\n" + title + ":"`` (every corpus poem follows a
    newline), plus an optional first line (its closing '，' is added when missing). Convert a simplified title with
    ``to_traditional`` first."""
    title = clean_title(title)
    start = "".join(first_line.split()).replace(",", COMMA)
    if not title and not start:
        raise PoetryError("give a title or a first line")
    if len(title) > MAX_TITLE:
        raise PoetryError(f"a title has at most {MAX_TITLE} characters; this one has {len(title)}")
    problem = prefix_problem(start)
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
    if len(title or "") > MAX_RAW_CHARS:  # sizes first: the conversion below costs memory in proportion
        raise PoetryError(f"a title has at most {MAX_TITLE} characters; this one has {len(title)}")
    if len(first_line or "") > MAX_RAW_CHARS:
        raise PoetryError(f"a first line has at most {MAX_RAW_CHARS} characters; this one has {len(first_line)}")
    vocab, notices = loaded.vocab, []
    prompt = poem_prompt(_convert(title, vocab, notices), _convert(first_line, vocab, notices, first_line=True))
    read_title, start = prompt[1:].split(":", 1)  # the title as read, and the first line with its punctuation
    encoded = vocab.encode(prompt)
    unknown = encoded.unknown
    if unknown:
        notices.append(f"the model does not know {describe_chars(unknown)}; they are read as 'unknown'")
    ids = fit_prompt(encoded.ids, loaded.model.max_context)
    quatrain = rule_for(vocab)  # also checks that the model can write a quatrain at all (，。 and Han characters)
    rule = quatrain_steps(quatrain, len(start)) if constrained else None
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
