"""Built-in training texts that work offline everywhere, so a first model is one click away."""

from __future__ import annotations

from collections.abc import Callable

from charlm.errors import DataError

PYDOC = "Python documentation (pydoc_data)"


def _pydoc_text() -> str:
    """The language reference topics that ship with every CPython (``help('if')`` reads them): ~460k chars."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k].strip("\n") for k in sorted(topics)) + "\n"


BUILTIN: dict[str, Callable[[], str]] = {PYDOC: _pydoc_text}


def builtin_text(name: str) -> str:
    if name not in BUILTIN:
        raise DataError(f"unknown built-in corpus {name!r}; choose one of: {', '.join(BUILTIN)}")
    return BUILTIN[name]()
