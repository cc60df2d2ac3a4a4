"""The step-by-step trace of one backprop step: each equation in symbols and with the actual numbers.

Steps, for L layers: 0 input, 1..L forward layer l, L+1 loss, L+2..2L+1 backward layer L..1, 2L+2 update.
The SVG and the tab use the same numbering, so ``step_info`` is the single place that defines it.
"""

from __future__ import annotations

from html import escape

from charlm.backprop.engine import Result
from charlm.backprop.ops import derivative

MAX_LINES = 24  # per step; a big layer would otherwise bury the equation

_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def sup(l: int | str) -> str:
    """Layer index as ⁽ˡ⁾."""
    return f"⁽{str(l).translate(_SUP)}⁾"


def sub(*idx: int) -> str:
    """Unit indices (1-based) as subscripts; two-digit indices are comma-separated."""
    parts = [str(i + 1).translate(_SUB) for i in idx]
    return ("‚" if any(i >= 9 for i in idx) else "").join(parts)


def fmt(v: float) -> str:
    """Six significant digits: the textbook's decimals print exactly, float noise does not."""
    s = f"{float(v):.6g}"
    return "0" if s in ("-0", "0") else s.replace("-", "−")


def _p(v: float) -> str:
    """A factor inside a product: negatives in brackets so 0.3·(−2) reads unambiguously."""
    s = fmt(v)
    return f"({s})" if s.startswith("−") else s


def n_steps(n_layers: int) -> int:
    return 2 * n_layers + 3


def step_info(k: int, n_layers: int) -> tuple[str, int]:
    """(phase, layer) of step k; layer is 1-based, 0 for input/loss/update."""
    if k <= 0:
        return "input", 0
    if k <= n_layers:
        return "forward", k
    if k == n_layers + 1:
        return "loss", 0
    if k <= 2 * n_layers + 1:
        return "backward", 2 * n_layers + 2 - k
    return "update", 0


def _cap(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LINES:
        return lines
    return lines[:MAX_LINES] + [f"… ({len(lines) - MAX_LINES} more)"]


def build_trace(r: Result) -> list[dict]:
    """One dict per step: index, phase, layer, title, equation (symbols) and numbers (lines)."""
    s, n_l = r.spec, len(r.spec.weights)
    parts = [("input", 0, "Input", "a⁽⁰⁾ = x", [f"a⁽⁰⁾{sub(j)} = x{sub(j)} = {fmt(v)}" for j, v in enumerate(s.x)])]
    parts += [_forward(r, l) for l in range(n_l)]
    parts.append(_loss(r))
    parts += [_backward(r, l) for l in range(n_l - 1, -1, -1)]
    parts.append(_update(r))
    keys = ("phase", "layer", "title", "equation", "numbers")
    return [
        {"index": k} | dict(zip(keys, part, strict=True)) | {"numbers": _cap(part[4])} for k, part in enumerate(parts)
    ]


def _inputs(r: Result) -> list:
    """a⁽ˡ⁻¹⁾ for every layer l: what each weight matrix multiplies."""
    return [r.spec.x] + r.a[:-1]


def _forward(r: Result, l: int) -> tuple:
    s, prev = r.spec, _inputs(r)
    L, act, w, b = l + 1, s.activations[l], s.weights[l], s.biases[l]
    lines = []
    for i in range(w.shape[0]):
        terms = " + ".join(f"{_p(w[i, j])}·{_p(prev[l][j])}" for j in range(w.shape[1]))
        lines.append(f"z{sup(L)}{sub(i)} = {terms} + {_p(b[i])} = {fmt(r.z[l][i])}")
    if act == "softmax":
        lines.append("a" + sup(L) + " = softmax(z" + sup(L) + ") = [" + ", ".join(fmt(v) for v in r.a[l]) + "]")
    else:
        for i in range(w.shape[0]):
            dead = "   (inactive: z ≤ 0)" if act == "relu" and r.z[l][i] <= 0 else ""
            lines.append(f"a{sup(L)}{sub(i)} = {act}({fmt(r.z[l][i])}) = {fmt(r.a[l][i])}{dead}")
    eq = f"z{sup(L)} = W{sup(L)} a{sup(L - 1)} + b{sup(L)},   a{sup(L)} = {act}(z{sup(L)})"
    return "forward", L, f"Forward, layer {L} ({act})", eq, lines


def _loss(r: Result) -> tuple:
    s, yhat, y = r.spec, r.a[-1], r.spec.y
    if s.loss == "half_sse":
        eq = "L = ½ Σᵢ (ŷᵢ − yᵢ)²"
        body = " + ".join(f"({fmt(p)} − {fmt(t)})²" for p, t in zip(yhat, y, strict=False))
        nums = [f"L = ½ [{body}] = {fmt(r.loss)}"]
    elif s.loss == "mse":
        eq = "L = (1/n) Σᵢ (ŷᵢ − yᵢ)²"
        body = " + ".join(f"({fmt(p)} − {fmt(t)})²" for p, t in zip(yhat, y, strict=False))
        nums = [f"L = (1/{len(y)}) [{body}] = {fmt(r.loss)}"]
    else:
        eq = "L = −Σᵢ yᵢ log ŷᵢ,   ŷ = softmax(z⁽ᴸ⁾)"
        body = " + ".join(f"{fmt(t)}·log {fmt(p)}" for p, t in zip(yhat, y, strict=False))
        nums = [f"L = −({body}) = {fmt(r.loss)}"]
    return "loss", 0, f"Loss ({s.loss})", eq, nums


def _output_delta(r: Result) -> tuple[str, list[str]]:
    s, n_l, yhat, y = r.spec, len(r.spec.weights), r.a[-1], r.spec.y
    L, act, z, d = n_l, s.activations[-1], r.z[-1], r.delta[-1]
    if s.loss == "softmax_ce":
        eq = f"δ{sup(L)} = ŷ − y   (softmax with cross-entropy)"
        return eq, [f"δ{sup(L)}{sub(i)} = {fmt(yhat[i])} − {fmt(y[i])} = {fmt(d[i])}" for i in range(len(d))]
    scale = "" if s.loss == "half_sse" else f"(2/{len(y)})·"
    eq = f"δ{sup(L)} = ∂L/∂z{sup(L)} = {scale or ''}(ŷ − y) ⊙ {act}′(z{sup(L)})"
    fp = derivative(act, z)
    return eq, [f"δ{sup(L)}{sub(i)} = {scale}({fmt(yhat[i])} − {fmt(y[i])})·{_p(fp[i])} = {fmt(d[i])}"
                for i in range(len(d))]  # fmt: skip


def _backward(r: Result, l: int) -> tuple:
    s, prev = r.spec, _inputs(r)
    L, act, z, d = l + 1, s.activations[l], r.z[l], r.delta[l]
    if l == len(s.weights) - 1:
        eq, lines = _output_delta(r)
    else:
        eq, lines = f"δ{sup(L)} = (W{sup(L + 1)})ᵀ δ{sup(L + 1)} ⊙ {act}′(z{sup(L)})", []
        w_next, d_next, fp = s.weights[l + 1], r.delta[l + 1], derivative(act, z)
        for i in range(len(d)):
            terms = " + ".join(f"{_p(w_next[k, i])}·{_p(d_next[k])}" for k in range(len(d_next)))
            back = float(w_next[:, i] @ d_next)
            lines.append(f"δ{sup(L)}{sub(i)} = ({terms})·{act}′({fmt(z[i])}) = {_p(back)}·{_p(fp[i])} = {fmt(d[i])}")
    gw = r.grad_weights[l]
    lines += [
        f"∂L/∂W{sup(L)}{sub(i, j)} = δ{sup(L)}{sub(i)}·a{sup(l)}{sub(j)} = "
        f"{_p(d[i])}·{_p(prev[l][j])} = {fmt(gw[i, j])}"
        for i in range(gw.shape[0])
        for j in range(gw.shape[1])
    ]
    lines += [f"∂L/∂b{sup(L)}{sub(i)} = δ{sup(L)}{sub(i)} = {fmt(d[i])}" for i in range(len(d))]
    eq = f"{eq};   ∂L/∂W{sup(L)} = δ{sup(L)} (a{sup(l)})ᵀ,   ∂L/∂b{sup(L)} = δ{sup(L)}"
    return "backward", L, f"Backward, layer {L}", eq, lines


def _update(r: Result) -> tuple:
    s, lines = r.spec, []
    for l in range(len(s.weights)):
        L, w, g, nw = l + 1, s.weights[l], r.grad_weights[l], r.updated_weights[l]
        lines += [
            f"W{sup(L)}{sub(i, j)} ← {fmt(w[i, j])} − {fmt(s.lr)}·{_p(g[i, j])} = {fmt(nw[i, j])}"
            for i in range(w.shape[0])
            for j in range(w.shape[1])
        ]
        b, gb, nb = s.biases[l], r.grad_biases[l], r.updated_biases[l]
        lines += [f"b{sup(L)}{sub(i)} ← {fmt(b[i])} − {fmt(s.lr)}·{_p(gb[i])} = {fmt(nb[i])}" for i in range(len(b))]
    return "update", 0, f"SGD update (α = {fmt(s.lr)})", "W ← W − α ∂L/∂W,   b ← b − α ∂L/∂b", lines


def trace_text(steps: list[dict]) -> str:
    """Plain-text trace for the CLI."""
    out = []
    for st in steps:
        out.append(f"[{st['index']}] {st['title']}")
        out.append(f"    {st['equation']}")
        out += [f"    {line}" for line in st["numbers"]]
    return "\n".join(out)


def trace_html(st: dict) -> str:
    """One step for the tab, every line escaped (a sans-serif font keeps the super/subscripts readable)."""
    lines = "".join(f"<div>{escape(line)}</div>" for line in st["numbers"])
    return (
        f'<div style="font-size:15px;line-height:1.7">'
        f'<div style="font-weight:600;font-size:16px">Step {st["index"]}: {escape(st["title"])}</div>'
        f'<div style="color:#1d4ed8;margin:4px 0 8px">{escape(st["equation"])}</div>'
        f'<div style="font-variant-numeric:tabular-nums">{lines}</div></div>'
    )
