"""Built-in training texts that work offline everywhere, so a first model is one click away."""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from charlm.errors import DataError
from charlm.text import check_text, read_text

PYDOC = "Python documentation (pydoc_data)"


def _pydoc_text() -> str:
    """The language reference topics that ship with every CPython (``help('if')`` reads them): ~460k chars."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k].strip("\n") for k in sorted(topics)) + "\n"


POEMS = "五言绝句 Chinese quatrains (17,000 poems)"
POEMS_WELL_FORMED = "五言绝句 Chinese quatrains, well-formed only (16,260 poems)"
POEMS_FILE = "wujue_poems_zh.txt"  # in charlm/builtin_corpora/, with its source and licence (README.md there)


def _poems_text() -> str:
    """The whole poem file (1.7 MB, traditional characters): see charlm/builtin_corpora/README.md."""
    return resources.files("charlm").joinpath("builtin_corpora", POEMS_FILE).read_text(encoding="utf-8")


def _well_formed_poems_text() -> str:
    """Only the poems that pass the form check, each once: cleaner for a small model (charlm.poetry)."""
    from charlm.poetry import well_formed_corpus

    return well_formed_corpus(_poems_text())


BUILTIN: dict[str, Callable[[], str]] = {
    PYDOC: _pydoc_text,
    POEMS: _poems_text,
    POEMS_WELL_FORMED: _well_formed_poems_text,
}


def builtin_text(name: str) -> str:
    if name not in BUILTIN:
        raise DataError(f"unknown built-in corpus {name!r}; choose one of: {', '.join(BUILTIN)}")
    return BUILTIN[name]()


@functools.cache
def builtin_vocab_size(name: str) -> int:
    """How many ids a model of a built-in corpus has (its distinct characters and the unknown id): the Train tab
    shows the recipe for it before anything is trained."""
    return len(set(builtin_text(name))) + 1


SOURCES = ("file", "paste", "builtin")


def load_source(
    source: str, path: str | None, pasted: str | None, builtin: str | None, max_bytes: int
) -> tuple[str, str]:
    """(text, name) of the training text a user chose: an uploaded file, pasted text or a built-in corpus."""
    if source == "file":
        if not path:
            raise DataError("upload a .txt file first (or choose pasted text or the built-in corpus)")
        return read_text(path, max_bytes=max_bytes), Path(path).name
    if source == "paste":
        return check_text(pasted or "", "the pasted text", max_bytes=max_bytes), "pasted text"
    if source == "builtin":
        return builtin_text(builtin or PYDOC), builtin or PYDOC
    raise DataError(f"corpus source must be one of {', '.join(SOURCES)}, not {source!r}")
