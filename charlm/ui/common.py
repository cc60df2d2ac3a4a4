"""Small things every tab shares: turning a user's mistake into a message on the page."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import gradio as gr

from charlm.errors import CharlmError


def user_errors(fn: Callable) -> Callable:
    """Show a ``CharlmError`` as a ``gr.Error`` (a message on the page and over the API), for plain functions and
    generators alike; any other exception is a bug and keeps its traceback in the server log."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except CharlmError as exc:
                raise gr.Error(str(exc)) from None

        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CharlmError as exc:
            raise gr.Error(str(exc)) from None

    return call


def fmt_time(sec: float | None) -> str:
    if sec is None:
        return "?"
    return f"{sec:.0f} s" if sec < 120 else f"{sec / 60:.1f} min"
