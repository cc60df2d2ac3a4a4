"""The Backprop tab in a real server, driven through its public API with gradio_client."""

from __future__ import annotations

import json
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402

gr = pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402

from charlm.backprop.presets import preset  # noqa: E402
from charlm.ui.backprop_tab import build_backprop_tab, spec_text  # noqa: E402
from tests.helpers import launch  # noqa: E402

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def client():
    with gr.Blocks() as demo:
        build_backprop_tab()
    url = launch(demo)
    c = Client(url, verbose=False)
    yield c
    c.close()
    demo.close()


def test_public_endpoints(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert names == {"/backprop", "/backprop_train"}


def test_backprop_textbook(client):
    spec = spec_text(preset("textbook (corrected)"))
    out, svg, equations, k = client.predict(spec, -1, api_name="/backprop")
    assert k == 6
    assert out["loss"] == pytest.approx(3.89205, abs=1e-12)
    assert out["delta"][0] == pytest.approx([1.953, 2.232])
    assert out["updated_weights"][0][0] == pytest.approx([-0.0953, -0.1906, -0.2859])
    assert len(out["trace"]) == 7
    assert svg.startswith("<svg") and "δ = 1.953" in svg
    assert "SGD update" in equations and "−0.0953" in equations


def test_edit_a_weight_changes_gradients_and_steps_clamp(client):
    d = preset("textbook (corrected)")
    d["weights"][1] = [[-0.7, 0.8]]
    out, _, equations, k = client.predict(json.dumps(d), 4, api_name="/backprop")
    assert k == 4 and "Backward, layer 2" in equations
    assert out["delta"][0][0] == pytest.approx(-0.7 * out["delta"][1][0])
    _, _, _, k = client.predict(json.dumps(d), 99, api_name="/backprop")
    assert k == 6


def test_bad_spec_is_a_clear_error(client):
    d = preset("textbook (corrected)") | {"activations": ["relu", "<b>nope</b>"]}
    with pytest.raises(Exception, match="unknown activation"):
        client.predict(json.dumps(d), 0, api_name="/backprop")


def test_svg_escapes_name(client):
    d = preset("dead ReLU") | {"name": "<img src=x onerror=alert(1)>"}
    _, svg, _, _ = client.predict(json.dumps(d), 0, api_name="/backprop")
    assert "<img" not in svg and "&lt;img" in svg


def test_train_endpoint(client):
    plot, trained, msg = client.predict(spec_text(preset("XOR (tanh)")), 300, api_name="/backprop_train")
    losses = [row[1] for row in plot["data"]]
    assert losses[-1] < losses[0]
    assert json.loads(trained)["weights"] != preset("XOR (tanh)")["weights"]
    assert msg.startswith("Trained 300 steps")


def test_training_explains_the_zig_zag_of_per_sample_sgd(client):
    """XOR has 4 samples, one per step: the mean loss over all 4 goes up and down, and the message says why."""
    plot, _, msg = client.predict(spec_text(preset("XOR (tanh)")), 40, api_name="/backprop_train")
    losses = [row[1] for row in plot["data"]]
    assert any(b > a for a, b in zip(losses, losses[1:], strict=False))  # it does go up at some steps
    assert "per-sample SGD" in msg and "4 samples" in msg
    _, _, msg = client.predict(spec_text(preset("textbook (corrected)")), 5, api_name="/backprop_train")
    assert "zig-zag" not in msg  # one example: nothing to explain
    zh = Client(client.src, verbose=False, headers={"Accept-Language": "zh-CN"})
    _, _, msg = zh.predict(spec_text(preset("XOR (tanh)")), 40, api_name="/backprop_train")
    assert "逐样本" in msg
    zh.close()
