"""The app in English, simplified Chinese and traditional Chinese, chosen from the browser's language.

Two mechanisms, because Gradio translates only in the browser:

- **Static text** (labels, info, placeholders, buttons, tabs, accordions, choice labels, Markdown written when the
  page is built): ``t("chat.mode")`` returns a ``I18nData`` key; ``launch(i18n=I18N)`` sends every table to the
  browser, which shows the text of its own language (``navigator.language``: zh-CN and zh-TW get Chinese, anything
  else English). Text with numbers in it (``t("limits.line", mb=50)``) or built by a function (``static(render)``)
  gets a key of its own, filled in every language when the page is built.
- **Text a handler makes** (status lines, notices, the model card, errors): the server writes it in the language of
  the request's ``Accept-Language`` header, ``tr(request, "train.stopping")`` and ``tr_error(request, message)``.
  ``gr.Error`` messages never pass through the browser's tables, so this is the only way to translate them.

The tables are ``locales/en.json`` and ``locales/zh-CN.json`` (flat ``section.name`` keys, ``{field}``
placeholders as in ``str.format``); zh-TW is made from zh-CN with OpenCC's ``s2twp`` (Taiwan phrasing) at import,
since Gradio shows English to a zh-TW browser that has no table of its own. Error messages have their own table
(``locales/messages.zh-CN.json``, see ``charlm.ui.messages``).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import gradio as gr
from gradio.i18n import I18nData

from charlm.ui.messages import MessageTable, mark, tidy

LOCALES = Path(__file__).with_name("locales")
EN_LANG, ZH_CN, ZH_TW = "en", "zh-CN", "zh-TW"


def _load(name: str) -> dict[str, str]:
    return json.loads((LOCALES / name).read_text(encoding="utf-8"))


# s2twp's phrases suit software UIs; these three are wrong for machine learning (a model's parameters are 參數, not
# a function's arguments 引數; an RNN is a 循環神經網路, not a program loop 迴圈; 激活函數, not "enable" 啟用函式).
TW_FIXES = {"引數": "參數", "迴圈神經": "循環神經", "啟用函式": "激活函數"}


def to_traditional(table: dict[str, str]) -> dict[str, str]:
    """The zh-CN table in Taiwan's traditional characters and phrasing (OpenCC ``s2twp``); {} without opencc."""
    try:
        import opencc
    except ImportError:  # a dependency, but the app still works without it: zh-TW browsers then see English
        warnings.warn("opencc is not installed: no traditional-Chinese interface", stacklevel=2)
        return {}
    convert = opencc.OpenCC("s2twp").convert

    def fix(value: str) -> str:
        for wrong, right in TW_FIXES.items():
            value = value.replace(wrong, right)
        return value

    return {key: fix(convert(value)) for key, value in table.items()}


EN = _load("en.json")
ZH = _load("zh-CN.json")
TABLES: dict[str, dict[str, str]] = {EN_LANG: EN, ZH_CN: ZH, ZH_TW: to_traditional(ZH)}
# gr.I18n keeps these very dicts, so keys added while the app is built (``t`` with fields, ``static``) reach the
# browser with the config at launch.
I18N = gr.I18n(**TABLES)
_MESSAGES_ZH = _load("messages.zh-CN.json")
# names the core puts into messages ("the pasted text is empty"): the corpus names of the UI tables
_NAMES = {lang: {k[len("corpus.") :]: v for k, v in TABLES[lang].items() if k.startswith("corpus.")} for lang in TABLES}
MESSAGES = {
    ZH_CN: MessageTable(_MESSAGES_ZH, "；", _NAMES[ZH_CN]),
    ZH_TW: MessageTable(to_traditional(_MESSAGES_ZH), "；", _NAMES[ZH_TW]),
}


# --- the language of a request -----------------------------------------------------------------------------------
def lang_from_header(header: str | None) -> str:
    """The table for an ``Accept-Language`` header: the first (most preferred) language decides, as in the browser.
    zh-TW / zh-HK / zh-MO / zh-Hant -> traditional; any other zh -> simplified; anything else -> English."""
    best, best_q = "", -1.0
    for part in (header or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > best_q:
            best, best_q = tag.strip().lower(), q
    if best in ("zh-tw", "zh-hk", "zh-mo") or best.startswith("zh-hant"):
        return ZH_TW
    if best == "zh" or best.startswith("zh-"):
        return ZH_CN
    return EN_LANG


def lang_of(request: gr.Request | str | None = None) -> str:
    """The language of a request (its Accept-Language header); a language code passes through. Without a request,
    the one Gradio is serving in this thread (set for every event), else English."""
    if isinstance(request, str):
        return request if request in TABLES else EN_LANG
    if request is None:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
    if request is None:
        return EN_LANG
    try:
        headers = request.headers
    except AttributeError:  # a Request made by hand, without headers
        return EN_LANG
    header = headers.get("accept-language") if hasattr(headers, "get") else None
    return lang_from_header(header)


# --- text ----------------------------------------------------------------------------------------------------------
def ui_text(lang: str, key: str, **fields) -> str:
    """A key's text in a language (English where the language lacks it), with its fields filled in."""
    value = TABLES.get(lang, EN).get(key) or EN.get(key)
    if value is None:
        raise KeyError(f"no UI text {key!r} in charlm/ui/locales/en.json")
    return tidy(value.format(**{k: mark(v) for k, v in fields.items()})) if fields else value


def tr(request: gr.Request | str | None, key: str, **fields) -> str:
    """A key's text in the language of the request (for handlers: status lines, notices, the model card)."""
    return ui_text(lang_of(request), key, **fields)


def t(key: str, **fields) -> I18nData:
    """Static component text, translated by the browser. With fields, a key of its own is made for this text,
    in every language: call it while the page is built, not in a handler (the browser has its tables by then)."""
    if not fields:
        ui_text(EN_LANG, key)  # a typo fails when the page is built, not as a raw key on the page
        return I18N(key)
    return static(lambda lang: ui_text(lang, key, **fields), key)


def t_or(key: str, default: str) -> I18nData | str:
    """``t(key)``, or ``default`` as it is when the table has no such key (a corpus or preset added later)."""
    return t(key) if key in EN else default


def static(render: Callable[[str], str], prefix: str = "static") -> I18nData:
    """Text written by a function of the language (``render("zh-CN")``), as one browser-translated key."""
    versions = {lang: render(lang) for lang in TABLES}
    digest = hashlib.sha1(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:12]
    key = f"{prefix}#{digest}"
    for lang, table in TABLES.items():
        table[key] = versions[lang]
    return I18N(key)


def choices(pairs: list[tuple[str, str]]) -> list[tuple[I18nData, str]]:
    """Radio/Dropdown choices: (key of the label, value); the handler still receives the English value."""
    return [(t(key), value) for key, value in pairs]


def tr_error(request: gr.Request | str | None, message: str) -> str:
    """An error message or notice in the request's language (English when no template matches it)."""
    table = MESSAGES.get(lang_of(request))
    return table.render(message) if table is not None else message


def label_text(component: object, lang: str = EN_LANG) -> str:
    """A component's label as text in a language, for messages that name the field."""
    late = getattr(component, "charlm_label", None)
    if late is not None:
        return ui_text(lang, late[0], **late[1])
    label = getattr(component, "label", None)
    if isinstance(label, I18nData):
        return TABLES.get(lang, EN).get(label.key) or EN.get(label.key, label.key)
    return str(label or "")


# --- what the browser cannot translate: set in the user's language when the page loads ----------------------------
# Gradio 6.31's browser translates labels of most components, but shows "[object Object]" for the label of a
# Slider, File, Plot, Chatbot or Code given a key (checked with chromium). Those get their English label at build
# time and the user's language from one ``demo.load`` event; so do big values drawn at build time (the Backprop
# picture, the Inspect example), which would cost every page three copies as static keys.
_LATE: list[tuple[object, Callable[[str], dict]]] = []


def late_label(component, key: str, **fields):
    """Give ``component`` its English label now and the user's language when the page loads; returns it."""
    component.label = ui_text(EN_LANG, key, **fields)
    component.charlm_label = (key, fields)  # for messages that name the field (charlm.ui.common)
    _LATE.append((component, lambda lang: {"label": ui_text(lang, key, **fields)}))
    return component


def late_value(component, render: Callable[[str], object]):
    """Set ``component``'s value to ``render(lang)`` when a page in another language than English loads."""
    _LATE.append((component, lambda lang: {"value": render(lang)}))
    return component


def late_props(component, render: Callable[[str], dict]):
    """Set any of ``component``'s properties to ``render(lang)`` when a page in another language loads (a plot's
    axis titles: the API keeps returning plain values, the page shows the reader's words)."""
    _LATE.append((component, render))
    return component


def axis_titles(x_key: str, y_key: str, **fields) -> Callable[[str], dict]:
    """For ``late_props``: a plot's x and y axis titles from two keys."""
    return lambda lang: {"x_title": ui_text(lang, x_key, **fields), "y_title": ui_text(lang, y_key, **fields)}


def attach_late(demo: gr.Blocks) -> None:
    """One load event for everything ``late_label`` / ``late_value`` registered while ``demo`` was built."""
    mine = [(c, r) for c, r in _LATE if demo.blocks.get(getattr(c, "_id", None)) is c]
    _LATE.clear()
    components = list(dict.fromkeys(c for c, _ in mine))
    if not components:
        return

    def localize(request: gr.Request):
        lang = lang_of(request)
        if lang == EN_LANG:
            return [gr.skip()] * len(components)
        props: dict[int, dict] = {}
        for comp, render in mine:
            props.setdefault(id(comp), {}).update(render(lang))
        return [gr.update(**props[id(c)]) for c in components]

    demo.load(localize, None, components, api_name="localize", api_visibility="private", queue=False,
              show_progress="hidden")  # fmt: skip


def text_or(lang: str, key: str, default: str) -> str:
    """A key's text, or ``default`` when the key does not exist (names that may grow: kinds, corpora, presets)."""
    return ui_text(lang, key) if key in EN else default


def chars_list(lang: str, chars, limit: int = 8) -> str:
    """``charlm.vocab.describe_chars`` with its "and N more" in a language."""
    from charlm.vocab import describe_chars

    chars = list(chars)
    more = ui_text(lang, "common.and_more", n=len(chars) - limit) if len(chars) > limit else ""
    return describe_chars(chars[:limit]) + more


def corpus_label(lang: str, name: str) -> str:
    """A built-in corpus's name in a language (its key is ``corpus.`` + the name); other names stay as they are."""
    return text_or(lang, f"corpus.{name}", name)


__all__ = ["I18N", "attach_late", "axis_titles", "chars_list", "choices", "corpus_label", "label_text",
           "lang_from_header", "lang_of", "late_label", "late_props", "late_value", "static", "t", "t_or", "text_or",
           "ui_text", "tr", "tr_error"]  # fmt: skip
