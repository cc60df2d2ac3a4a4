"""The Inspect tab: see inside the selected model on a text of your choice.

How sure it was of every character (surprise), what each GPT attention head reads, what an LSTM/GRU/RNN carries
in its hidden units (and which unit tracks quotes, line position, capitals...), and which characters it thinks are
alike (its character vectors). Everything comes from ``charlm.inspection.inspect_text``, the call behind
``python -m charlm inspect``; the tab opens with the shipped model's example already drawn.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pandas as pd

from charlm.inspection import MAX_CHARS, inspect_text
from charlm.ui import inspect_figures as figs
from charlm.ui.common import user_errors
from charlm.ui.registry import ModelRegistry

EXAMPLE = (
    "ROMEO:\nBut soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n\n"
    "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name.\n"
)
INTRO = (
    "See inside the selected model (the picker at the top) on any text up to "
    f"{MAX_CHARS:,} characters. **Surprise**: each character coloured by how unexpected it was (hover for the "
    "model's five best guesses). **Attention** (GPT): what each head reads when it predicts. **Hidden state** "
    "(LSTM, GRU, RNN): the units, and the ones that track quotes, brackets, line position or capitals. "
    "**Character vectors**: the characters the model treats alike."
)


def view_data(report) -> dict:
    """What the tab keeps per session (gr.State): the report's JSON, with the big arrays kept as numpy arrays."""
    out = report.to_json(arrays=False)
    out["attention"] = report.attention.weights.numpy() if report.attention is not None else None
    out["attention_chars"] = report.attention_text
    out["hidden"] = report.hidden
    return out


def _status(d: dict) -> str:
    parts = [f"**{d['bpc']:.3f} bits/char** over {len(d['chars']):,} predicted characters ({d['arch'].upper()})"]
    if d.get("attention_max_error") is not None:
        parts.append(f"attention recorded from the forward pass (reproduces it to {d['attention_max_error']:.0e})")
    return " · ".join(parts) + "".join(f"\n\n⚠ {n}" for n in d["notes"])


def _worst_table(d: dict) -> pd.DataFrame:
    rows = [{"position": r["position"], "char": figs.show(r["char"]), "prob": round(r["prob"], 5),
             "bits": round(r["bits"], 2), "model expected": ", ".join(f"{figs.show(c)} {p:.2f}" for c, p in r["top5"])}
            for r in d["most_surprising"]]  # fmt: skip
    return pd.DataFrame(rows, columns=["position", "char", "prob", "bits", "model expected"])


def _units_table(d: dict) -> pd.DataFrame:
    rows = [{"unit": r["unit"], "feature": r["feature"], "correlation": round(r["correlation"], 3)}
            for r in d.get("units") or []]  # fmt: skip
    return pd.DataFrame(rows, columns=["unit", "feature", "correlation"])


def _neighbours_table(d: dict, char: str | None) -> pd.DataFrame:
    nn = d["embedding"]["neighbours"].get(char or "", [])
    return pd.DataFrame([{"neighbour": figs.show(c), "cosine": s} for c, s in nn], columns=["neighbour", "cosine"])


def _shape(d: dict | None) -> SimpleNamespace:
    """What the selectors offer for a report: layers, heads, query positions, characters."""
    if d is None:
        return SimpleNamespace(gpt=True, layers=[0], heads=[0], last_query=0, chars=[], first_char=None, text="")
    att, emb = d.get("attention"), d["embedding"]
    text = d.get("attention_chars") or ""
    return SimpleNamespace(
        gpt=d["arch"] == "gpt", text=text, last_query=max(0, len(text) - 1),
        layers=list(range(att.shape[0])) if att is not None else [0],
        heads=list(range(att.shape[1])) if att is not None else [0],
        chars=[(figs.show(c), c) for c in emb["chars"]],
        first_char=next((c for c in emb["chars"] if c.isalpha()), emb["chars"][0]),
    )  # fmt: skip


def _pictures(d: dict | None) -> SimpleNamespace:
    """Every picture and table of the tab for a report (empty ones for None)."""
    if d is None:
        return SimpleNamespace(status="", surprise="", worst=None, att=None, query="", hidden=None, units=None,
                               emb=None, neighbours=None)  # fmt: skip
    s = _shape(d)
    att = d.get("attention")
    return SimpleNamespace(
        status=_status(d), surprise=figs.surprise_html(d), worst=_worst_table(d),
        att=figs.attention_figure(att, s.text, 0, 0) if s.gpt else None,
        query=figs.query_html(att, s.text, 0, 0, s.last_query) if s.gpt else "",
        hidden=None if s.gpt else figs.hidden_figure(d["hidden"], d["text"], d["units"]),
        units=_units_table(d), emb=figs.embedding_figure(d["embedding"]), neighbours=_neighbours_table(d, s.first_char),
    )  # fmt: skip


def render(d: dict) -> tuple:
    """The ``/inspect`` outputs for one report's view data."""
    s, p = _shape(d), _pictures(d)
    return (
        p.status, p.surprise, p.worst, gr.update(visible=s.gpt), gr.update(choices=s.layers, value=0),
        gr.update(choices=s.heads, value=0), gr.update(maximum=max(1, s.last_query), value=s.last_query), p.att,
        p.query, gr.update(visible=not s.gpt), p.hidden, p.units, p.emb, gr.update(choices=s.chars, value=s.first_char),
        p.neighbours, d,
    )  # fmt: skip


def build_inspect_tab(model_picker: gr.Dropdown, registry: ModelRegistry) -> None:
    """Create the Inspect tab (``/inspect``), opening with the default model's example already drawn."""
    example = None
    if registry.default_name:
        example = view_data(inspect_text(registry.resolve(registry.default_name, ""), EXAMPLE))
    with gr.Tab("Inspect", elem_id="tab-inspect"):
        gr.Markdown(INTRO)
        v = SimpleNamespace()
        _layout(v, example)
    _wire(v, model_picker, registry)


def _layout(v: SimpleNamespace, d: dict | None) -> None:
    s, p = _shape(d), _pictures(d)
    v.text = gr.Textbox(EXAMPLE, label=f"Text to inspect (at most {MAX_CHARS:,} characters)", lines=5,
                        max_lines=12, elem_id="inspect-text")  # fmt: skip
    with gr.Row():
        v.run_btn = gr.Button("Inspect", variant="primary", elem_id="inspect-run")
        v.stop_btn = gr.Button("Stop", variant="stop", elem_id="inspect-stop")
    v.status = gr.Markdown(p.status, elem_id="inspect-status")
    gr.Markdown("### How sure was it? Surprise per character")
    v.surprise = gr.HTML(p.surprise, elem_id="inspect-surprise")
    v.worst = gr.DataFrame(p.worst, label="The 10 most surprising characters", interactive=False,
                           elem_id="inspect-worst")  # fmt: skip
    with gr.Group(visible=s.gpt, elem_id="inspect-attention") as v.att_group:
        gr.Markdown("### What is it looking at? Attention (GPT)")
        with gr.Row():
            v.layer = gr.Dropdown(s.layers, value=0, label="Layer", elem_id="inspect-layer")
            v.head = gr.Dropdown(s.heads, value=0, label="Head", elem_id="inspect-head")
            v.query = gr.Slider(0, max(1, s.last_query), s.last_query, step=1, label="Query position (highlight view)",
                                elem_id="inspect-query")  # fmt: skip
        v.att_plot = gr.Plot(p.att, label="Attention heatmap", elem_id="inspect-att-plot")
        v.query_view = gr.HTML(p.query, elem_id="inspect-query-view")
    with gr.Group(visible=not s.gpt, elem_id="inspect-hidden") as v.hid_group:
        gr.Markdown("### What does it remember? Hidden state (LSTM, GRU, RNN)")
        v.hid_plot = gr.Plot(p.hidden, label="Hidden units over the text", elem_id="inspect-hid-plot")
        v.units = gr.DataFrame(p.units, label="Units that track a feature (Pearson correlation; sort by a header)",
                               interactive=False, elem_id="inspect-units")  # fmt: skip
    gr.Markdown("### Which characters are alike? Character vectors")
    with gr.Row():
        v.emb_plot = gr.Plot(p.emb, label="Embedding table, PCA", elem_id="inspect-emb-plot", scale=3)
        with gr.Column(scale=1):
            v.char = gr.Dropdown(s.chars, value=s.first_char, label="Nearest neighbours of", elem_id="inspect-char")
            v.neighbours = gr.DataFrame(p.neighbours, label="Cosine similarity", interactive=False,
                                        elem_id="inspect-neighbours")  # fmt: skip
    v.state = gr.State(d)


def _wire(v: SimpleNamespace, model_picker: gr.Dropdown, registry: ModelRegistry) -> None:
    outputs = [v.status, v.surprise, v.worst, v.att_group, v.layer, v.head, v.query, v.att_plot, v.query_view,
               v.hid_group, v.hid_plot, v.units, v.emb_plot, v.char, v.neighbours, v.state]  # fmt: skip

    @user_errors
    def inspect(model: str, text: str, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        """Inspect the model on the text: surprise, attention or hidden state, character vectors."""
        progress(0.1, desc="loading the model")
        loaded = registry.resolve(model, request.session_hash or "")
        progress(0.3, desc="running the model over the text")
        data = view_data(inspect_text(loaded, text or ""))
        progress(0.9, desc="drawing")
        return render(data)

    def redraw_attention(d: dict | None, layer, head, query):
        if not d or d.get("attention") is None:
            return gr.skip(), gr.skip()
        att, text = d["attention"], d["attention_chars"]
        layer, head = int(layer or 0), int(head or 0)
        return figs.attention_figure(att, text, layer, head), figs.query_html(att, text, layer, head, int(query or 0))

    def redraw_query(d: dict | None, layer, head, query):
        if not d or d.get("attention") is None:
            return gr.skip()
        return figs.query_html(d["attention"], d["attention_chars"], int(layer or 0), int(head or 0), int(query or 0))

    ev = v.run_btn.click(inspect, [model_picker, v.text], outputs, api_name="inspect", concurrency_limit=2)
    v.stop_btn.click(None, None, None, cancels=[ev], api_visibility="private", queue=False)
    for comp in (v.layer, v.head):
        comp.change(redraw_attention, [v.state, v.layer, v.head, v.query], [v.att_plot, v.query_view],
                    api_visibility="private", show_progress="hidden")  # fmt: skip
    v.query.release(redraw_query, [v.state, v.layer, v.head, v.query], v.query_view, api_visibility="private",
                    show_progress="hidden")  # fmt: skip
    v.char.change(lambda d, c: _neighbours_table(d, c) if d else gr.skip(), [v.state, v.char], v.neighbours,
                  api_visibility="private", show_progress="hidden")  # fmt: skip


__all__ = ["EXAMPLE", "build_inspect_tab", "render", "view_data"]
