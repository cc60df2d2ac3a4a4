"""Every value a request carries is checked for type and size before Gradio converts it or a handler reads it.

Why here and not in each handler: a handler sees a value only after Gradio has preprocessed it, and some handlers
convert text (OpenCC, JSON, the vocabulary) before they could check its length; Gradio's own checks answer with
Python reprs (``Value: 5 (type: <class 'int'>) is not in the list of choices``) or with no message at all
(``{"error": null}`` for a slider sent ``"abc"``). ``install`` wraps the Blocks' ``process_api``, the one function
every route (the queue, ``/gradio_api/call``, and ``/gradio_api/run`` for the few unqueued events) goes through,
and checks the raw payload of every input against its component, in the request's language:

- text (Textbox, Code, a ``str`` parameter of ``gr.api``): a string of at most the field's cap (``TEXT_CAPS`` by
  ``elem_id``, ``API_CAPS`` by parameter name, else ``Limits.max_text_chars``);
- choices (Dropdown, Radio, CheckboxGroup): a scalar (or a list of them), short, and one of the choices the
  session's copy of the component offers now;
- numbers (Number, Slider, an ``int``/``float`` parameter): a finite number inside the component's range;
- anything else a client sends (a chat history, a file reference): at most ``Limits.max_text_chars`` as JSON.

(The request body as a whole is capped before it is parsed: ``charlm.ui.uploads``.)
"""

from __future__ import annotations

import functools
import inspect
import json

import gradio as gr

from charlm.errors import CharlmError
from charlm.ui.common import as_number, error
from charlm.ui.i18n import label_text, lang_of, ui_text
from charlm.ui.limits import Limits

# Short fields: a cap well above any sensible value (so the handler's own, more precise message still decides)
# and far below what could cost anything to convert. Fields not listed get ``Limits.max_text_chars``.
SHORT = 1000
TEXT_CAPS = {
    "poem-title": SHORT,  # charlm.poetry allows 30 characters; OpenCC converts what it is given
    "poem-first-line": SHORT,
    "chat-you": SHORT,
    "chat-them": SHORT,
    "train-name": SHORT,
    "prompt": 100_000,  # the chat keeps only the model's context window of it
    "inspect-text": 20_000,  # charlm.inspection reads 2,000
    "learn-attention-text": 20_000,
    "learn-recurrent-text": 20_000,
    "learn-dec-prompt": 20_000,
}
API_CAPS = {"message": 100_000, "model": SHORT, "mode": SHORT, "you": SHORT, "them": SHORT}  # gr.api parameters
MAX_CHOICE_CHARS = 1000  # one choice (a model name may be typed)
MAX_ITEMS = 100  # choices in one CheckboxGroup or multiselect Dropdown
SHOWN_CHOICES = 12  # choices listed in a message
TEXT_TYPES = (gr.Textbox, gr.Code)
CHOICE_TYPES = (gr.Dropdown, gr.Radio, gr.CheckboxGroup)
NUMBER_TYPES = (gr.Number, gr.Slider)


def _kind(value: object, lang: str) -> str:
    """What a value is, in words a user of any client understands (never a Python repr), in ``lang``."""
    if isinstance(value, bool):
        key = "bool"
    elif isinstance(value, (int, float)):
        key = "number"
    elif isinstance(value, (list, tuple)):
        key = "list"
    elif isinstance(value, dict):
        key = "object"
    else:
        key = "empty" if value is None else "text"
    return ui_text(lang, f"guard.kind.{key}")


def _short(value: object, n: int = 40) -> str:
    text = str(value)
    return repr(text if len(text) <= n else text[:n] + "…")


def check_text(value: object, field: str, cap: int, lang: str = "en") -> None:
    """Refuse anything but text (or nothing) and text longer than ``cap``, before anything reads it."""
    if value is None:
        return
    if not isinstance(value, str):
        raise CharlmError(f"{field} must be text, not {_kind(value, lang)}")
    if len(value) > cap:
        raise CharlmError(f"{field} has {len(value):,} characters; this server accepts at most {cap:,} here")


def check_size(value: object, field: str, cap: int) -> None:
    """Any other value (a Chatbot's history, a file reference): at most ``cap`` characters as JSON."""
    if isinstance(value, (list, dict, str)):
        size = len(json.dumps(value, ensure_ascii=False, default=str))
        if size > cap:
            raise CharlmError(f"{field} has {size:,} characters of data; this server accepts at most {cap:,} here")


def _choice_values(component: gr.components.Component) -> list:
    return [c[1] if isinstance(c, (tuple, list)) else c for c in (getattr(component, "choices", None) or [])]


def check_choice(value: object, field: str, component: gr.components.Component, lang: str = "en") -> None:
    """A scalar (a list of them for multi-choice fields), short, and one of the component's choices."""
    multi = isinstance(component, gr.CheckboxGroup) or getattr(component, "multiselect", False)
    if value is None:
        return
    items = value if multi and isinstance(value, list) else [value]
    if multi and not isinstance(value, list) and not isinstance(value, (str, int, float)):
        raise CharlmError(f"{field} must be a list of choices, not {_kind(value, lang)}")
    if len(items) > MAX_ITEMS:
        raise CharlmError(f"{field} has {len(items):,} items; this server accepts at most {MAX_ITEMS}")
    custom = getattr(component, "allow_custom_value", False)
    options = _choice_values(component)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise CharlmError(f"{field} must be one of the choices, not {_kind(item, lang)}")
        if isinstance(item, str) and len(item) > MAX_CHOICE_CHARS:
            raise CharlmError(f"{field} has {len(item):,} characters; this server accepts at most "
                              f"{MAX_CHOICE_CHARS:,} here")  # fmt: skip
        if not custom and options and item not in options:
            shown = ", ".join(map(str, options[:SHOWN_CHOICES])) + (", …" if len(options) > SHOWN_CHOICES else "")
            raise CharlmError(f"{field} must be one of {shown}, not {_short(item)}")


def check_number(value: object, field: str, component: gr.components.Component | None, lang: str = "en") -> None:
    """A finite number of sensible size, inside the component's range (a slider also refuses nothing at all)."""
    if value is None:
        if isinstance(component, gr.Slider):
            raise CharlmError(f"{field} must be a number, not {_kind(None, lang)}")
        return
    number = as_number(value, field)
    low, high = getattr(component, "minimum", None), getattr(component, "maximum", None)
    if (low is not None and number < low) or (high is not None and number > high):
        raise CharlmError(f"{field} must be between {low:g} and {high:g}, not {number:g}")


def _annotations(block_fn) -> list[tuple[str, object]]:
    """(name, annotation) of a ``gr.api`` function's parameters that the client fills, in order."""
    try:
        params = inspect.signature(block_fn.fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [(p.name, p.annotation) for p in params if p.annotation is not gr.Request and p.name != "request"]


class Guard:
    """The checks of one app: its limits and where each text field's cap comes from."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def text_cap(self, component: gr.components.Component) -> int:
        own = getattr(component, "charlm_max_chars", None)
        if own is not None:
            return int(own)
        return TEXT_CAPS.get(component.elem_id or "", self.limits.max_text_chars)

    def check(self, block_fn, inputs: list, state, lang: str) -> None:
        """Raise a CharlmError naming the first input that is the wrong type or too big."""
        api = None
        for i, block in enumerate(block_fn.inputs):
            if i >= len(inputs) or getattr(block, "stateful", False):
                continue
            current = state[block._id] if state is not None and block._id in state else block
            value = inputs[i]
            field = label_text(current, lang) or current.elem_id or f"input {i + 1}"
            if isinstance(current, TEXT_TYPES):
                check_text(value, field, self.text_cap(block), lang)
            elif isinstance(current, CHOICE_TYPES):
                check_choice(value, field, current, lang)
            elif isinstance(current, NUMBER_TYPES):
                check_number(value, field, current, lang)
            elif type(current).__name__ != "Api":  # anything else (a chat history, a file's reference): its size
                check_size(value, field, self.limits.max_text_chars)
            else:
                api = _annotations(block_fn) if api is None else api
                name, kind = api[i] if i < len(api) else (field, None)
                if kind is str or kind == "str":
                    check_text(value, name, API_CAPS.get(name, self.limits.max_text_chars), lang)
                elif kind in (int, float, "int", "float"):
                    check_number(value, name, None, lang)


def install(demo: gr.Blocks, limits: Limits) -> Guard:
    """Check every request's inputs before Gradio's preprocessing (see the module's docstring)."""
    guard = Guard(limits)
    original = demo.process_api

    @functools.wraps(original)
    async def process_api(block_fn, inputs, state=None, request=None, *args, **kwargs):
        # A streaming handler's later steps come back here with its running iterator: its inputs were checked when
        # it started, and are not read again (checking them at every streamed update cost the server's event loop).
        iterator = args[0] if args else kwargs.get("iterator")
        if iterator is None:
            fn = demo.fns[block_fn] if isinstance(block_fn, int) else block_fn
            lang = lang_of(request[0] if isinstance(request, list) and request else request)
            try:
                if not getattr(fn, "batch", False):  # (no event of this app is batched)
                    guard.check(fn, list(inputs or []), state, lang)
            except CharlmError as exc:
                raise error(str(exc), lang) from None
        return await original(block_fn, inputs, state, request, *args, **kwargs)

    demo.process_api = process_api
    demo.charlm_guard = guard
    return guard


__all__ = ["API_CAPS", "TEXT_CAPS", "Guard", "check_choice", "check_number", "check_text", "install"]
