"""The network a user describes in JSON: parsing, validation with one clear message, and seeded initialisation.

A spec is untrusted text from a web page, so every number is checked to be finite, every shape to match
``layers`` ([out, in] per weight matrix), every name to be known, and the size is capped before any work.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

import numpy as np

from charlm.backprop.ops import ACTIVATIONS, LOSSES
from charlm.errors import SpecError
from charlm.safejson import MAX_DEPTH, nesting_depth

SPEC_KEYS = {"layers", "activations", "weights", "biases", "input", "target", "loss", "lr", "samples", "name", "note",
             "seed"}  # fmt: skip
MAX_LAYERS = 12  # keeps a pasted spec from tying up the shared app
MAX_WIDTH = 256
MAX_WEIGHTS = 5000  # every weight is drawn, traced and sent: ~1 s and ~1 MB at this size (docs/reliability.md)
MAX_SAMPLES = 64  # training averages the loss over every sample after every step
MAX_ABS = 1e6  # any number in a spec (inputs, targets, weights, biases, lr)
MAX_SPEC_CHARS = 1_000_000  # 64 samples of 256 inputs plus 5,000 weights fit in ~0.4 M characters


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


def _number(v: object, where: str) -> float:
    try:  # float() first: math.isfinite(10**400) raises OverflowError
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(float(v))
    except OverflowError:
        ok = False
    if not ok:
        raise SpecError(f"{where} must be a finite number, got {json.dumps(v)[:40]}")
    if abs(v) > MAX_ABS:  # a few layers of such numbers overflow to inf, and the picture would show nan
        raise SpecError(f"{where} must be between -{MAX_ABS:,.0f} and {MAX_ABS:,.0f}, got {json.dumps(v)[:40]}")
    return float(v)


def _json_kind(v: object) -> str:
    """What a JSON value is, in words (never a Python type name such as NoneType)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, (int, float)):
        return "a number"
    return "text" if isinstance(v, str) else "an object" if isinstance(v, dict) else "a list"


def _vector(v: object, n: int, where: str) -> np.ndarray:
    if not isinstance(v, list):
        raise SpecError(f"{where} must be a list of {n} numbers, got {_json_kind(v)}")
    if len(v) != n:
        raise SpecError(f"{where} must have {n} numbers, got {len(v)}")
    return np.array([_number(x, f"{where}[{i}]") for i, x in enumerate(v)], dtype=np.float64)


def _matrix(v: object, rows: int, cols: int, where: str) -> np.ndarray:
    if not isinstance(v, list) or len(v) != rows or not all(isinstance(r, list) for r in v):
        got = f"{len(v)} rows" if isinstance(v, list) else _json_kind(v)
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


def parse_spec(spec: str | dict, max_weights: int = MAX_WEIGHTS) -> Spec:
    """Turn JSON text or a dict into a Spec, with one clear message for the first problem found."""
    spec = _as_object(spec)
    layers = _layers(spec.get("layers"))
    n_weights = sum(a * b for a, b in zip(layers, layers[1:], strict=False))
    if n_weights > max_weights:
        raise SpecError(f"this network has {n_weights:,} weights; at most {max_weights:,} are allowed here")
    n_l = len(layers) - 1
    acts, loss = _activations_and_loss(spec, n_l, layers[-1])
    lr = _number(spec.get("lr", 0.1), "lr")
    if lr < 0:
        raise SpecError("lr must be >= 0")
    weights, biases = _parameters(spec, layers)
    x = _vector(spec.get("input"), layers[0], "input")
    y = _target(spec.get("target"), loss, layers[-1], "target")
    samples = _samples(spec.get("samples", []), layers, loss)
    return Spec(list(layers), list(acts), weights, biases, x, y, loss, lr, samples, str(spec.get("name", "")),
                str(spec.get("note", "")))  # fmt: skip


def _as_object(spec: str | dict) -> dict:
    if isinstance(spec, str):
        try:
            if len(spec) > MAX_SPEC_CHARS:  # sizes first: checked before the text is parsed
                raise SpecError(f"the spec has {len(spec):,} characters; at most {MAX_SPEC_CHARS:,} are read")
            if nesting_depth(spec) > MAX_DEPTH:  # json.loads would recurse once per level (RecursionError)
                raise SpecError(f"the spec is nested more than {MAX_DEPTH} levels deep")
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(spec, dict):
        raise SpecError("spec must be a JSON object with layers, activations, weights, biases, input, target")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise SpecError(f"unknown spec key(s) {unknown}; allowed: {sorted(SPEC_KEYS)}")
    return spec


def _layers(layers: object) -> list[int]:
    if (
        not isinstance(layers, list)
        or len(layers) < 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in layers)
    ):
        raise SpecError("layers must be a list of at least 2 positive integers, e.g. [3, 2, 1]")
    if len(layers) > MAX_LAYERS + 1 or max(layers) > MAX_WIDTH:
        raise SpecError(f"at most {MAX_LAYERS} layers of at most {MAX_WIDTH} units each")
    return layers


def _activations_and_loss(spec: dict, n_l: int, n_out: int) -> tuple[list[str], str]:
    acts = spec.get("activations")
    if not isinstance(acts, list) or len(acts) != n_l:
        raise SpecError(f"activations must be a list of {n_l} names (one per non-input layer)")
    for i, act in enumerate(acts):
        if not isinstance(act, str) or act not in ACTIVATIONS:
            raise SpecError(
                f"unknown activation {json.dumps(act)[:40]} for layer {i + 1}; choose from {', '.join(ACTIVATIONS)}"
            )
    loss = spec.get("loss", "half_sse")
    if not isinstance(loss, str) or loss not in LOSSES:
        raise SpecError(f"unknown loss {json.dumps(loss)[:40]}; choose from {', '.join(LOSSES)}")
    if "softmax" in acts[:-1]:
        raise SpecError("softmax is only allowed as the output activation")
    if (acts[-1] == "softmax") != (loss == "softmax_ce"):
        raise SpecError("softmax output and loss softmax_ce go together (δᴸ = softmax(z) − y)")
    if loss == "softmax_ce" and n_out < 2:
        raise SpecError("softmax_ce needs at least 2 output units")
    return acts, loss


def _parameters(spec: dict, layers: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The given weights and biases, checked against ``layers``; seeded ones when the spec gives neither."""
    n_l = len(layers) - 1
    if "weights" not in spec and "biases" not in spec:
        seed = spec.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
            raise SpecError("seed must be an integer from 0 to 2^63 - 1")
        return init_params(layers, seed)
    ws, bs = spec.get("weights"), spec.get("biases")
    if not isinstance(ws, list) or len(ws) != n_l:
        raise SpecError(f"weights must be a list of {n_l} matrices, each [out, in]")
    if not isinstance(bs, list) or len(bs) != n_l:
        raise SpecError(f"biases must be a list of {n_l} vectors")
    weights = [_matrix(ws[i], layers[i + 1], layers[i], f"weights[{i}]") for i in range(n_l)]
    biases = [_vector(bs[i], layers[i + 1], f"biases[{i}]") for i in range(n_l)]
    return weights, biases


def _samples(raw: object, layers: list[int], loss: str) -> list[tuple[np.ndarray, np.ndarray]]:
    if not isinstance(raw, list):
        raise SpecError('samples must be a list of {"input": [...], "target": [...]} objects')
    if len(raw) > MAX_SAMPLES:
        raise SpecError(f"at most {MAX_SAMPLES} samples, not {len(raw):,}")
    samples = []
    for k, s in enumerate(raw):
        if not isinstance(s, dict):
            raise SpecError(f"samples[{k}] must be an object with input and target")
        samples.append((_vector(s.get("input"), layers[0], f"samples[{k}].input"),
                        _target(s.get("target"), loss, layers[-1], f"samples[{k}].target")))  # fmt: skip
    return samples


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
