"""The Learn tab's figures: one function per lesson, from a real model to a plotly figure (or HTML) and a note.

Every number comes from ``charlm.lessons`` (or the inspection and backprop packages) on the model the learner
picked; this module only draws. Each function takes ``lang`` for its words (``charlm.ui.i18n``).
"""

from __future__ import annotations

import html
import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charlm.errors import DataError
from charlm.ui.i18n import ui_text
from charlm.ui.inspect_figures import show

LAYOUT = dict(margin=dict(l=50, r=20, t=50, b=50), height=460, template="plotly_white")
KEPT, CUT = "#4C78A8", "#C9CED6"


def _need(loaded, archs: tuple[str, ...], lesson: str) -> None:
    """Refuse a model this lesson cannot read (attention needs a GPT, gates an LSTM or GRU)."""
    arch = loaded.model.config.arch
    if arch not in archs or getattr(loaded.model, "members", None) is not None:
        wanted = "/".join(a.upper() for a in archs)
        raise DataError(
            f"this lesson needs a {wanted} model, not {arch.upper()}; pick one in the lesson's model list "
            f"(lesson {lesson})"
        )


# --- 1. characters -> ids -> vectors ----------------------------------------------------------------------------
def vectors(loaded, char: str, lang: str) -> tuple[go.Figure, str]:
    from charlm.inspection import embedding_view
    from charlm.ui.inspect_figures import embedding_figure

    vocab = loaded.vocab
    if not isinstance(char, str) or len(char) != 1:
        raise DataError("give exactly one character")
    if char not in vocab:
        raise DataError(f"the model does not know {char!r}; try a letter it was trained on")
    emb = embedding_view(loaded.model, vocab.chars, neighbours=5)
    fig = embedding_figure(emb, lang)
    i = emb["chars"].index(char)
    xy = np.asarray(emb["xy"])
    near = [n for n, _ in emb["neighbours"][char]]
    for n in near:
        j = emb["chars"].index(n)
        fig.add_trace(
            go.Scatter(
                x=[xy[i, 0], xy[j, 0]],
                y=[xy[i, 1], xy[j, 1]],
                mode="lines",
                showlegend=False,
                line=dict(color="#E45756", width=1),
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[xy[i, 0]],
            y=[xy[i, 1]],
            mode="markers",
            name=show(char),
            marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color="#E45756", width=3)),
        )
    )
    width = loaded.model.config.n_embd
    note = ui_text(
        lang,
        "learn.vectors.note",
        char=show(char),
        id=vocab.id_of(char),
        v=vocab.size,
        width=width,
        near=" ".join(show(n) for n in near),
    )
    return fig, note


# --- 2. attention -----------------------------------------------------------------------------------------------
def attention(loaded, sentence: str, head: int, lang: str) -> tuple[go.Figure, str]:
    from charlm.inspection import attention_maps
    from charlm.lessons import check_text

    _need(loaded, ("gpt",), "2")
    check_text(sentence, 2, loaded.model.max_context)
    att = attention_maps(loaded.model, loaded.vocab.encode(sentence).ids)
    n_layer, n_head = att.weights.shape[:2]
    head = max(0, min(int(head), n_layer * n_head - 1))
    layer, h = divmod(head, n_head)
    w = att.weights[layer, h].numpy()
    T = len(sentence)
    masked = np.where(np.triu(np.ones((T, T), bool), 1), np.nan, w)  # the future: never attended (causal mask)
    labels = [f"{i}:{show(c)}" for i, c in enumerate(sentence)]
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.62, 0.38],
        horizontal_spacing=0.12,
        subplot_titles=(
            ui_text(lang, "learn.att.heat", layer=layer, head=h),
            ui_text(lang, "learn.att.last", char=show(sentence[-1])),
        ),
    )
    fig.add_trace(
        go.Heatmap(
            z=masked,
            x=labels,
            y=labels,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=False,
            hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>",
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Bar(x=labels, y=w[-1], marker_color=KEPT, showlegend=False, hovertemplate="%{x}: %{y:.3f}<extra></extra>"),
        1,
        2,
    )
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    fig.update_layout(**LAYOUT)
    top = int(np.argmax(w[-1]))
    note = ui_text(
        lang,
        "learn.att.note",
        layer=layer,
        head=h,
        heads=n_layer * n_head,
        char=show(sentence[-1]),
        top=show(sentence[top]),
        k=top,
        w=f"{w[-1, top]:.2f}",
        err=f"{att.max_error:.0e}",
    )
    return fig, note


# --- 3. recurrent state -----------------------------------------------------------------------------------------
def recurrent(loaded, sentence: str, view: str, lang: str) -> tuple[go.Figure, str]:
    from charlm.lessons.recurrent import gates

    _need(loaded, ("lstm", "gru"), "3")
    g = gates(loaded.model, loaded.vocab, sentence)
    xs = [f"{i}:{show(c)}" for i, c in enumerate(g["chars"])]
    fig = go.Figure()
    if view == "state":
        hidden = g["hidden"]
        units = np.argsort(-hidden.std(axis=0))[:24]
        fig.add_trace(
            go.Heatmap(
                z=hidden[:, units].T,
                x=xs,
                y=[f"h{u}" for u in units],
                colorscale="RdBu",
                zmid=0,
                hovertemplate="%{y} @ %{x}: %{z:.3f}<extra></extra>",
            )
        )
        fig.update_layout(title=ui_text(lang, "learn.rec.state_title", n=len(units), total=hidden.shape[1]))
    else:
        for name, values in g["gates"].items():
            fig.add_trace(go.Scatter(x=xs, y=values, mode="lines+markers", name=ui_text(lang, f"learn.gate.{name}")))
        fig.update_layout(
            title=ui_text(lang, "learn.rec.gates_title", arch=g["arch"].upper()),
            yaxis_title=ui_text(lang, "learn.rec.mean"),
        )
    fig.update_layout(**LAYOUT)
    note = ui_text(lang, f"learn.rec.note.{g['arch']}", err=f"{g['max_error']:.0e}")
    return fig, note


# --- 4. the loss ------------------------------------------------------------------------------------------------
def loss(loaded, sentence: str, lang: str) -> tuple[go.Figure, str]:
    from charlm.lessons.loss import worked_loss

    w = worked_loss(loaded, sentence)
    rows = w["rows"]
    xs = [f"{r['position']}:{show(r['next'])}" for r in rows]
    bits = [r["bits"] if r["bits"] is not None else 0.0 for r in rows]
    fig = go.Figure(
        go.Bar(
            x=xs,
            y=bits,
            marker_color=[KEPT if i < w["shown"] else CUT for i in range(len(rows))],
            name=ui_text(lang, "learn.loss.bits"),
            hovertemplate="%{x}: %{y:.2f} bits<extra></extra>",
        )
    )
    fig.add_hline(
        y=w["bpc"],
        line_dash="dash",
        line_color="#E45756",
        annotation_text=ui_text(lang, "learn.loss.mean", bpc=f"{w['bpc']:.2f}"),
    )
    fig.add_hline(
        y=w["uniform_bpc"],
        line_dash="dot",
        line_color="#888",
        annotation_text=ui_text(lang, "learn.loss.uniform", bpc=f"{w['uniform_bpc']:.2f}"),
    )
    fig.update_layout(title=ui_text(lang, "learn.loss.fig"), yaxis_title="bits", **LAYOUT)
    lines = [
        ui_text(
            lang,
            "learn.loss.row",
            after=show(r["after"]),
            next=show(r["next"]),
            p=f"{r['p']:.3f}",
            nats=f"{r['nats']:.3f}",
            bits=f"{r['bits']:.3f}",
            guess=show(r["guess"]),
            pg=f"{r['p_guess']:.2f}",
        )
        for r in rows[: w["shown"]]
        if r["p"] is not None
    ]
    note = (
        "\n".join(f"- {line}" for line in lines)
        + "\n\n"
        + ui_text(lang, "learn.loss.note", n=w["scored"], nats=f"{w['mean_nats']:.3f}", bpc=f"{w['bpc']:.3f}")
    )
    return fig, note


# --- 5. training: SGD vs Adam -----------------------------------------------------------------------------------
def training_figure(curves: dict[str, list[list[float]]], lang: str) -> go.Figure:
    fig = go.Figure()
    for label, points in curves.items():
        fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=label))
    fig.update_layout(
        title=ui_text(lang, "learn.train.title"),
        xaxis_title=ui_text(lang, "learn.train.seconds"),
        yaxis_title=ui_text(lang, "learn.train.bpc"),
        **LAYOUT,
    )
    return fig


def training_note(event: dict, lang: str) -> str:
    best = ", ".join(f"{k}: {v:.3f}" for k, v in event["best"].items() if v is not None)
    samples = "\n\n".join(f"**{k}**\n```\n{v}\n```" for k, v in event["samples"].items() if v)
    key = "learn.train.done" if event["done"] else "learn.train.running"
    return ui_text(lang, key, best=best or "…", pct=f"{event['progress']:.0%}") + ("\n\n" + samples if samples else "")


# --- 6. decoding ------------------------------------------------------------------------------------------------
def decoding(
    loaded, prompt: str, temperature: float, top_k: int, top_p: float, width: int, step: int, lang: str
) -> tuple[go.Figure, str]:
    """The bars: the distribution after the prompt and the first ``step`` characters of greedy's continuation (so a
    learner can walk along it and see where it starts to repeat); the table: greedy, sampled, beam."""
    from charlm.lessons import decoding as dec

    conts = dec.continuations(loaded, prompt, 40, width, temperature, top_k, top_p, seed=0)
    step = max(0, min(int(step), len(conts[0]["text"])))
    context = prompt + conts[0]["text"][:step]
    rows = dec.next_char_table(loaded.model, loaded.vocab, context[-300:], temperature, top_k, top_p, rows=24)
    xs = [show(r["char"]) for r in rows]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=xs,
            y=[r["p_temperature"] for r in rows],
            name=ui_text(lang, "learn.dec.before"),
            marker_color=[KEPT if r["kept"] else CUT for r in rows],
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[r["p_final"] for r in rows],
            mode="markers",
            name=ui_text(lang, "learn.dec.after"),
            marker=dict(color="#E45756", size=10, symbol="diamond"),
        )
    )
    kept = sum(r["kept"] for r in rows)
    fig.update_layout(
        title=ui_text(lang, "learn.dec.title", t=f"{temperature:g}", k=top_k, p=f"{top_p:g}", kept=kept)
        + "<br><sup>"
        + ui_text(lang, "learn.dec.after_step", n=step, tail=html.escape(show_tail(context)))
        + "</sup>",
        yaxis_title=ui_text(lang, "learn.dec.prob"),
        **LAYOUT,
    )
    table = [
        f"| {ui_text(lang, 'learn.dec.kind')} | {ui_text(lang, 'learn.dec.text')} | log p | log p / char | "
        f"{ui_text(lang, 'learn.dec.repeats')} |",
        "|---|---|---|---|---|",
    ]
    for c in conts:
        shown = html.escape(c["text"]).replace("\n", "⏎").replace("|", "\\|")
        table.append(f"| {c['kind']} | `{shown}` | {c['logprob']:.2f} | {c['per_char']:.3f} | {c['repeats']:.0%} |")
    return fig, "\n".join(table) + "\n\n" + ui_text(lang, "learn.dec.note")


def show_tail(text_: str, n: int = 24) -> str:
    """The last ``n`` characters, newlines shown."""
    return "".join(show(c) for c in text_[-n:])


# --- 7. tuning, ensembling, quantizing --------------------------------------------------------------------------
def tuning(loaded, partner, what: str, sample: str, lang: str) -> tuple[go.Figure, str]:
    from charlm.lessons import tuning as tun

    if what == "int8":
        rows = tun.int8_vs_fp32(loaded, sample)
        fig = make_subplots(
            rows=1,
            cols=3,
            subplot_titles=(ui_text(lang, "learn.tune.size"), ui_text(lang, "learn.tune.speed"), "bits/char"),
        )
        for col, key in enumerate(("size_mb", "chars_per_sec", "bpc"), start=1):
            fig.add_trace(
                go.Bar(
                    x=[r["precision"] for r in rows],
                    y=[r[key] for r in rows],
                    showlegend=False,
                    marker_color=[KEPT, "#F58518"],
                ),
                1,
                col,
            )
        a, b = rows
        note = ui_text(
            lang,
            "learn.tune.int8",
            ratio=f"{a['size_mb'] / b['size_mb']:.1f}",
            speed=f"{b['chars_per_sec'] / a['chars_per_sec']:.1f}",
            d=f"{b['bpc'] - a['bpc']:+.3f}",
        )
    elif what == "search":
        rows = tun.lr_search(sample, steps=30)
        fig = go.Figure(go.Bar(x=[f"lr={r['lr']:g}" for r in rows], y=[r["val_bpc"] for r in rows], marker_color=KEPT))
        best = min(rows, key=lambda r: r["val_bpc"] if r["val_bpc"] is not None else math.inf)
        note = ui_text(lang, "learn.tune.search", lr=f"{best['lr']:g}", bpc=f"{best['val_bpc']:.3f}")
    else:
        if partner is None:
            raise DataError("an ensemble needs at least two models with the same characters")
        rows = tun.ensemble_scores([loaded, partner], sample[:1000])
        fig = go.Figure(
            go.Bar(x=[r["model"] for r in rows], y=[r["bpc"] for r in rows], marker_color=[KEPT, KEPT, "#54A24B"])
        )
        best_member = min(r["bpc"] for r in rows[:-1])
        note = ui_text(lang, "learn.tune.ensemble", gain=f"{best_member - rows[-1]['bpc']:+.3f}")
    fig.update_layout(title=ui_text(lang, f"learn.tune.title.{what}"), **LAYOUT)
    return fig, note


# --- 8. evaluation ----------------------------------------------------------------------------------------------
def evaluation(loaded, sentence: str, candidate: str, reference: str, lang: str) -> tuple[go.Figure, str]:
    from charlm.lessons import metrics

    labels = metrics.next_char_labels(loaded, sentence)
    mt = metrics.bleu_vs_rouge(candidate, reference)
    s = mt["scores"]
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=(ui_text(lang, "learn.eval.labels"), ui_text(lang, "learn.eval.sentences"))
    )
    keys = ("accuracy", "micro_f1", "macro_precision", "macro_recall", "macro_f1")
    fig.add_trace(go.Bar(x=list(keys), y=[labels[k] * 100 for k in keys], marker_color=KEPT, showlegend=False), 1, 1)
    names = ("bleu", "rouge1", "rougeL", "chrf")
    fig.add_trace(go.Bar(x=list(names), y=[s[k] for k in names], marker_color="#F58518", showlegend=False), 1, 2)
    fig.update_yaxes(range=[0, 100])
    fig.update_layout(**LAYOUT)
    note = ui_text(
        lang,
        "learn.eval.note",
        acc=f"{labels['accuracy']:.0%}",
        f1=f"{labels['macro_f1']:.0%}",
        n=labels["n"],
        classes=len(labels["per_class"]),
        bleu=f"{s['bleu']:.1f}",
        rouge=f"{s['rougeL']:.1f}",
    )
    return fig, note


# --- 9. the equations -------------------------------------------------------------------------------------------
def equations(step: int, lang: str) -> tuple[str, str, int]:
    """The Backprop tab's corrected textbook example at one step: the picture, that step's equations, the step."""
    from charlm.backprop.presets import preset
    from charlm.ui.backprop_tab import DEFAULT_PRESET, Endpoints, spec_text

    _, svg, eqs, k = Endpoints().compute(spec_text(preset(DEFAULT_PRESET)), max(0, int(step)), lang)
    return f'<div id="learn-bp-svg">{svg}</div>', eqs, k


# --- 10. the chapter's project ----------------------------------------------------------------------------------
def chapter_figure(result: dict, lang: str) -> go.Figure:
    curve = result["curve"]
    fig = go.Figure(
        go.Scatter(
            x=[c["step"] for c in curve],
            y=[c["loss"] for c in curve],
            mode="lines",
            name=ui_text(lang, "learn.ch.loss"),
        )
    )
    fig.update_layout(
        title=ui_text(lang, "learn.ch.title", n=result["chars"]),
        xaxis_title=ui_text(lang, "learn.ch.step"),
        yaxis_title=ui_text(lang, "learn.ch.loss"),
        **LAYOUT,
    )
    return fig


def chapter_note(result: dict, lang: str) -> str:
    def block(s: str) -> str:
        return "```\n" + s.replace("```", "'''") + "\n```"

    return ui_text(
        lang,
        "learn.ch.result",
        prompt=result["prompt"],
        params=f"{result['n_params']:,}",
        seen=f"{result['bpc_seen']:.3f}",
        unseen=f"{result['bpc_unseen']:.3f}",
    ) + (
        "\n\n**"
        + ui_text(lang, "learn.ch.greedy")
        + "**\n"
        + block(result["prompt"] + result["greedy"])
        + "\n\n**"
        + ui_text(lang, "learn.ch.sampled")
        + "**\n"
        + block(result["prompt"] + result["sampled"])
    )
