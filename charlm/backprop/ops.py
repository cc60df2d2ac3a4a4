"""The network's operations, each with its forward and its derivative side by side (micrograd's way).

    activation   f(z) and f′(z), elementwise (softmax has no elementwise f′: it is only an output, with softmax_ce)
    loss         L(ŷ, y) and ∂L/∂ŷ; softmax_ce gives ∂L/∂z directly: with a softmax output the Jacobian and the
                 log cancel, leaving ŷ − y

``spec`` checks names against these tables and ``engine`` computes with them; nothing here imports either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from charlm.errors import SpecError


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


@dataclass(frozen=True)
class Activation:
    """f and f′ side by side, as micrograd keeps an op's forward and backward together."""

    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray] | None  # None: no elementwise f′ (softmax; see output_delta)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(np.float64)),  # relu′(0) = 0, as torch
    "tanh": Activation(np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": Activation(_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    "linear": Activation(lambda z: z.copy(), np.ones_like),
    "softmax": Activation(_softmax, None),
}


@dataclass(frozen=True)
class Loss:
    """L and ∂L/∂ŷ side by side; ``fused`` losses (softmax_ce) give δ⁽ᴸ⁾ = ∂L/∂z⁽ᴸ⁾ = ŷ − y from ``grad`` directly."""

    value: Callable[[np.ndarray, np.ndarray], float]
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]
    fused: bool = False  # grad is already ∂L/∂z (the output's activation derivative is folded in)


LOSSES: dict[str, Loss] = {
    "half_sse": Loss(lambda yhat, y: float(0.5 * np.sum((yhat - y) ** 2)), lambda yhat, y: yhat - y),
    "mse": Loss(lambda yhat, y: float(np.mean((yhat - y) ** 2)), lambda yhat, y: 2.0 * (yhat - y) / yhat.size),
    "softmax_ce": Loss(
        lambda yhat, y: float(-np.sum(y * np.log(np.clip(yhat, 1e-300, None)))), lambda yhat, y: yhat - y, fused=True
    ),  # fmt: skip
}


def _activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise SpecError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}") from None


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """f(z) for one layer."""
    return _activation(name).f(z)


def derivative(name: str, z: np.ndarray) -> np.ndarray:
    """f′(z), elementwise."""
    df = _activation(name).df
    if df is None:
        raise SpecError(f"{name} has no elementwise derivative; it is only allowed as the output with softmax_ce")
    return df(z)


def _loss(loss: str) -> Loss:
    try:
        return LOSSES[loss]
    except (KeyError, TypeError):
        raise SpecError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}") from None


def loss_value(loss: str, yhat: np.ndarray, y: np.ndarray) -> float:
    """L(ŷ, y)."""
    return _loss(loss).value(yhat, y)


def output_delta(loss: str, act: str, z: np.ndarray, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """δ⁽ᴸ⁾ = ∂L/∂z⁽ᴸ⁾ = ∂L/∂ŷ ⊙ f′(z⁽ᴸ⁾); with softmax + cross-entropy the Jacobian collapses to ŷ − y."""
    spec = _loss(loss)
    return spec.grad(yhat, y) if spec.fused else spec.grad(yhat, y) * derivative(act, z)
