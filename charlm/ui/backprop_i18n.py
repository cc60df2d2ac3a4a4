"""The Backprop tab's picture, equations and preset notes in the user's language.

``charlm.backprop`` draws the network and writes each step's title in English (the CLI prints them). The
equations and numbers are symbols and stay as they are; the few words around them are put in the user's
language here: the step's title is rebuilt from its phase and layer, and the drawing takes its words as data
(``svg_labels``, a ``charlm.backprop.svg.Labels``). ``tests/test_i18n.py`` draws every step of every preset in
Chinese and fails when an English word is left, so a new word in the drawing shows up there.
"""

from __future__ import annotations

import html
import re

from charlm.backprop.spec import Spec
from charlm.backprop.svg import ENGLISH, Labels
from charlm.backprop.trace import fmt, trace_html
from charlm.ui.i18n import EN_LANG, text_or, ui_text

_MORE = re.compile(r"… \((\d+) more\)")


def step_title(st: dict, spec: Spec, lang: str) -> str:
    """A trace step's title (``charlm.backprop.trace``) from its phase and layer."""
    phase, layer = st["phase"], st["layer"]
    fields = {"layer": layer, "loss": spec.loss, "lr": fmt(spec.lr)}
    if phase == "forward":
        fields["act"] = spec.activations[layer - 1]
    return ui_text(lang, f"bp.title.{phase}", **fields)


def equations_html(st: dict, spec: Spec, lang: str) -> str:
    """``trace_html`` of one step with its title and words in ``lang`` (the English is the core's own)."""
    if lang == EN_LANG:
        return trace_html(st)
    numbers = [_MORE.sub(lambda m: ui_text(lang, "bp.more", n=m.group(1)), line)
               .replace("(inactive: z ≤ 0)", ui_text(lang, "bp.inactive_z")) for line in st["numbers"]]  # fmt: skip
    out = trace_html(dict(st, title=step_title(st, spec, lang), numbers=numbers))
    head = f">Step {st['index']}: "
    return out.replace(head, ">" + html.escape(ui_text(lang, "bp.step_title", k=st["index"])), 1)


def svg_labels(lang: str) -> Labels:
    """The drawing's words (``charlm.backprop.svg.render_svg``) in ``lang``; a preset's name is translated too."""
    if lang == EN_LANG:
        return ENGLISH

    def header(name: str, k: int, last: int, phase: str, layer: int | None) -> str:
        where = ui_text(lang, "bp.header.layer", layer=layer) if layer else ""
        head = ui_text(lang, "bp.header", k=k, last=last, phase=ui_text(lang, f"bp.phase.{phase}"), where=where)
        return f"{text_or(lang, f'bp.preset.{name}', name)}：{head}" if name else head

    return Labels(
        header=header,
        input=ui_text(lang, "bp.column.input"),
        layer=lambda layer, act: ui_text(lang, "bp.column.layer", layer=layer, act=act),
        value=lambda value: ui_text(lang, "bp.value", value=value),
        inactive=ui_text(lang, "bp.inactive"),
        legend=ui_text(lang, "bp.legend"),
    )


def preset_note(name: str, note: str, lang: str) -> str:
    """A preset's explanation in ``lang`` (``bp.note.<preset>``), else the core's English note."""
    return note if lang == EN_LANG else text_or(lang, f"bp.note.{name}", note)
