"""The hand-written backprop engine against torch autograd, finite differences and hand-checked numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from charlm.backprop import (
    SpecError,
    forward,
    loss_value,
    parse_spec,
    randomize,
    step,
    train,
)
from charlm.backprop.presets import PRESETS, preset
from charlm.backprop.svg import render_svg
from charlm.backprop.trace import build_trace, n_steps
from charlm.errors import CharlmError

TORCH_ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda z: z}


def random_spec(rng: np.random.Generator, layers: list[int], acts: list[str], loss: str) -> dict:
    n = layers[-1]
    if loss == "softmax_ce":
        target = np.eye(n)[rng.integers(n)].tolist()
    else:
        target = rng.normal(size=n).tolist()
    return {
        "layers": layers,
        "activations": acts,
        "weights": [rng.normal(size=(o, i)).tolist() for i, o in zip(layers[:-1], layers[1:], strict=True)],
        "biases": [rng.normal(size=o).tolist() for o in layers[1:]],
        "input": rng.normal(size=layers[0]).tolist(),
        "target": target,
        "loss": loss,
        "lr": float(rng.uniform(0.01, 0.5)),
    }


def torch_reference(d: dict) -> dict:
    """The same step with torch autograd in float64, written independently of the engine."""
    ws = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in d["weights"]]
    bs = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in d["biases"]]
    a = torch.tensor(d["input"], dtype=torch.float64)
    y = torch.tensor(d["target"], dtype=torch.float64)
    zs = []
    for w, b, act in zip(ws, bs, d["activations"], strict=True):
        z = w @ a + b
        z.retain_grad()
        zs.append(z)
        a = z if act == "softmax" else TORCH_ACT[act](z)
    if d["loss"] == "half_sse":
        loss = 0.5 * ((a - y) ** 2).sum()
    elif d["loss"] == "mse":
        loss = torch.nn.functional.mse_loss(a, y)
    else:  # cross_entropy applies the softmax itself, on the logits
        loss = torch.nn.functional.cross_entropy(a.unsqueeze(0), y.unsqueeze(0))
    loss.backward()
    return {
        "loss": loss.item(),
        "delta": [z.grad.numpy() for z in zs],
        "gw": [w.grad.numpy() for w in ws],
        "gb": [b.grad.numpy() for b in bs],
        "new_w": [(w - d["lr"] * w.grad).detach().numpy() for w in ws],
        "new_b": [(b - d["lr"] * b.grad).detach().numpy() for b in bs],
    }


CASES = [
    ([3, 2, 1], ["relu", "linear"], "half_sse"),
    ([4, 5, 3], ["tanh", "sigmoid"], "mse"),
    ([2, 3, 3, 2], ["sigmoid", "relu", "linear"], "half_sse"),
    ([5, 4, 4, 4, 3], ["tanh", "relu", "sigmoid", "softmax"], "softmax_ce"),
    ([3, 6, 2], ["relu", "softmax"], "softmax_ce"),
    ([1, 1], ["linear"], "mse"),
    ([6, 3, 5, 2, 4], ["relu", "tanh", "relu", "tanh"], "mse"),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("layers", "acts", "loss"), CASES)
def test_matches_torch_autograd(layers, acts, loss, seed):
    d = random_spec(np.random.default_rng(1000 * seed + len(layers)), layers, acts, loss)
    ref = torch_reference(d)
    r = step(parse_spec(d))
    assert abs(r.loss - ref["loss"]) <= 1e-9
    for l in range(len(layers) - 1):
        for got, want in [
            (r.delta[l], ref["delta"][l]),
            (r.grad_weights[l], ref["gw"][l]),
            (r.grad_biases[l], ref["gb"][l]),
            (r.updated_weights[l], ref["new_w"][l]),
            (r.updated_biases[l], ref["new_b"][l]),
        ]:
            assert got.shape == want.shape
            assert np.max(np.abs(got - want)) <= 1e-9


@pytest.mark.parametrize(("layers", "acts", "loss"), CASES[:5])
def test_matches_finite_differences(layers, acts, loss):
    spec = parse_spec(random_spec(np.random.default_rng(7), layers, acts, loss))
    r = step(spec)
    h = 1e-6
    for l, w in enumerate(spec.weights):
        for idx in np.ndindex(w.shape):
            plus = [x.copy() for x in spec.weights]
            minus = [x.copy() for x in spec.weights]
            plus[l][idx] += h
            minus[l][idx] -= h
            lp = loss_value(spec.loss, forward(spec, spec.x, plus)[1][-1], spec.y)
            lm = loss_value(spec.loss, forward(spec, spec.x, minus)[1][-1], spec.y)
            assert abs((lp - lm) / (2 * h) - r.grad_weights[l][idx]) < 1e-6


def test_textbook_corrected_numbers():
    """Numbers worked by hand (see backprop_presets) and re-derived with torch, not copied from the engine."""
    d = preset("textbook (corrected)")
    assert d["weights"][0] == [[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]]
    ref = torch_reference(d)
    r = step(parse_spec(d))
    hand = {
        "z1": [1.9, 3.2],
        "yhat": 4.79,
        "loss": 3.89205,
        "delta2": [2.79],
        "delta1": [1.953, 2.232],
        "gw2": [[5.301, 8.928]],
        "gw1": [[1.953, 3.906, 5.859], [2.232, 4.464, 6.696]],
        "w1": [[-0.0953, -0.1906, -0.2859], [0.0768, -0.0464, -0.1696]],
        "b1": [0.3047, 0.3768],
        "w2": [[0.1699, -0.0928]],
        "b2": [0.621],
    }
    np.testing.assert_allclose(r.z[0], hand["z1"], atol=1e-12)
    np.testing.assert_allclose(r.a[0], hand["z1"], atol=1e-12)  # both ReLUs active: nothing is dead
    assert (r.z[0] > 0).all()
    np.testing.assert_allclose(r.a[1], [hand["yhat"]], atol=1e-12)
    assert r.loss == pytest.approx(hand["loss"], abs=1e-12)
    assert ref["loss"] == pytest.approx(hand["loss"], abs=1e-12)
    for got, want, torch_val in [
        (r.delta[1], hand["delta2"], ref["delta"][1]),
        (r.delta[0], hand["delta1"], ref["delta"][0]),
        (r.grad_weights[1], hand["gw2"], ref["gw"][1]),
        (r.grad_weights[0], hand["gw1"], ref["gw"][0]),
        (r.updated_weights[0], hand["w1"], ref["new_w"][0]),
        (r.updated_biases[0], hand["b1"], ref["new_b"][0]),
        (r.updated_weights[1], hand["w2"], ref["new_w"][1]),
        (r.updated_biases[1], hand["b2"], ref["new_b"][1]),
    ]:
        np.testing.assert_allclose(got, want, atol=1e-12)
        np.testing.assert_allclose(torch_val, want, atol=1e-12)
    # after the (too large) step both hidden units are inactive and ŷ = b_o
    assert r.to_json()["loss_after"] == pytest.approx(0.5 * (0.621 - 2) ** 2, abs=1e-12)


def test_trace_shows_the_textbook_arithmetic():
    steps = build_trace(step(parse_spec(preset("textbook (corrected)"))))
    assert len(steps) == n_steps(2) == 7
    assert [s["phase"] for s in steps] == ["input", "forward", "forward", "loss", "backward", "backward", "update"]
    text = json.dumps(steps, ensure_ascii=False)
    for line in [
        "0.1·1 + 0.2·2 + 0.3·3 + 0.5 = 1.9",
        "0.7·1.9 + 0.8·3.2 + 0.9 = 4.79",
        "½ [(4.79 − 2)²] = 3.89205",
        "(4.79 − 2)·1 = 2.79",
        "(0.7·2.79)·relu′(1.9) = 1.953·1 = 1.953",
        "2.79·3.2 = 8.928",
        "0.1 − 0.1·1.953 = −0.0953",
        "0.9 − 0.1·2.79 = 0.621",
    ]:
        assert line in text


def test_dead_relu_preset_freezes_the_unit():
    r = step(parse_spec(preset("dead ReLU")))
    assert r.z[0][0] <= 0 and r.delta[0][0] == 0
    np.testing.assert_array_equal(r.updated_weights[0][0], r.spec.weights[0][0])
    assert r.updated_biases[0][0] == r.spec.biases[0][0]
    assert r.grad_weights[1][0, 0] == 0  # outgoing weight: its activation is 0
    assert "stroke-dasharray" in render_svg(r) and "inactive ReLU" in render_svg(r)


def test_softmax_delta_is_p_minus_y():
    r = step(parse_spec(preset("softmax (2 classes)")))
    np.testing.assert_allclose(r.delta[-1], r.a[-1] - np.array([0.0, 1.0]), atol=1e-15)
    assert r.a[-1].sum() == pytest.approx(1.0)


def test_training_reduces_loss_on_every_preset():
    for name in PRESETS:
        _, curve = train(parse_spec(preset(name)), 300)
        assert len(curve) == 301 and curve[-1] < curve[0] * 0.5, name
    _, curve = train(parse_spec(preset("XOR (tanh)")), 1000)
    assert curve[-1] < 0.01


def test_randomize_is_seeded_and_keeps_shapes():
    spec = parse_spec(preset("textbook (corrected)"))
    a, b, c = randomize(spec, 1), randomize(spec, 1), randomize(spec, 2)
    assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights, strict=True))
    assert not np.array_equal(a.weights[0], c.weights[0])
    assert [w.shape for w in a.weights] == [(2, 3), (1, 2)]
    assert parse_spec(a.to_dict()).to_dict() == a.to_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"activations": ["relu", "swish"]}, 'unknown activation "swish" for layer 2'),
        ({"weights": [[[0.1, 0.2], [0.3, 0.4]], [[0.7, 0.8]]]}, "weights[0] must have shape [2, 3]"),
        ({"biases": [[0.5], [0.9]]}, "biases[0] must have 2 numbers"),
        ({"input": [1, 2]}, "input must have 3 numbers"),
        ({"target": [1, 2]}, "target must have 1 numbers"),
        ({"layers": [3, 0, 1]}, "layers must be a list of at least 2 positive integers"),
        ({"activations": ["relu"]}, "activations must be a list of 2 names"),
        ({"loss": "hinge"}, "unknown loss"),
        ({"loss": "softmax_ce"}, "softmax output and loss softmax_ce go together"),
        ({"lr": "fast"}, "lr must be a finite number"),
        ({"input": [1, 2, float("nan")]}, "input[2] must be a finite number"),
        ({"wieghts": []}, "unknown spec key(s) ['wieghts']"),
    ],
)
def test_spec_validation_messages(change, message):
    d = preset("textbook (corrected)") | change
    with pytest.raises(SpecError) as err:
        parse_spec(d)
    assert message in str(err.value)
    assert isinstance(err.value, CharlmError)


def test_spec_text_errors():
    with pytest.raises(SpecError, match="not valid JSON"):
        parse_spec("{layers: [3, 2, 1]")
    with pytest.raises(SpecError, match="JSON object"):
        parse_spec("[1, 2]")
    with pytest.raises(SpecError, match="unknown preset"):
        preset("nope")
    with pytest.raises(SpecError, match="class index"):
        parse_spec(preset("softmax (2 classes)") | {"target": 5})
    assert parse_spec(preset("softmax (2 classes)") | {"target": 0}).y.tolist() == [1.0, 0.0]


def test_svg_escapes_user_text_and_is_stable():
    d = preset("textbook (corrected)") | {"name": '<script>alert(1)</script>&"'}
    r = step(parse_spec(d))
    svg = render_svg(r, 3)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    # layout depends only on the layer sizes: edit a weight, every shape keeps its place
    d2 = d | {"weights": [[[0.1, -2.0, 0.3], [0.3, 0.4, 0.5]], [[0.7, 0.8]]]}
    svg2 = render_svg(step(parse_spec(d2)), 3)

    def boxes(s: str) -> list[str]:
        return [line.split(" fill=")[0] for line in s.splitlines() if line.startswith("<rect")]

    assert boxes(svg) == boxes(svg2)
    for k in range(n_steps(2)):
        assert render_svg(r, k).count("<rect") >= 5


def test_unknown_activation_is_an_error_never_the_identity():
    from charlm.backprop.ops import activate, derivative

    z = np.array([-1.0, 2.0])
    for fn in (activate, derivative):
        with pytest.raises(SpecError, match="unknown activation 'swish'"):
            fn("swish", z)
    spec = preset("textbook (corrected)") | {"activations": ["swish", "linear"]}
    with pytest.raises(SpecError, match="unknown activation"):
        parse_spec(spec)
    with pytest.raises(SpecError, match="no elementwise derivative"):
        derivative("softmax", z)
