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

import math
from dataclasses import dataclass, replace

import numpy as np

from charlm.backprop.ops import activate, derivative, loss_value, output_delta
from charlm.backprop.spec import Spec
from charlm.errors import SpecError, TrainingError

MAX_TRAIN_STEPS = 20_000
MAX_TRAIN_PASSES = 300_000  # steps x (samples + 1): every step re-measures the loss on every sample (~10 s at most)


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
    if steps * (len(data) + 1) > MAX_TRAIN_PASSES:
        raise SpecError(
            f"{steps:,} steps over {len(data)} samples is too much work here; at most "
            f"{MAX_TRAIN_PASSES // (len(data) + 1):,} steps with this many samples"
        )
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
