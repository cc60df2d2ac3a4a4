"""The Backprop tab's picture, equations and preset notes in the user's language.

``charlm.backprop`` draws the network and writes each step's title in English (the CLI prints them). The
equations and numbers are symbols and stay as they are; the few words around them are put in the user's
language here: the step's title is rebuilt from its phase and layer, and the SVG's text nodes (header, column
names, legend, "inactive ReLU", tooltips) are matched one by one. ``tests/test_i18n.py`` draws every step of every
preset in Chinese and fails when an English word is left, so a change to the drawing shows up there.
"""

from __future__ import annotations

import html
import re

from charlm.backprop.spec import Spec
from charlm.backprop.trace import fmt, trace_html
from charlm.ui.i18n import EN_LANG, text, text_or

_HEADER = re.compile(r"step (\d+) of (\d+): (input|forward|loss|backward|update)(?: \(layer (\d+)\))?$")
_COLUMN = re.compile(r"layer (\d+) \(([^()]*)\)")
_VALUE = re.compile(r"value ([^,]*)(, δ .*)?")
_MORE = re.compile(r"… \((\d+) more\)")
_NODES = re.compile(r"(<text [^>]*>|<title>)([^<]*)(</text>|</title>)")
LEGEND = ("blue = positive weight, orange = negative, thickness ∝ |w|;  ∂ = ∂L/∂w;  δ = ∂L/∂z (red);  "
          "dashed grey = inactive ReLU (z ≤ 0, so δ = 0)")  # fmt: skip


def step_title(st: dict, spec: Spec, lang: str) -> str:
    """A trace step's title (``charlm.backprop.trace``) from its phase and layer."""
    phase, layer = st["phase"], st["layer"]
    fields = {"layer": layer, "loss": spec.loss, "lr": fmt(spec.lr)}
    if phase == "forward":
        fields["act"] = spec.activations[layer - 1]
    return text(lang, f"bp.title.{phase}", **fields)


def equations_html(st: dict, spec: Spec, lang: str) -> str:
    """``trace_html`` of one step with its title and words in ``lang`` (the English is the core's own)."""
    if lang == EN_LANG:
        return trace_html(st)
    numbers = [_MORE.sub(lambda m: text(lang, "bp.more", n=m.group(1)), line)
               .replace("(inactive: z ≤ 0)", text(lang, "bp.inactive_z")) for line in st["numbers"]]  # fmt: skip
    out = trace_html(dict(st, title=step_title(st, spec, lang), numbers=numbers))
    head = f">Step {st['index']}: "
    return out.replace(head, ">" + html.escape(text(lang, "bp.step_title", k=st["index"])), 1)


def _node(content: str, lang: str) -> str:
    raw = html.unescape(content)
    if raw == LEGEND:
        return text(lang, "bp.legend")
    if raw == "inactive ReLU":
        return text(lang, "bp.inactive")
    if raw == "input":
        return text(lang, "bp.column.input")
    if m := _COLUMN.fullmatch(raw):
        return text(lang, "bp.column.layer", layer=m.group(1), act=m.group(2))
    if m := _VALUE.fullmatch(raw):
        return text(lang, "bp.value", value=m.group(1)) + (m.group(2) or "")
    if m := _HEADER.search(raw):
        phase = text(lang, f"bp.phase.{m.group(3)}")
        where = text(lang, "bp.header.layer", layer=m.group(4)) if m.group(4) else ""
        name = raw[: m.start()].removesuffix(": ")
        head = text(lang, "bp.header", k=m.group(1), last=m.group(2), phase=phase, where=where)
        return f"{text_or(lang, f'bp.preset.{name}', name)}：{head}" if name else head
    return raw


def localize_svg(svg: str, lang: str) -> str:
    """The SVG of ``charlm.backprop.svg.render_svg`` with its words in ``lang``."""
    if lang == EN_LANG:
        return svg
    return _NODES.sub(lambda m: m.group(1) + html.escape(_node(m.group(2), lang)) + m.group(3), svg)


def preset_note(name: str, note: str, lang: str) -> str:
    """A preset's explanation in ``lang`` (``bp.note.<preset>``), else the core's English note."""
    return note if lang == EN_LANG else text_or(lang, f"bp.note.{name}", note)
