"""An SVG picture of one backprop step: values and gradients on every neuron, weights on every edge.

The layout depends only on the layer sizes, so editing a number or stepping through the trace changes the
text and colours but never moves anything (micrograd's live demo does the same). Colours follow TF
Playground: blue for positive weights, orange for negative, thicker for larger |w|. Every piece of text goes
through ``html.escape`` because the spec (its name, for one) comes from the user. The words come from a
``Labels`` (English by default), so the app draws the picture in the user's language without rewriting it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from charlm.backprop.engine import Result
from charlm.backprop.trace import fmt, n_steps, step_info, sub, sup

POS, NEG, DEAD, HILITE, GRAD = "#2563eb", "#ea580c", "#9ca3af", "#fef3c7", "#b91c1c"
WIDTH, BOX_W, BOX_H, ROW, LOSS_W = 1000, 166, 62, 84, 140
COMPACT_UNITS = 8  # beyond this a layer is drawn as small circles without text
LEGEND = ("blue = positive weight, orange = negative, thickness ∝ |w|;  ∂ = ∂L/∂w;  δ = ∂L/∂z (red);  "
          "dashed grey = inactive ReLU (z ≤ 0, so δ = 0)")  # fmt: skip


def _english_header(name: str, k: int, last: int, phase: str, layer: int | None) -> str:
    return (f"{name}: " if name else "") + f"step {k} of {last}: {phase}" + (f" (layer {layer})" if layer else "")


@dataclass(frozen=True)
class Labels:
    """Every word of the drawing; numbers and symbols are not words and stay as they are."""

    header: Callable[[str, int, int, str, int | None], str] = _english_header  # (name, k, last, phase, layer)
    input: str = "input"  # the first column's name
    layer: Callable[[int, str], str] = lambda layer, act: f"layer {layer} ({act})"  # noqa: E731
    value: Callable[[str], str] = lambda value: f"value {value}"  # noqa: E731 - a small neuron's tooltip
    inactive: str = "inactive ReLU"
    legend: str = LEGEND


ENGLISH = Labels()


def _t(
    x: float,
    y: float,
    text: str,
    size: int = 13,
    color: str = "#111827",
    weight: str = "normal",
    anchor: str = "middle",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{color}" font-weight="{weight}" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )


def _edge_width(w: float) -> float:
    """1–7 px, saturating at |w| = 1.5 so one huge weight does not hide the rest."""
    return 1.0 + 6.0 * min(abs(w) / 1.5, 1.0)


def _free_spot(
    placed: list, x1: float, y1: float, x2: float, y2: float, t0: float, width: float
) -> tuple[float, float] | None:
    """A point on the edge whose label box overlaps no label placed so far (greedy; None if crowded)."""
    for dt in (0.0, -0.08, 0.08, -0.16, 0.16, -0.24, 0.24, 0.32, -0.32):
        t = t0 + dt
        x, y = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
        box = (x - width / 2, y - 8, x + width / 2, y + 7)
        if box[0] < x1 + 2 or box[2] > x2 - 2:
            continue
        if all(box[2] < p[0] or box[0] > p[2] or box[3] < p[1] or box[1] > p[3] for p in placed):
            placed.append(box)
            return x, y
    return None


@dataclass
class _View:
    """Where everything goes and what step ``k`` shows: computed once, read by each drawing function."""

    r: Result
    k: int
    phase: str
    layer: int
    compact: bool
    row: int
    height: int
    top: int
    xs: list[float]
    pos: list[list[tuple[float, float]]]  # (x, y) of every neuron, per column
    half_w: float
    labels: Labels

    @classmethod
    def at(cls, r: Result, k: int, labels: Labels) -> _View:
        s, n_l = r.spec, len(r.spec.weights)
        phase, layer = step_info(k, n_l)
        compact = max(s.layers) > COMPACT_UNITS
        row = 34 if compact else ROW
        top, col_w = 70, (WIDTH - 20 - LOSS_W - BOX_W) / n_l
        xs = [20 + BOX_W / 2 + c * col_w for c in range(n_l + 1)]

        def ys(n: int) -> list[float]:
            span = (max(s.layers) - n) * row / 2
            return [top + span + i * row + row / 2 for i in range(n)]

        pos = [list(zip([x] * n, ys(n), strict=False)) for x, n in zip(xs, s.layers, strict=False)]
        return cls(r, k, phase, layer, compact, row, max(s.layers) * row + 150, top, xs, pos,
                   9 if compact else BOX_W / 2, labels)  # fmt: skip


def render_svg(r: Result, k: int | None = None, labels: Labels = ENGLISH) -> str:
    """The network at step k of the trace (None or past the end: everything, after the update), in ``labels``."""
    last = n_steps(len(r.spec.weights)) - 1
    v = _View.at(r, last if k is None or k > last else max(k, 0), labels)
    name = escape(r.spec.name or "network", quote=True)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {v.height}" width="100%" '
        f'style="max-width:{WIDTH}px;font-family:ui-sans-serif,system-ui,sans-serif;background:#fff" '
        f'role="img" aria-label="{name}">'
    ]
    out += _header(v, last)
    out += _edges(v)
    out += _neurons(v)
    out += _loss_box(v)
    out.append(_t(14, v.height - 14, labels.legend, 12, "#4b5563", anchor="start"))
    out.append("</svg>")
    return "\n".join(out)


def _header(v: _View, last: int) -> list[str]:
    """The step's title, the highlighted column and the column labels."""
    s = v.r.spec
    out = [_t(14, 24, v.labels.header(s.name, v.k, last, v.phase, v.layer), 15, weight="bold", anchor="start")]
    hl_col = v.layer if v.phase in ("forward", "backward") else (0 if v.phase == "input" else None)
    if hl_col is not None:
        x0, x1 = v.xs[hl_col] - v.half_w - 8, v.xs[hl_col] + v.half_w + 8
        out.append(f'<rect x="{x0:.1f}" y="{v.top - 24}" width="{x1 - x0:.1f}" height="{v.height - v.top - 30}" '
                   f'rx="10" fill="{HILITE}"/>')  # fmt: skip
    for i, lab in enumerate([v.labels.input] + [v.labels.layer(l, a) for l, a in enumerate(s.activations, 1)]):
        out.append(_t(v.xs[i], v.top - 8, lab, 12, "#374151", "bold"))
    return out


def _edges(v: _View) -> list[str]:
    """One line per weight (colour: sign, width: size, tooltip: value and gradient), then labels where room."""
    r, s, n_l = v.r, v.r.spec, len(v.r.spec.weights)
    updated = v.phase == "update"
    weights = r.updated_weights if updated else s.weights
    show_delta = [v.k >= 2 * n_l + 2 - l for l in range(1, n_l + 1)]
    edge_labels = not v.compact and sum(a * b for a, b in zip(s.layers, s.layers[1:], strict=False)) <= 24
    out, labels, placed = [], [], []
    for l in range(n_l):
        w, n_out, n_in = weights[l], s.layers[l + 1], s.layers[l]
        for i in range(n_out):
            for j in range(n_in):
                (x1, y1), (x2, y2) = v.pos[l][j], v.pos[l + 1][i]
                x1, x2 = x1 + v.half_w, x2 - v.half_w
                val = float(w[i, j])
                col = POS if val >= 0 else NEG
                op = "0.95" if v.phase in ("update", "forward", "backward") and v.layer in (0, l + 1) else "0.55"
                if updated:
                    text = f"{fmt(s.weights[l][i, j])}→{fmt(val)}"
                else:
                    text = f"w {fmt(val)}"
                    if show_delta[l]:
                        text += f", ∂ {fmt(r.grad_weights[l][i, j])}"
                out.append(
                    f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{col}" '
                    f'stroke-width="{_edge_width(val):.2f}" stroke-opacity="{op}" '
                    f'stroke-linecap="round"><title>{escape(f"W{sup(l + 1)}{sub(i, j)}: {text}")}'
                    f"</title></line>"
                )
                if edge_labels:
                    t0 = 0.2 + 0.55 * (i / (n_out - 1) if n_out > 1 else 0.5)
                    spot = _free_spot(placed, x1, y1, x2, y2, t0, 6.3 * len(text))
                    if spot:
                        labels.append(
                            f'<text x="{spot[0]:.1f}" y="{spot[1] + 4:.1f}" font-size="11" '
                            f'fill="{col}" text-anchor="middle" stroke="#fff" stroke-width="3" '
                            f'paint-order="stroke">{escape(text)}</text>'
                        )
    return out + labels


def _neurons(v: _View) -> list[str]:
    n_l = len(v.r.spec.weights)
    show_val = [True] + [v.k >= l for l in range(1, n_l + 1)]
    show_delta = [v.k >= 2 * n_l + 2 - l for l in range(1, n_l + 1)]
    return [
        _neuron(v.r, c, i, x, y, v.compact, show_val[c], c > 0 and show_delta[c - 1], v.k >= 2 * n_l + 1,
                v.phase == "update", v.labels)
        for c, column in enumerate(v.pos)
        for i, (x, y) in enumerate(column)
    ]  # fmt: skip


def _loss_box(v: _View) -> list[str]:
    r, s = v.r, v.r.spec
    lx, ly = WIDTH - LOSS_W / 2 - 6, v.top + max(s.layers) * v.row / 2
    out = []
    if v.phase == "loss":
        out.append(f'<rect x="{lx - LOSS_W / 2:.1f}" y="{ly - 40:.1f}" width="{LOSS_W}" height="84" rx="10" '
                   f'fill="{HILITE}"/>')  # fmt: skip
    y_text = "y = [" + ", ".join(fmt(x) for x in s.y) + "]"
    out.append(_t(lx, ly - 20, s.loss, 12, "#374151"))
    out.append(_t(lx, ly + 2, f"L = {fmt(r.loss)}" if v.k >= len(s.weights) + 1 else "L = ?", 16, GRAD, "bold"))
    out.append(_t(lx, ly + 24, y_text if len(y_text) < 24 else y_text[:22] + "…", 12, "#374151"))
    return out


def _neuron(
    r: Result,
    c: int,
    i: int,
    x: float,
    y: float,
    compact: bool,
    show_val: bool,
    show_delta: bool,
    show_dx: bool,
    updated: bool,
    labels: Labels,
) -> str:
    s = r.spec
    dead = c > 0 and s.activations[c - 1] == "relu" and show_val and r.z[c - 1][i] <= 0
    stroke = DEAD if dead else "#374151"
    fill = "#f3f4f6" if dead else "#ffffff"
    dash = ' stroke-dasharray="5 3"' if dead else ""
    if compact:
        v = (s.x[i] if c == 0 else r.a[c - 1][i]) if show_val else 0.0
        col = POS if v >= 0 else NEG
        tip = labels.value(fmt(v)) + (f", δ {fmt(r.delta[c - 1][i])}" if show_delta else "")
        return (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="{col if show_val else fill}" '
            f'fill-opacity="{min(abs(v), 1.0) * 0.8 + 0.1:.2f}" stroke="{stroke}"{dash}>'
            f"<title>{escape(tip)}</title></circle>"
        )
    x0, y0 = x - BOX_W / 2, y - BOX_H / 2
    parts = [
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="1.5"{dash}/>'
    ]
    n_l = len(s.weights)
    if c == 0:
        parts.append(_t(x, y0 + 18, f"x{sub(i)} = {fmt(s.x[i])}", 14, weight="bold"))
        if show_dx:
            parts.append(_t(x, y0 + 50, f"∂L/∂x = {fmt(r.grad_input[i])}", 12, GRAD))
        return "\n".join(parts)
    name = "ŷ" + sub(i) if c == n_l else f"a{sup(c)}{sub(i)}"
    b_old, b_new = s.biases[c - 1][i], r.updated_biases[c - 1][i]
    b_text = f"b {fmt(b_old)}→{fmt(b_new)}" if updated else f"b = {fmt(b_old)}"
    if show_val:
        parts.append(_t(x, y0 + 18, f"{name} = {fmt(r.a[c - 1][i])}", 14, weight="bold"))
        parts.append(_t(x, y0 + 34, f"z = {fmt(r.z[c - 1][i])},  {b_text}", 11, "#4b5563"))
    else:
        parts.append(_t(x, y0 + 18, f"{name} = ?", 14, "#9ca3af", "bold"))
        parts.append(_t(x, y0 + 34, b_text, 11, "#4b5563"))
    if show_delta:
        parts.append(_t(x, y0 + 52, f"δ = {fmt(r.delta[c - 1][i])}", 12, GRAD, "bold"))
    if dead:
        parts.append(_t(x0 + BOX_W - 4, y0 - 4, labels.inactive, 10, "#6b7280", anchor="end"))
    return "\n".join(parts)
