"""The Inspect tab's pictures, as pure functions of an inspection report: coloured text (HTML) and plotly charts.

Kept apart from the tab's layout and events so each picture can be read (and tested) on its own. Charts are plotly
figures (hover shows the exact values); Gradio ships plotly.js with its front end, so nothing loads from the web.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from charlm.inspection.vectors import CLASSES

MAX_BITS = 8.0  # the colour scale of surprise saturates here (p = 1/256)
MAX_UNITS_SHOWN = 64  # hidden-state heatmap rows: the units that track features first, then the most active
CLASS_COLOURS = dict(zip(CLASSES, ("#4C78A8", "#E45756", "#54A24B", "#F58518", "#B279A2", "#D62728", "#9D755D"),
                         strict=True))  # fmt: skip
LAYOUT = dict(margin=dict(l=40, r=10, t=40, b=40), height=520, template="plotly_white")


def show(ch: str) -> str:
    """A visible label for a character: newline, space and tab get symbols."""
    return {"\n": "⏎", " ": "␣", "\t": "⇥"}.get(ch, ch)


def _span(ch: str, style: str, title: str = "") -> str:
    text = "⏎<br>" if ch == "\n" else html.escape(ch)
    tip = f' title="{html.escape(title, quote=True)}"' if title else ""
    return f'<span style="{style}"{tip}>{text}</span>'


def _surprise_colour(bits: float | None) -> str:
    if bits is None:  # unknown to the model: grey
        return "background:#ddd"
    a = min(1.0, bits / MAX_BITS)
    return f"background:rgba(220,40,40,{a:.2f}); color:{'#fff' if a > 0.6 else '#000'}"


def surprise_html(data: dict) -> str:
    """The text, each character coloured by its surprise in bits; hover shows its probability and the top-5."""
    out = [_span(data["text"][0], "background:#eee", "the first character: nothing before it to predict it")]
    for c in data["chars"]:
        bits = None if c["prob"] is None else -np.log2(max(c["prob"], 1e-45))
        guesses = ", ".join(f"{show(g)!r} {p:.3f}" for g, p in c["top5"])
        tip = (f"{show(c['char'])!r}: p = {c['prob']:.4f}, {bits:.2f} bits\ntop-5: {guesses}" if bits is not None
               else f"{show(c['char'])!r}: unknown to the model (not scored)")  # fmt: skip
        out.append(_span(c["char"], _surprise_colour(bits), tip))
    legend = "".join(_span(f" {b:g} ", _surprise_colour(b)) for b in (0, 1, 2, 4, 6, MAX_BITS))
    return (
        f'<div id="surprise-legend" style="margin-bottom:6px">surprise in bits (−log₂ p): {legend} or more · '
        "hover a character for its probability and the model's five best guesses</div>"
        f'<div id="surprise-text" style="font-family:ui-monospace,monospace; line-height:1.7; '
        f'white-space:pre-wrap">{"".join(out)}</div>'
    )  # fmt: skip


def _char_axis(text: str, step: int = 1) -> dict:
    idx = list(range(0, len(text), step))
    return dict(tickmode="array", tickvals=idx, ticktext=[show(text[i]) for i in idx], tickfont=dict(size=9))


def attention_figure(weights: np.ndarray, text: str, layer: int, head: int) -> go.Figure:
    """Heatmap of one head: row = the character being predicted from (query), column = a character it reads."""
    z = weights[layer, head]
    labels = [f"{i}:{show(c)}" for i, c in enumerate(text)]
    fig = go.Figure(go.Heatmap(z=z, x=list(range(len(text))), y=list(range(len(text))), colorscale="Blues", zmin=0,
                               customdata=np.array([[(q, k) for k in labels] for q in labels]),
                               hovertemplate="query %{customdata[0]} → key %{customdata[1]}<br>weight %{z:.3f}"
                               "<extra></extra>", colorbar=dict(title="weight")))  # fmt: skip
    fig.update_layout(title=f"layer {layer}, head {head}: each row sums to 1 (causal: no key after its query)",
                      xaxis=dict(title="key (character read)", **_char_axis(text)),
                      yaxis=dict(title="query", autorange="reversed", **_char_axis(text)), **LAYOUT)  # fmt: skip
    return fig


def query_html(weights: np.ndarray, text: str, layer: int, head: int, query: int) -> str:
    """The text with each character shaded by how much the chosen query attends to it."""
    query = max(0, min(query, len(text) - 1))
    row = weights[layer, head, query]
    top = row.max() or 1.0
    spans = []
    for k, ch in enumerate(text[: query + 1]):
        style = f"background:rgba(30,100,220,{row[k] / top:.2f})"
        if k == query:
            style += "; outline:2px solid #e45756"
        spans.append(_span(ch, style, f"{show(ch)!r} (position {k}): weight {row[k]:.3f}"))
    spans += [_span(ch, "color:#aaa") for ch in text[query + 1 :]]  # later characters: invisible to this query
    return (f"<div>query {query} ({show(text[query])!r}, outlined) predicts the next character; blue = attention "
            "(darkest = its largest weight); grey characters come later and cannot be seen</div>"
            '<div id="query-text" style="font-family:ui-monospace,monospace; line-height:1.7; white-space:pre-wrap">'
            f"{''.join(spans)}</div>")  # fmt: skip


def units_order(hidden: np.ndarray, units: list[dict]) -> list[int]:
    """Units to show: those that track a feature first (strongest first), then the most variable ones."""
    order = list(dict.fromkeys(row["unit"] for row in units))
    order += [int(u) for u in np.argsort(-hidden.std(axis=0)) if int(u) not in order]
    return order[:MAX_UNITS_SHOWN]


def hidden_figure(hidden: np.ndarray, text: str, units: list[dict]) -> go.Figure:
    """Heatmap of hidden units (rows) over the characters (columns): red positive, blue negative."""
    order = units_order(hidden, units)
    z = hidden[:, order].T
    lim = float(np.abs(z).max()) or 1.0
    step = max(1, len(text) // 120)
    fig = go.Figure(go.Heatmap(z=z, x=list(range(len(text))), y=[f"unit {u}" for u in order], colorscale="RdBu",
                               reversescale=True, zmin=-lim, zmax=lim,
                               customdata=np.array([[show(c) for c in text]] * len(order)),
                               hovertemplate="%{y} after '%{customdata}' (position %{x}): %{z:.3f}"
                               "<extra></extra>"))  # fmt: skip
    title = f"last layer's hidden state: {len(order)} of {hidden.shape[1]} units (feature units first)"
    fig.update_layout(title=title, xaxis=dict(title="character", **_char_axis(text, step)),
                      yaxis=dict(autorange="reversed"), **LAYOUT)  # fmt: skip
    return fig


def embedding_figure(emb: dict) -> go.Figure:
    """Every character as a labelled point on the first two principal components, coloured by class."""
    xy = np.asarray(emb["xy"])
    ratio = emb["explained_variance_ratio"]
    fig = go.Figure()
    for cls in CLASSES:
        idx = [i for i, c in enumerate(emb["classes"]) if c == cls]
        if not idx:
            continue
        fig.add_trace(go.Scatter(x=xy[idx, 0], y=xy[idx, 1], mode="markers+text", name=cls,
                                 text=[show(emb["chars"][i]) for i in idx], textposition="top center",
                                 marker=dict(color=CLASS_COLOURS[cls], size=8),
                                 hovertemplate="%{text}: (%{x:.3f}, %{y:.3f})<extra>" + cls + "</extra>"))  # fmt: skip
    tied = " · the GPT's output layer is this same table (tied weights)" if emb["tied"] else ""
    fig.update_layout(title=f"character vectors, PCA{tied}", xaxis_title=f"PC1 ({ratio[0]:.1%} of the variance)",
                      yaxis_title=f"PC2 ({ratio[1]:.1%})", **LAYOUT)  # fmt: skip
    return fig
