"""Small things every tab shares: turning a user's mistake into a message on the page."""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable

import gradio as gr

from charlm.errors import CharlmError
from charlm.memory import release as release_memory

log = logging.getLogger("charlm")


def user_errors(fn: Callable | None = None, *, heavy: bool = False) -> Callable:
    """Show a ``CharlmError`` as a ``gr.Error`` (a message on the page and over the API), for plain functions and
    generators alike. Any other exception is a bug: its traceback goes to the server log and the user gets a short
    message, never the traceback. ``heavy=True`` gives memory back to the OS afterwards (``charlm.memory``)."""
    if fn is None:
        return functools.partial(user_errors, heavy=heavy)

    def translate(exc: Exception) -> gr.Error:
        if isinstance(exc, CharlmError):
            return gr.Error(str(exc))
        log.exception("unexpected error in %s", fn.__qualname__)
        return gr.Error(f"something went wrong on the server ({type(exc).__name__}); it has been logged")

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:  # noqa: BLE001 - see translate
                raise translate(exc) from None
            finally:
                if heavy:
                    release_memory()

        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - see translate
            raise translate(exc) from None
        finally:
            if heavy:
                release_memory()

    return call


def fmt_time(sec: float | None) -> str:
    if sec is None:
        return "?"
    return f"{sec:.0f} s" if sec < 120 else f"{sec / 60:.1f} min"


MAX_ABS = 1e12  # larger than any setting this app has; bigger values are a mistake or an attack


def as_number(value: object, field: str, integer: bool = False) -> float | int:
    """A number from an untrusted field: text, NaN, infinities and absurd sizes get a message naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CharlmError(f"{field} must be a number, not {value!r}")
    if not math.isfinite(value) or abs(value) > MAX_ABS:
        raise CharlmError(f"{field} must be a finite number of sensible size, not {value!r}")
    return int(round(value)) if integer else value


def _label(component: gr.components.Component) -> str:
    return str(component.label or component.elem_id or "a number field")


def _guarded(component: gr.components.Component) -> gr.components.Component:
    """Check what an API client sends before Gradio's own rounding and bounds checks, so ``"abc"``, ``NaN`` or
    ``Infinity`` get a message naming the field instead of a server error. (An instance attribute, not a
    subclass: Gradio writes stub files next to any module that subclasses a component.)"""
    parent = component.preprocess

    def preprocess(payload):
        if payload is not None:
            try:
                as_number(payload, _label(component))
            except CharlmError as exc:
                raise gr.Error(str(exc)) from None
        return parent(payload)

    component.preprocess = preprocess
    return component


def Number(*args, **kwargs) -> gr.Number:  # noqa: N802 - used like the component it makes
    """``gr.Number`` that refuses text, NaN and infinities with a message naming the field."""
    return _guarded(gr.Number(*args, **kwargs))


def Slider(*args, **kwargs) -> gr.Slider:  # noqa: N802 - used like the component it makes
    """``gr.Slider`` with the same checks as ``Number``."""
    return _guarded(gr.Slider(*args, **kwargs))
