"""Backpropagation, done by hand, for a small fully connected net.

The Backprop tab and ``python -m charlm backprop`` teach the textbook equations, so this engine computes
exactly those quantities (no autograd) in float64 and keeps every one of them for display:

    z⁽ˡ⁾ = W⁽ˡ⁾ a⁽ˡ⁻¹⁾ + b⁽ˡ⁾,  a⁽ˡ⁾ = f(z⁽ˡ⁾),  a⁽⁰⁾ = x
    δ⁽ᴸ⁾ = ∂L/∂z⁽ᴸ⁾,  δ⁽ˡ⁾ = (W⁽ˡ⁺¹⁾)ᵀ δ⁽ˡ⁺¹⁾ ⊙ f′(z⁽ˡ⁾)
    ∂L/∂W⁽ˡ⁾ = δ⁽ˡ⁾ (a⁽ˡ⁻¹⁾)ᵀ,  ∂L/∂b⁽ˡ⁾ = δ⁽ˡ⁾,  W ← W − α ∂L/∂W

Lists indexed by layer (``z``, ``a``, ``delta``, ``grad_weights`` …) hold layers 1..L at positions 0..L-1,
the same positions as ``weights``; the input x is kept separately.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

import numpy as np

from charlm.errors import CharlmError, TrainingError

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear", "softmax")
LOSSES = ("half_sse", "mse", "softmax_ce")
SPEC_KEYS = {
    "layers",
    "activations",
    "weights",
    "biases",
    "input",
    "target",
    "loss",
    "lr",
    "samples",
    "name",
    "note",
    "seed",
}
MAX_LAYERS = 12  # keeps a pasted spec from tying up the shared app
MAX_WIDTH = 256
MAX_TRAIN_STEPS = 20_000


class SpecError(CharlmError):
    """A backprop spec that cannot describe a network: bad JSON, wrong shapes, unknown names."""


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """f(z) for one layer."""
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "softmax":
        e = np.exp(z - z.max())
        return e / e.sum()
    return z.copy()


def derivative(name: str, z: np.ndarray) -> np.ndarray:
    """f′(z), elementwise; relu′(0) = 0 as in torch. Softmax has no elementwise f′ (see output_delta)."""
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    return np.ones_like(z)


def loss_value(loss: str, yhat: np.ndarray, y: np.ndarray) -> float:
    if loss == "half_sse":
        return float(0.5 * np.sum((yhat - y) ** 2))
    if loss == "mse":
        return float(np.mean((yhat - y) ** 2))
    return float(-np.sum(y * np.log(np.clip(yhat, 1e-300, None))))


def output_delta(loss: str, act: str, z: np.ndarray, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """δ⁽ᴸ⁾ = ∂L/∂z⁽ᴸ⁾; with softmax + cross-entropy the Jacobian collapses to ŷ − y."""
    if loss == "softmax_ce":
        return yhat - y
    dl_da = (yhat - y) if loss == "half_sse" else 2.0 * (yhat - y) / yhat.size
    return dl_da * derivative(act, z)


@dataclass
class Spec:
    """A validated network: everything one SGD step needs."""

    layers: list[int]
    activations: list[str]
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    x: np.ndarray
    y: np.ndarray
    loss: str = "half_sse"
    lr: float = 0.1
    samples: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    name: str = ""
    note: str = ""

    def to_dict(self) -> dict:
        """The JSON spec form, so an edited or trained net can be saved and loaded again."""
        d = {"name": self.name} if self.name else {}
        d |= {
            "layers": list(self.layers),
            "activations": list(self.activations),
            "weights": [w.tolist() for w in self.weights],
            "biases": [b.tolist() for b in self.biases],
            "input": self.x.tolist(),
            "target": self.y.tolist(),
            "loss": self.loss,
            "lr": self.lr,
        }
        if self.samples:
            d["samples"] = [{"input": sx.tolist(), "target": sy.tolist()} for sx, sy in self.samples]
        if self.note:
            d["note"] = self.note
        return d


@dataclass
class Result:
    """Every quantity of one forward pass, backward pass and SGD update."""

    spec: Spec
    z: list[np.ndarray]
    a: list[np.ndarray]
    loss: float
    delta: list[np.ndarray]
    grad_input: np.ndarray
    grad_weights: list[np.ndarray]
    grad_biases: list[np.ndarray]
    updated_weights: list[np.ndarray]
    updated_biases: list[np.ndarray]

    def to_json(self) -> dict:
        """The CLI/API output: plain lists, full float64 precision."""
        s = self.spec
        return {
            "loss": self.loss,
            "loss_fn": s.loss,
            "lr": s.lr,
            "layers": s.layers,
            "activations": s.activations,
            "input": s.x.tolist(),
            "target": s.y.tolist(),
            "output": self.a[-1].tolist(),
            "z": [v.tolist() for v in self.z],
            "a": [v.tolist() for v in self.a],
            "delta": [v.tolist() for v in self.delta],
            "grad_input": self.grad_input.tolist(),
            "grad_weights": [g.tolist() for g in self.grad_weights],
            "grad_biases": [g.tolist() for g in self.grad_biases],
            "updated_weights": [w.tolist() for w in self.updated_weights],
            "updated_biases": [b.tolist() for b in self.updated_biases],
            "loss_after": loss_value(s.loss, forward(s, s.x, self.updated_weights, self.updated_biases)[1][-1], s.y),
        }


# ---------------------------------------------------------------- spec parsing and validation


def _number(v: object, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SpecError(f"{where} must be a finite number, got {json.dumps(v)[:40]}")
    return float(v)


def _vector(v: object, n: int, where: str) -> np.ndarray:
    if not isinstance(v, list):
        raise SpecError(f"{where} must be a list of {n} numbers, got {type(v).__name__}")
    if len(v) != n:
        raise SpecError(f"{where} must have {n} numbers, got {len(v)}")
    return np.array([_number(x, f"{where}[{i}]") for i, x in enumerate(v)], dtype=np.float64)


def _matrix(v: object, rows: int, cols: int, where: str) -> np.ndarray:
    if not isinstance(v, list) or len(v) != rows or not all(isinstance(r, list) for r in v):
        got = f"{len(v)} rows" if isinstance(v, list) else type(v).__name__
        raise SpecError(f"{where} must have shape [{rows}, {cols}] ([out, in]), got {got}")
    for i, r in enumerate(v):
        if len(r) != cols:
            raise SpecError(f"{where} must have shape [{rows}, {cols}] ([out, in]); row {i} has {len(r)} numbers")
    return np.array(
        [[_number(x, f"{where}[{i}][{j}]") for j, x in enumerate(r)] for i, r in enumerate(v)], dtype=np.float64
    )


def _target(v: object, loss: str, n: int, where: str) -> np.ndarray:
    if loss == "softmax_ce":
        if isinstance(v, int) and not isinstance(v, bool):  # a class index is a one-hot target
            if not 0 <= v < n:
                raise SpecError(f"{where} class index must be in 0..{n - 1}, got {v}")
            return np.eye(n)[v]
        y = _vector(v, n, where)
        if (y < 0).any() or abs(y.sum() - 1.0) > 1e-9:
            raise SpecError(f"{where} for softmax_ce must be one-hot (or probabilities summing to 1)")
        return y
    return _vector(v, n, where)


def parse_spec(spec: str | dict) -> Spec:
    """Turn JSON text or a dict into a Spec, with one clear message for the first problem found."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(spec, dict):
        raise SpecError("spec must be a JSON object with layers, activations, weights, biases, input, target")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise SpecError(f"unknown spec key(s) {unknown}; allowed: {sorted(SPEC_KEYS)}")
    layers = spec.get("layers")
    if (
        not isinstance(layers, list)
        or len(layers) < 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in layers)
    ):
        raise SpecError("layers must be a list of at least 2 positive integers, e.g. [3, 2, 1]")
    if len(layers) > MAX_LAYERS + 1 or max(layers) > MAX_WIDTH:
        raise SpecError(f"at most {MAX_LAYERS} layers of at most {MAX_WIDTH} units each")
    n_l = len(layers) - 1
    acts = spec.get("activations")
    if not isinstance(acts, list) or len(acts) != n_l:
        raise SpecError(f"activations must be a list of {n_l} names (one per non-input layer)")
    for i, act in enumerate(acts):
        if act not in ACTIVATIONS:
            raise SpecError(
                f"unknown activation {json.dumps(act)[:40]} for layer {i + 1}; choose from {', '.join(ACTIVATIONS)}"
            )
    loss = spec.get("loss", "half_sse")
    if loss not in LOSSES:
        raise SpecError(f"unknown loss {json.dumps(loss)[:40]}; choose from {', '.join(LOSSES)}")
    if "softmax" in acts[:-1]:
        raise SpecError("softmax is only allowed as the output activation")
    if (acts[-1] == "softmax") != (loss == "softmax_ce"):
        raise SpecError("softmax output and loss softmax_ce go together (δᴸ = softmax(z) − y)")
    if loss == "softmax_ce" and layers[-1] < 2:
        raise SpecError("softmax_ce needs at least 2 output units")
    lr = _number(spec.get("lr", 0.1), "lr")
    if lr < 0:
        raise SpecError("lr must be >= 0")
    if "weights" not in spec and "biases" not in spec:
        seed = spec.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise SpecError("seed must be an integer")
        weights, biases = init_params(layers, seed)
    else:
        ws, bs = spec.get("weights"), spec.get("biases")
        if not isinstance(ws, list) or len(ws) != n_l:
            raise SpecError(f"weights must be a list of {n_l} matrices, each [out, in]")
        if not isinstance(bs, list) or len(bs) != n_l:
            raise SpecError(f"biases must be a list of {n_l} vectors")
        weights = [_matrix(ws[i], layers[i + 1], layers[i], f"weights[{i}]") for i in range(n_l)]
        biases = [_vector(bs[i], layers[i + 1], f"biases[{i}]") for i in range(n_l)]
    x = _vector(spec.get("input"), layers[0], "input")
    y = _target(spec.get("target"), loss, layers[-1], "target")
    samples = []
    raw = spec.get("samples", [])
    if not isinstance(raw, list):
        raise SpecError('samples must be a list of {"input": [...], "target": [...]} objects')
    for k, s in enumerate(raw):
        if not isinstance(s, dict):
            raise SpecError(f"samples[{k}] must be an object with input and target")
        samples.append(
            (
                _vector(s.get("input"), layers[0], f"samples[{k}].input"),
                _target(s.get("target"), loss, layers[-1], f"samples[{k}].target"),
            )
        )
    return Spec(
        list(layers),
        list(acts),
        weights,
        biases,
        x,
        y,
        loss,
        lr,
        samples,
        str(spec.get("name", "")),
        str(spec.get("note", "")),
    )


def init_params(layers: list[int], seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Seeded Xavier-style init: small enough that tanh/sigmoid start unsaturated."""
    rng = np.random.default_rng(seed)
    weights = [
        np.round(rng.normal(0.0, 1.0 / math.sqrt(n_in), (n_out, n_in)), 3)
        for n_in, n_out in zip(layers[:-1], layers[1:], strict=False)
    ]
    biases = [np.round(rng.normal(0.0, 0.1, n), 3) for n in layers[1:]]
    return weights, biases


def randomize(spec: Spec, seed: int) -> Spec:
    """Same architecture, input and target; fresh seeded weights."""
    weights, biases = init_params(spec.layers, seed)
    return replace(spec, weights=weights, biases=biases)


# ---------------------------------------------------------------- forward, backward, update


def forward(
    spec: Spec, x: np.ndarray, weights: list[np.ndarray] | None = None, biases: list[np.ndarray] | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """z and a for every layer 1..L."""
    weights = spec.weights if weights is None else weights
    biases = spec.biases if biases is None else biases
    zs, acts, a = [], [], x
    for w, b, name in zip(weights, biases, spec.activations, strict=False):
        z = w @ a + b
        a = activate(name, z)
        zs.append(z)
        acts.append(a)
    return zs, acts


def step(spec: Spec, x: np.ndarray | None = None, y: np.ndarray | None = None) -> Result:
    """One full SGD step on one example, keeping every intermediate quantity."""
    x = spec.x if x is None else x
    y = spec.y if y is None else y
    zs, acts = forward(spec, x)
    n_l = len(spec.weights)
    deltas: list[np.ndarray] = [np.empty(0)] * n_l
    deltas[-1] = output_delta(spec.loss, spec.activations[-1], zs[-1], acts[-1], y)
    for l in range(n_l - 2, -1, -1):
        deltas[l] = (spec.weights[l + 1].T @ deltas[l + 1]) * derivative(spec.activations[l], zs[l])
    prev = [x] + acts[:-1]
    grad_w = [np.outer(d, p) for d, p in zip(deltas, prev, strict=False)]
    grad_b = [d.copy() for d in deltas]
    new_w = [w - spec.lr * g for w, g in zip(spec.weights, grad_w, strict=False)]
    new_b = [b - spec.lr * g for b, g in zip(spec.biases, grad_b, strict=False)]
    return Result(
        spec,
        zs,
        acts,
        loss_value(spec.loss, acts[-1], y),
        deltas,
        spec.weights[0].T @ deltas[0],
        grad_w,
        grad_b,
        new_w,
        new_b,
    )


def dataset(spec: Spec) -> list[tuple[np.ndarray, np.ndarray]]:
    return spec.samples or [(spec.x, spec.y)]


def mean_loss(spec: Spec) -> float:
    """Loss averaged over the samples (or the single example): what the loss curve plots."""
    data = dataset(spec)
    return sum(loss_value(spec.loss, forward(spec, sx)[1][-1], sy) for sx, sy in data) / len(data)


def train(spec: Spec, steps: int) -> tuple[Spec, list[float]]:
    """Plain SGD, one example per step, cycling through the samples.

    Returns the trained spec and steps + 1 losses: the mean loss before the first step and after each step.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or not 0 <= steps <= MAX_TRAIN_STEPS:
        raise SpecError(f"steps must be an integer in 0..{MAX_TRAIN_STEPS}")
    data = dataset(spec)
    curve = [mean_loss(spec)]
    for i in range(steps):
        sx, sy = data[i % len(data)]
        r = step(spec, sx, sy)
        spec = replace(spec, weights=r.updated_weights, biases=r.updated_biases)
        loss = mean_loss(spec)
        if not math.isfinite(loss):
            raise TrainingError(f"loss became {loss} at step {i + 1}; lower the learning rate")
        curve.append(loss)
    return spec, curve
