"""Small things every tab shares: turning a user's mistake into a message on the page, in the user's language."""

from __future__ import annotations

import functools
import inspect
import logging
import math
import secrets
from collections.abc import Callable

import gradio as gr

from charlm.errors import CharlmError
from charlm.memory import release as release_memory
from charlm.ui.i18n import label_text, lang_of, tr_error, ui_text

log = logging.getLogger("charlm")


def _request_in(args: tuple, kwargs: dict) -> gr.Request | None:
    return next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)


def error(message: str, lang: str) -> gr.Error:
    """A ``gr.Error`` whose message (an English error of charlm) and title are in ``lang``."""
    return gr.Error(tr_error(lang, message), title=ui_text(lang, "error.title"))


def failure_text(exc: Exception, lang: str = "en") -> str:
    """What ``user_errors`` tells the user about ``exc``, as plain text (for a status line that must not keep saying
    that all is well): a ``CharlmError``'s message in ``lang``, else the short server-error line."""
    if isinstance(exc, gr.Error):
        return tr_error(lang, exc.message)
    if isinstance(exc, CharlmError):
        return tr_error(lang, str(exc))
    return ui_text(lang, "error.server", name=type(exc).__name__)


def user_errors(fn: Callable | None = None, *, heavy: bool = False) -> Callable:
    """Show a ``CharlmError`` as a ``gr.Error`` (a message on the page and over the API), for plain functions and
    generators alike, in the language of the request (``charlm.ui.i18n``; English for API clients that send no
    Accept-Language). Any other exception is a bug: its traceback goes to the server log and the user gets a short
    message, never the traceback. ``heavy=True`` gives memory back to the OS afterwards (``charlm.memory``)."""
    if fn is None:
        return functools.partial(user_errors, heavy=heavy)

    def translate(exc: Exception, args: tuple, kwargs: dict) -> gr.Error:
        lang = lang_of(_request_in(args, kwargs))
        if isinstance(exc, gr.Error):  # raised by the UI itself, in English
            return error(exc.message, lang)
        if isinstance(exc, CharlmError):
            return error(str(exc), lang)
        log.exception("unexpected error in %s", fn.__qualname__)
        return gr.Error(ui_text(lang, "error.server", name=type(exc).__name__), title=ui_text(lang, "error.title"))

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - see translate
                raise translate(exc, args, kwargs) from None
            finally:
                if heavy:
                    release_memory()

        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - see translate
            raise translate(exc, args, kwargs) from None
        finally:
            if heavy:
                release_memory()

    return call


def session_key(request: gr.Request | None) -> str:
    """Who is calling: Gradio's session hash, or, for a caller that sent none (a direct HTTP call of an unqueued
    event), a temporary user of its own for this one request, never one user shared by every such caller."""
    key = getattr(request, "session_hash", None) if request is not None else None
    return key if isinstance(key, str) and key else f"anon-{secrets.token_hex(16)}"


def fmt_time(sec: float | None, lang: str = "en") -> str:
    if sec is None:
        return "?"
    if sec < 120:
        return ui_text(lang, "common.seconds", n=f"{sec:.0f}")
    return ui_text(lang, "common.minutes", n=f"{sec / 60:.1f}")


MAX_ABS = 1e12  # larger than any setting this app has; bigger values are a mistake or an attack


def as_number(value: object, field: str, integer: bool = False) -> float | int:
    """A number from an untrusted field: text, NaN, infinities and absurd sizes get a message naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CharlmError(f"{field} must be a number, not {value!r}")
    if not math.isfinite(value) or abs(value) > MAX_ABS:
        raise CharlmError(f"{field} must be a finite number of sensible size, not {value!r}")
    return int(round(value)) if integer else value


def _label(component: gr.components.Component, lang: str = "en") -> str:
    return label_text(component, lang) or component.elem_id or "a number field"


def _guarded(component: gr.components.Component) -> gr.components.Component:
    """Check what an API client sends before Gradio's own rounding and bounds checks, so ``"abc"``, ``NaN`` or
    ``Infinity`` get a message naming the field instead of a server error. (An instance attribute, not a
    subclass: Gradio writes stub files next to any module that subclasses a component.)"""
    parent = component.preprocess

    def preprocess(payload):
        if payload is not None:
            lang = lang_of()  # the request Gradio is serving, when it has set one
            try:
                as_number(payload, _label(component, lang))
            except CharlmError as exc:
                raise error(str(exc), lang) from None
        return parent(payload)

    component.preprocess = preprocess
    return component


def Number(*args, **kwargs) -> gr.Number:  # noqa: N802 - used like the component it makes
    """``gr.Number`` that refuses text, NaN and infinities with a message naming the field."""
    return _guarded(gr.Number(*args, **kwargs))


def Slider(*args, **kwargs) -> gr.Slider:  # noqa: N802 - used like the component it makes
    """``gr.Slider`` with the same checks as ``Number``."""
    return _guarded(gr.Slider(*args, **kwargs))
