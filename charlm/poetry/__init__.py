"""Five-character quatrains (五言绝句), in the four parts the job divides into:

    form     the corpus format (``title:poem``) and the form check (``check_form``, ``FormCheck``)
    rule     the form as a decoding rule (``QuatrainRule``): which ids may come next, so a constrained sampler
             cannot break the form
    script   simplified <-> traditional characters (OpenCC): the corpus is traditional
    write    ``write_poem``: one quatrain for a title or first line, free or constrained, in either script
             (the app's poem mode and ``python -m charlm poem``), sampled by ``charlm.generation.sample``

Each name below is importable from ``charlm.poetry`` itself.
"""

from charlm.poetry.form import (
    FORCED,
    FORM,
    LINE_CHARS,
    LINE_ENDS,
    MAX_TITLE,
    POEM_LENGTH,
    FormCheck,
    LineCheck,
    Poem,
    check_form,
    is_han,
    is_well_formed,
    parse_corpus,
    parse_line,
    well_formed_corpus,
)
from charlm.poetry.rule import QuatrainRule, rule_for, writes_poems
from charlm.poetry.script import to_simplified, to_traditional
from charlm.poetry.write import FREE_MAX_CHARS, SCRIPTS, UNTITLED, PoemResult, fit_prompt, poem_prompt, write_poem

__all__ = ["FORCED", "FORM", "FREE_MAX_CHARS", "LINE_CHARS", "LINE_ENDS", "MAX_TITLE", "POEM_LENGTH", "SCRIPTS",
           "UNTITLED", "FormCheck", "LineCheck", "Poem", "PoemResult", "QuatrainRule", "check_form", "fit_prompt",
           "is_han", "is_well_formed", "parse_corpus", "parse_line", "poem_prompt", "rule_for", "to_simplified",
           "to_traditional", "well_formed_corpus", "write_poem", "writes_poems"]  # fmt: skip
