"""The Inspect tab: see inside the selected model on a text of your choice.

How sure it was of every character (surprise), what each GPT attention head reads, what an LSTM/GRU/RNN carries
in its hidden units (and which unit tracks quotes, line position, capitals...), and which characters it thinks are
alike (its character vectors). Everything comes from ``charlm.inspection.inspect_text``, the call behind
``python -m charlm inspect``; the tab opens with the shipped model's example already drawn.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from charlm.errors import CharlmError
from charlm.inspection import MAX_CHARS, attention_maps, inspect_text
from charlm.poetry import writes_poems
from charlm.ui import inspect_figures as figs
from charlm.ui.common import session_key, user_errors
from charlm.ui.i18n import choices, lang_of, late_label, late_value, static, t, text_or, tr_error, ui_text
from charlm.ui.lens_view import build_lens_section
from charlm.ui.registry import ModelRegistry

EXAMPLE = (
    "ROMEO:\nBut soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n\n"
    "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name.\n"
)


class OneHead:
    """One head's attention (T, T), standing in for the (layers, heads, T, T) array the figures index: the
    session keeps this instead of every head's matrices (issue 19: 4.1 GB held for an hour); another head is
    recomputed when it is picked (``_wire``'s ``redraw_attention``)."""

    def __init__(self, att) -> None:
        self.layer, self.head = att.kept if att.kept is not None else (0, 0)
        w = att.weights.numpy()
        self.m = w[0, 0] if att.kept is not None else w[self.layer, self.head]
        self.shape = (*att.shape, *self.m.shape)

    def holds(self, layer: int, head: int) -> bool:
        return (layer, head) == (self.layer, self.head)

    def __getitem__(self, key):
        layer, head, *rest = key
        if not self.holds(layer, head):
            raise KeyError(f"layer {layer} head {head} is not kept")
        return self.m[tuple(rest)] if rest else self.m


def view_data(report, model: str = "") -> dict:
    """What the tab keeps per session (gr.State): the report's JSON with one head's attention (``OneHead``), and
    the model's name to recompute another head. ``render`` draws from it, then ``kept`` trims it."""
    out = report.to_json(arrays=False)
    out["attention"] = OneHead(report.attention) if report.attention is not None else None
    out["attention_chars"] = report.attention_text
    out["hidden"] = report.hidden
    out["model"] = model
    out["gates"] = report.gates  # LSTM/GRU: {gate name: (len(text), hidden_size)}, else None
    return out


def kept(d: dict | None) -> dict | None:
    """Only what the redraws read (attention's head, its text, the neighbour table): the per-character lists and
    the hidden states are drawn once and need not stay in the session for an hour."""
    if d is None:
        return None
    out = {"arch": d["arch"], "attention": d.get("attention"), "attention_chars": d.get("attention_chars"),
           "embedding": {"neighbours": d["embedding"]["neighbours"]}, "model": d.get("model", "")}  # fmt: skip
    if d.get("gates"):  # a recurrent model's gate picker redraws from the last layer's states (text x hidden)
        out.update({k: d.get(k) for k in ("hidden", "gates", "text", "units")})
    return out


def _status(d: dict, lang: str = "en") -> str:
    if d["bpc"] is None or not math.isfinite(d["bpc"]):  # no known character to predict: no "nan bits/char"
        parts = [ui_text(lang, "insp.status.none", arch=d["arch"].upper())]
    else:
        parts = [ui_text(lang, "insp.status", bpc=f"{d['bpc']:.3f}", n=f"{len(d['chars']):,}", arch=d["arch"].upper())]
    if d.get("attention_max_error") is not None:
        parts.append(ui_text(lang, "insp.status.attention", err=f"{d['attention_max_error']:.0e}"))
    hint = ""
    first_line = d["text"].lstrip("\n").split("\n", 1)[0]
    if d.get("poem_model") and (":" not in first_line or d.get("unknown_chars")):
        hint = "\n\n💡 " + ui_text(lang, "insp.poem_hint")
    return " · ".join(parts) + "".join(f"\n\n⚠ {tr_error(lang, n)}" for n in d["notes"]) + hint


def _columns(lang: str, *names: str) -> dict[str, str]:
    """Table headers in a language (``insp.col.<name>``)."""
    return {name: ui_text(lang, f"insp.col.{name.replace(' ', '_')}") for name in names}


def _worst_table(d: dict, lang: str = "en") -> pd.DataFrame:
    rows = [{"position": r["position"], "char": figs.show(r["char"]), "prob": round(r["prob"], 5),
             "bits": round(r["bits"], 2), "model expected": ", ".join(f"{figs.show(c)} {p:.2f}" for c, p in r["top5"])}
            for r in d["most_surprising"]]  # fmt: skip
    cols = ["position", "char", "prob", "bits", "model expected"]
    return pd.DataFrame(rows, columns=cols).rename(columns=_columns(lang, *cols))


def _units_table(d: dict, lang: str = "en") -> pd.DataFrame:
    rows = [{"unit": r["unit"], "feature": text_or(lang, f"insp.feature.{r['feature']}", r["feature"]),
             "correlation": round(r["correlation"], 3)}
            for r in d.get("units") or []]  # fmt: skip
    cols = ["unit", "feature", "correlation"]
    return pd.DataFrame(rows, columns=cols).rename(columns=_columns(lang, *cols))


def _neighbours_table(d: dict, char: str | None, lang: str = "en") -> pd.DataFrame:
    nn = d["embedding"]["neighbours"].get(char or "", [])
    cols = ["neighbour", "cosine"]
    table = pd.DataFrame([{"neighbour": figs.show(c), "cosine": s} for c, s in nn], columns=cols)
    return table.rename(columns=_columns(lang, *cols))


def _shape(d: dict | None) -> SimpleNamespace:
    """What the selectors offer for a report: layers, heads, query positions, characters."""
    if d is None:
        return SimpleNamespace(gpt=True, layers=[0], heads=[0], last_query=0, chars=[], first_char=None, text="",
                               gates=[])  # fmt: skip
    att, emb = d.get("attention"), d["embedding"]
    text = d.get("attention_chars") or ""
    return SimpleNamespace(
        gpt=d["arch"] == "gpt", text=text, last_query=max(0, len(text) - 1),
        layers=list(range(att.shape[0])) if att is not None else [0],
        heads=list(range(att.shape[1])) if att is not None else [0],
        chars=[(figs.show(c), c) for c in emb["chars"]],
        gates=list(d.get("gates") or {}),
        first_char=next((c for c in emb["chars"] if c.isalpha()), emb["chars"][0]),
    )  # fmt: skip


def _pictures(d: dict | None, lang: str = "en") -> SimpleNamespace:
    """Every picture and table of the tab for a report (empty ones for None), with their words in ``lang``."""
    if d is None:
        return SimpleNamespace(status="", surprise="", worst=None, att=None, query="", hidden=None, units=None,
                               emb=None, neighbours=None)  # fmt: skip
    s = _shape(d)
    att = d.get("attention")
    return SimpleNamespace(
        status=_status(d, lang), surprise=figs.surprise_html(d, lang), worst=_worst_table(d, lang),
        att=figs.attention_figure(att, s.text, 0, 0, lang) if s.gpt else None,
        query=figs.query_html(att, s.text, 0, 0, s.last_query, lang) if s.gpt else "",
        hidden=None if s.gpt else figs.hidden_figure(d["hidden"], d["text"], d["units"], lang),
        units=_units_table(d, lang), emb=figs.embedding_figure(d["embedding"], lang),
        neighbours=_neighbours_table(d, s.first_char, lang),
    )  # fmt: skip


def render(d: dict, lang: str = "en") -> tuple:
    """The ``/inspect`` outputs for one report's view data (words in ``lang``; tables keep English columns)."""
    s, p = _shape(d), _pictures(d, lang)
    return (
        p.status, p.surprise, p.worst, gr.update(visible=s.gpt), gr.update(choices=s.layers, value=0),
        gr.update(choices=s.heads, value=0), gr.update(maximum=max(1, s.last_query), value=s.last_query), p.att,
        p.query, gr.update(visible=not s.gpt), p.hidden, p.units, p.emb, gr.update(choices=s.chars, value=s.first_char),
        p.neighbours, kept(d), gr.update(choices=gate_choices(s.gates, lang), value="hidden", visible=bool(s.gates)),
    )  # fmt: skip


def gate_choices(gates: list[str], lang: str | None = None) -> list:
    """The gate picker's choices: the hidden state, then each gate of this model. A handler's update gives the
    labels in the request's language (``lang``): a translation key cannot be sent over the REST API's stream."""
    pairs = [("insp.gate.hidden", "hidden"), *((f"insp.gate.{g}", g) for g in gates)]
    return choices(pairs) if lang is None else [(ui_text(lang, key), value) for key, value in pairs]


def hidden_or_gate(d: dict, which: str, lang: str = "en"):
    """The hidden-state map, or one gate's map over the same units."""
    gates = d.get("gates") or {}
    if which in gates:
        return figs.gate_figure(gates[which], d["hidden"], d["text"], d["units"], which, lang)
    return figs.hidden_figure(d["hidden"], d["text"], d["units"], lang)


def build_inspect_tab(model_picker: gr.Dropdown, registry: ModelRegistry) -> None:
    """Create the Inspect tab (``/inspect``), opening with the default model's example already drawn."""
    example = None
    if registry.default_name:
        example = view_data(inspect_text(registry.resolve(registry.default_name, ""), EXAMPLE, attention_head=(0, 0)),
                            registry.default_name)  # fmt: skip
    with gr.Tab(t("insp.tab"), elem_id="tab-inspect"):
        gr.Markdown(t("insp.intro", n=f"{MAX_CHARS:,}"))
        v = SimpleNamespace()
        _layout(v, example)
        build_lens_section(model_picker, registry, v.text)  # the logit lens (GPT), charlm.ui.lens_view
    _wire(v, model_picker, registry)


def _layout(v: SimpleNamespace, d: dict | None) -> None:
    s, p = _shape(d), _pictures(d)
    # the example is drawn at build time in English; a page in another language gets its own copy when it loads
    local = functools.lru_cache(maxsize=4)(lambda lang: _pictures(d, lang))
    v.text = gr.Textbox(EXAMPLE, label=t("insp.text", n=f"{MAX_CHARS:,}"), lines=5, max_lines=12,
                        elem_id="inspect-text")  # fmt: skip
    with gr.Row():
        v.run_btn = gr.Button(t("insp.run"), variant="primary", elem_id="inspect-run")
        v.stop_btn = gr.Button(t("common.stop"), variant="stop", elem_id="inspect-stop")
    # (only the status line is needed in every language now: the pictures of another language are drawn when a
    # page in it loads, so building the app does not draw them all)
    status = static(lambda lang: _status(d, lang), "insp.status") if d else ""
    v.status = gr.Markdown(status, elem_id="inspect-status")
    gr.Markdown(t("insp.h.surprise"))
    v.surprise = late_value(gr.HTML(p.surprise, elem_id="inspect-surprise"), lambda g: local(g).surprise)
    v.worst = late_value(gr.DataFrame(p.worst, label=t("insp.worst"), interactive=False, elem_id="inspect-worst"),
                         lambda g: local(g).worst)  # fmt: skip
    with gr.Group(visible=s.gpt, elem_id="inspect-attention") as v.att_group:
        gr.Markdown(t("insp.h.attention"))
        with gr.Row():
            v.layer = gr.Dropdown(s.layers, value=0, label=t("insp.layer"), elem_id="inspect-layer")
            v.head = gr.Dropdown(s.heads, value=0, label=t("insp.head"), elem_id="inspect-head")
            v.query = late_label(gr.Slider(0, max(1, s.last_query), s.last_query, step=1, elem_id="inspect-query"),
                                 "insp.query")  # fmt: skip
        v.att_plot = late_label(gr.Plot(p.att, elem_id="inspect-att-plot"), "insp.att_plot")
        late_value(v.att_plot, lambda g: local(g).att)
        v.query_view = late_value(gr.HTML(p.query, elem_id="inspect-query-view"), lambda g: local(g).query)
    with gr.Group(visible=not s.gpt, elem_id="inspect-hidden") as v.hid_group:
        gr.Markdown(t("insp.h.hidden"))
        v.gate = gr.Radio(gate_choices(s.gates), value="hidden", label=t("insp.gate.pick"), info=t("insp.gate.info"),
                          visible=bool(s.gates), elem_id="inspect-gate")  # fmt: skip
        v.hid_plot = late_label(gr.Plot(p.hidden, elem_id="inspect-hid-plot"), "insp.hid_plot")
        late_value(v.hid_plot, lambda g: local(g).hidden)
        v.units = late_value(gr.DataFrame(p.units, label=t("insp.units"), interactive=False, elem_id="inspect-units"),
                             lambda g: local(g).units)  # fmt: skip
    gr.Markdown(t("insp.h.vectors"))
    with gr.Row():
        v.emb_plot = late_label(gr.Plot(p.emb, elem_id="inspect-emb-plot", scale=3), "insp.emb_plot")
        late_value(v.emb_plot, lambda g: local(g).emb)
        with gr.Column(scale=1):
            v.char = gr.Dropdown(s.chars, value=s.first_char, label=t("insp.char"), elem_id="inspect-char")
            v.neighbours = gr.DataFrame(p.neighbours, label=t("insp.cosine"), interactive=False,
                                        elem_id="inspect-neighbours")  # fmt: skip
            late_value(v.neighbours, lambda g: local(g).neighbours)
    v.state = gr.State(kept(d), time_to_live=900)  # small (kept), and gone 15 min after the last inspection


def _wire(v: SimpleNamespace, model_picker: gr.Dropdown, registry: ModelRegistry) -> None:
    outputs = [v.status, v.surprise, v.worst, v.att_group, v.layer, v.head, v.query, v.att_plot, v.query_view,
               v.hid_group, v.hid_plot, v.units, v.emb_plot, v.char, v.neighbours, v.state, v.gate]  # fmt: skip

    @user_errors(heavy=True)  # memory back to the OS after a big inspection
    def inspect(model: str, text_: str, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        """Inspect the model on the text: surprise, attention or hidden state, character vectors."""
        lang = lang_of(request)
        progress(0.1, desc=ui_text(lang, "insp.progress.load"))
        loaded = registry.resolve(model, session_key(request))
        progress(0.3, desc=ui_text(lang, "insp.progress.run"))
        limits = registry.limits
        data = view_data(inspect_text(loaded, text_ or "", max_gflop=limits.max_request_gflop,
                                      max_mb=limits.max_request_mb, attention_head=(0, 0)), model or "")  # fmt: skip
        data["poem_model"] = writes_poems(loaded.vocab)
        progress(0.9, desc=ui_text(lang, "insp.progress.draw"))
        return render(data, lang)

    def head_of(d: dict, layer: int, head: int, request: gr.Request) -> dict | None:
        """The state holding head (layer, head): as it is, or with that head recomputed from the model."""
        att = d["attention"]
        if att.holds(layer, head):
            return d
        if not (0 <= layer < att.shape[0] and 0 <= head < att.shape[1]):
            return None
        try:
            loaded = registry.resolve(d.get("model") or None, session_key(request))
        except CharlmError:  # the model was deleted since: nothing to redraw
            return None
        ids = loaded.vocab.encode(d["attention_chars"]).ids
        return {**d, "attention": OneHead(attention_maps(loaded.model, ids, keep=(layer, head)))}

    def redraw_attention(d: dict | None, layer, head, query, request: gr.Request):
        if not d or d.get("attention") is None:
            return gr.skip(), gr.skip(), gr.skip()
        layer, head, query = int(layer or 0), int(head or 0), int(query or 0)
        d = head_of(d, layer, head, request)
        if d is None:
            return gr.skip(), gr.skip(), gr.skip()
        att, chars, lang = d["attention"], d["attention_chars"], lang_of(request)
        return (figs.attention_figure(att, chars, layer, head, lang),
                figs.query_html(att, chars, layer, head, query, lang), d)  # fmt: skip

    def redraw_query(d: dict | None, layer, head, query, request: gr.Request):
        if not d or d.get("attention") is None or not d["attention"].holds(int(layer or 0), int(head or 0)):
            return gr.skip()
        return figs.query_html(d["attention"], d["attention_chars"], int(layer or 0), int(head or 0), int(query or 0),
                               lang_of(request))  # fmt: skip

    ev = v.run_btn.click(inspect, [model_picker, v.text], outputs, api_name="inspect", concurrency_limit=2)
    v.stop_btn.click(None, None, None, cancels=[ev], api_visibility="private", queue=False)
    for comp in (v.layer, v.head):
        comp.change(redraw_attention, [v.state, v.layer, v.head, v.query], [v.att_plot, v.query_view, v.state],
                    api_visibility="private", show_progress="hidden")  # fmt: skip
    # dragging ends in "release"; a number typed into the slider's box sends "input" at each keystroke (Enter
    # does not blur the box, so waiting for "release" left the highlight stale until the box lost focus)
    for event in (v.query.release, v.query.input):
        event(redraw_query, [v.state, v.layer, v.head, v.query], v.query_view, api_visibility="private",
              show_progress="hidden", trigger_mode="always_last")  # fmt: skip

    def redraw_hidden(d: dict | None, which: str, request: gr.Request):
        if not d or d.get("hidden") is None:
            return gr.skip()
        return hidden_or_gate(d, which or "hidden", lang_of(request))

    v.gate.change(redraw_hidden, [v.state, v.gate], v.hid_plot, api_visibility="private", show_progress="hidden")

    def redraw_neighbours(d, c, request: gr.Request):
        return _neighbours_table(d, c, lang_of(request)) if d else gr.skip()

    v.char.change(redraw_neighbours, [v.state, v.char], v.neighbours, api_visibility="private",
                  show_progress="hidden")  # fmt: skip


__all__ = ["EXAMPLE", "OneHead", "build_inspect_tab", "kept", "render", "view_data"]
