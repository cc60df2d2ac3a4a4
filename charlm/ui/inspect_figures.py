"""The Inspect tab's pictures, as pure functions of an inspection report: coloured text (HTML) and plotly charts.

Kept apart from the tab's layout and events so each picture can be read (and tested) on its own. Charts are plotly
figures (hover shows the exact values); Gradio ships plotly.js with its front end, so nothing loads from the web.
Every picture takes ``lang`` (``charlm.ui.i18n``) for its titles, legends and tooltips.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from charlm.inspection.vectors import CLASSES, GROUPS
from charlm.ui.i18n import ui_text

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


def surprise_html(data: dict, lang: str = "en") -> str:
    """The text, each character coloured by its surprise in bits; hover shows its probability and the top-5."""
    out = [_span(data["text"][0], "background:#eee", ui_text(lang, "insp.surprise.first"))]
    for c in data["chars"]:
        bits = None if c["prob"] is None else -np.log2(max(c["prob"], 1e-45))
        guesses = ", ".join(f"{show(g)!r} {p:.3f}" for g, p in c["top5"])
        tip = (ui_text(lang, "insp.surprise.tip", char=repr(show(c["char"])), p=f"{c['prob']:.4f}", bits=f"{bits:.2f}",
                    guesses=guesses) if bits is not None
               else ui_text(lang, "insp.surprise.unknown", char=repr(show(c["char"]))))  # fmt: skip
        out.append(_span(c["char"], _surprise_colour(bits), tip))
    legend = "".join(_span(f" {b:g} ", _surprise_colour(b)) for b in (0, 1, 2, 4, 6, MAX_BITS))
    return (
        f'<div id="surprise-legend" style="margin-bottom:6px">{ui_text(lang, "insp.surprise.legend", legend=legend)}'
        "</div>"
        f'<div id="surprise-text" style="font-family:ui-monospace,monospace; line-height:1.7; '
        f'white-space:pre-wrap">{"".join(out)}</div>'
    )  # fmt: skip


MAX_TICKS = 32  # a heatmap axis labels at most this many characters (128 labels are unreadable); hover has all


def _char_axis(text: str, step: int | None = None) -> dict:
    """Tick labels for an axis of characters: every ``step``-th one (by default, few enough to read)."""
    step = step or max(1, -(-len(text) // MAX_TICKS))
    idx = list(range(0, len(text), step))
    return dict(tickmode="array", tickvals=idx, ticktext=[show(text[i]) for i in idx], tickfont=dict(size=9))


def attention_figure(weights: np.ndarray, chars: str, layer: int, head: int, lang: str = "en") -> go.Figure:
    """Heatmap of one head: row = the character being predicted from (query), column = a character it reads."""
    z = weights[layer, head]
    labels = [f"{i}:{show(c)}" for i, c in enumerate(chars)]
    fig = go.Figure(go.Heatmap(z=z, x=list(range(len(chars))), y=list(range(len(chars))), colorscale="Blues", zmin=0,
                               customdata=np.array([[(q, k) for k in labels] for q in labels]),
                               hovertemplate=ui_text(lang, "insp.att.hover") + "<extra></extra>",
                               colorbar=dict(title=ui_text(lang, "insp.att.weight"))))  # fmt: skip
    fig.update_layout(title=ui_text(lang, "insp.att.title", layer=layer, head=head),
                      xaxis=dict(title=ui_text(lang, "insp.att.key"), **_char_axis(chars)),
                      yaxis=dict(title=ui_text(lang, "insp.att.query"), autorange="reversed", **_char_axis(chars)),
                      **LAYOUT)  # fmt: skip
    return fig


def query_html(weights: np.ndarray, chars: str, layer: int, head: int, query: int, lang: str = "en") -> str:
    """The text with each character shaded by how much the chosen query attends to it."""
    query = max(0, min(query, len(chars) - 1))
    row = weights[layer, head, query]
    top = row.max() or 1.0
    spans = []
    for k, ch in enumerate(chars[: query + 1]):
        style = f"background:rgba(30,100,220,{row[k] / top:.2f})"
        if k == query:
            style += "; outline:2px solid #e45756"
        spans.append(_span(ch, style, ui_text(lang, "insp.query.tip", char=repr(show(ch)), k=k, w=f"{row[k]:.3f}")))
    spans += [_span(ch, "color:#aaa") for ch in chars[query + 1 :]]  # later characters: invisible to this query
    return (f"<div>{ui_text(lang, 'insp.query.head', query=query, char=html.escape(repr(show(chars[query]))))}</div>"
            '<div id="query-text" style="font-family:ui-monospace,monospace; line-height:1.7; white-space:pre-wrap">'
            f"{''.join(spans)}</div>")  # fmt: skip


def units_order(hidden: np.ndarray, units: list[dict]) -> list[int]:
    """Units to show: those that track a feature first (strongest first), then the most variable ones."""
    order = list(dict.fromkeys(row["unit"] for row in units))
    order += [int(u) for u in np.argsort(-hidden.std(axis=0)) if int(u) not in order]
    return order[:MAX_UNITS_SHOWN]


def hidden_figure(hidden: np.ndarray, chars: str, units: list[dict], lang: str = "en") -> go.Figure:
    """Heatmap of hidden units (rows) over the characters (columns): red positive, blue negative."""
    order = units_order(hidden, units)
    z = hidden[:, order].T
    lim = float(np.abs(z).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=z, x=list(range(len(chars))), y=[ui_text(lang, "insp.hid.unit", u=u) for u in order],
                               colorscale="RdBu", reversescale=True, zmin=-lim, zmax=lim,
                               customdata=np.array([[show(c) for c in chars]] * len(order)),
                               hovertemplate=ui_text(lang, "insp.hid.hover") + "<extra></extra>"))  # fmt: skip
    title = ui_text(lang, "insp.hid.title", n=len(order), total=hidden.shape[1])
    fig.update_layout(title=title, xaxis=dict(title=ui_text(lang, "insp.hid.char"), **_char_axis(chars)),
                      yaxis=dict(autorange="reversed"), **LAYOUT)  # fmt: skip
    return fig


def gate_figure(gate: np.ndarray, hidden: np.ndarray, chars: str, units: list[dict], name: str,
                lang: str = "en") -> go.Figure:  # fmt: skip
    """One gate (0 = closed, 1 = open) of the same units as the hidden-state map, over the characters."""
    order = units_order(hidden, units)
    fig = go.Figure(go.Heatmap(z=gate[:, order].T, x=list(range(len(chars))),
                               y=[ui_text(lang, "insp.hid.unit", u=u) for u in order], colorscale="Viridis", zmin=0,
                               zmax=1, customdata=np.array([[show(c) for c in chars]] * len(order)),
                               hovertemplate=ui_text(lang, "insp.gate.hover") + "<extra></extra>",
                               colorbar=dict(title=ui_text(lang, "insp.gate.open"))))  # fmt: skip
    fig.update_layout(title=ui_text(lang, "insp.gate.title", gate=ui_text(lang, f"insp.gate.{name}"), n=len(order),
                                    mean=f"{float(gate.mean()):.2f}"),
                      xaxis=dict(title=ui_text(lang, "insp.hid.char"), **_char_axis(chars)),
                      yaxis=dict(autorange="reversed"), **LAYOUT)  # fmt: skip
    return fig


GROUP_COLOURS = ("#D62728", "#1F77B4", "#2CA02C", "#FF7F0E", "#9467BD")


def embedding_figure(emb: dict, lang: str = "en") -> go.Figure:
    """Every character (of a large vocabulary: the most frequent ones) as a labelled point on the first two
    principal components, coloured by class, or by ``GROUPS`` (numbers, colours, seasons...) where there are any."""
    xy = np.asarray(emb["xy"])
    ratio = emb["explained_variance_ratio"]
    groups = emb.get("groups") or [None] * len(emb["chars"])
    fig = go.Figure()

    def add(idx: list[int], name: str, colour: str, size: int) -> None:
        fig.add_trace(go.Scatter(x=xy[idx, 0], y=xy[idx, 1], mode="markers+text", name=name,
                                 text=[show(emb["chars"][i]) for i in idx], textposition="top center",
                                 marker=dict(color=colour, size=size),
                                 hovertemplate="%{text}: (%{x:.3f}, %{y:.3f})<extra>" + name + "</extra>"))  # fmt: skip

    for cls in CLASSES:
        idx = [i for i, c in enumerate(emb["classes"]) if c == cls and not groups[i]]
        if idx:
            grouped = any(groups)
            add(idx, ui_text(lang, f"insp.class.{cls}"), "#bbbbbb" if grouped and cls == "Han" else CLASS_COLOURS[cls],
                6 if grouped else 8)  # fmt: skip
    for (name, _), colour in zip(GROUPS.items(), GROUP_COLOURS, strict=True):
        idx = [i for i, g in enumerate(groups) if g == name]
        if idx:
            add(idx, ui_text(lang, f"insp.group.{name}"), colour, 10)
    tied = ui_text(lang, "insp.emb.tied") if emb["tied"] else ""
    title = ui_text(lang, "insp.emb.title", tied=tied)
    if emb.get("total", len(emb["chars"])) > len(emb["chars"]):
        key = "insp.emb.subset_freq" if emb.get("by_frequency") else "insp.emb.subset"
        title += "<br><sub>" + ui_text(lang, key, n=f"{len(emb['chars']):,}", total=f"{emb['total']:,}") + "</sub>"
    fig.update_layout(title=title, xaxis_title=ui_text(lang, "insp.emb.pc1", r=f"{ratio[0]:.1%}"),
                      yaxis_title=ui_text(lang, "insp.emb.pc2", r=f"{ratio[1]:.1%}"), **LAYOUT)  # fmt: skip
    return fig
