"""A public link's worst requests, sent to the real app: each is refused (or trimmed) at once with a message that
names the limit, and no message shows a server path or Gradio's generic error."""

from __future__ import annotations

import json
import struct
import time

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tests.helpers import shakespeare_slice  # noqa: E402

pytestmark = pytest.mark.app
TRAIN = dict(source="paste", corpus_file=None, arch="gpt", size="tiny", max_steps=2, eval_interval=100, seed=1,
             time_budget=5)  # fmt: skip


def refused(call, match: str, within: float = 10.0) -> str:
    """Run ``call``; it must fail within ``within`` seconds with a message matching ``match`` and no internals."""
    t0 = time.perf_counter()
    with pytest.raises(AppError, match=match) as info:
        call()
    assert time.perf_counter() - t0 < within
    message = str(info.value)
    assert "upstream" not in message.lower() and "/tmp" not in message and "Traceback" not in message
    return message


def test_training_steps_are_bounded_before_they_start(client):
    text = shakespeare_slice(20_000)
    refused(lambda: client.predict(**TRAIN, pasted_text=text, block_size=32768, batch_size=1, api_name="/train"),
            "CHARLM_MAX_STEP_GFLOP")  # fmt: skip
    outs = client.predict(**TRAIN, pasted_text=text, batch_size=4096, api_name="/train")
    assert "batch size lowered from 4,096" in outs[1]  # trimmed to the budget and trained, not refused


def test_heavy_requests_are_refused_up_front(client):
    big = json.dumps({"layers": [256] * 13, "activations": ["tanh"] * 11 + ["linear"], "input": [0.1] * 256,
                      "target": [0.0] * 256, "seed": 1})  # fmt: skip
    refused(lambda: client.predict(big, 0, api_name="/backprop"), "786,432 weights; at most 5,000")
    text = shakespeare_slice(1_000_000)
    refused(lambda: client.predict("shakespeare-gpt", text, api_name="/score_model"), "CHARLM_MAX_REQUEST_GFLOP")
    prompts = "\n".join(["ROMEO:"] * 200)
    refused(lambda: client.predict("shakespeare-gpt", prompts, prompts, 500, 0.8, 1, "auto",
                                   api_name="/generate_and_score"), "CHARLM_MAX_REQUEST_GFLOP")  # fmt: skip
    hyps = "\n".join(text[i * 2000 : (i + 1) * 2000].replace("\n", " ") for i in range(100))
    refs = "\n".join(text[200_000 + i * 2000 : 200_000 + (i + 1) * 2000].replace("\n", " ") for i in range(100))
    refused(lambda: client.predict(hyps, refs, None, "auto", api_name="/evaluate"), "CHARLM_MAX_EVAL_CELLS")


def test_upload_is_sized_from_its_config_before_anything_is_built(client, tmp_path):
    head = json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + b"\0\0\0\0")
    for model, message in (({"n_layer": 60, "n_embd": 1024}, "755,[0-9,]+ parameters; this server accepts"),
                           ({"n_layer": 1000}, "n_layer must be an integer from 1 to 64")):  # fmt: skip
        cfg = {
            "format": "charlm-checkpoint",
            "format_version": 1,
            "vocab": {"chars": "abc"},
            "model": {"arch": "gpt", "vocab_size": 4, "n_embd": 64, "n_head": 4, "block_size": 64, **model},
        }
        (tmp_path / "config.json").write_text(json.dumps(cfg))  # fmt: skip
        files = [handle_file(str(tmp_path / "config.json")), handle_file(str(tmp_path / "model.safetensors"))]
        refused(lambda files=files: client.predict(files, api_name="/upload_model"), message)


def raw_call(app_url: str, api: str, data_json: str) -> str:
    """Call an endpoint over plain HTTP with a hand-written JSON body (gradio_client refuses to send NaN or
    Infinity, but any other client can); returns the event stream's text."""
    import httpx

    base = app_url.rstrip("/") + "/gradio_api/call/" + api
    r = httpx.post(base, content=data_json, headers={"Content-Type": "application/json"}, timeout=30)
    r.raise_for_status()
    return httpx.get(f"{base}/{r.json()['event_id']}", timeout=60).text


@pytest.mark.parametrize("bad", ["Infinity", "NaN", '"abc"', str(2**70)])
def test_nonsense_numbers_name_the_field(app_url, bad):
    from charlm.ui.train_tab import FORM_FIELDS

    form = dict(TRAIN, pasted_text="hello world " * 50, builtin=None, lowercase=False, collapse_whitespace=False,
                min_count=0, model_name="", resume=False, lr=0, block_size=0, n_layer=0, n_embd=0, n_head=0,
                hidden_size=0, dropout=0, optimizer="adamw", batch_size="BAD")  # fmt: skip
    body = json.dumps({"data": [form[k] for k in FORM_FIELDS]}).replace('"BAD"', bad)
    out = raw_call(app_url, "train", body)
    assert "event: error" in out and "Batch size" in out and "upstream" not in out.lower(), out[-300:]
    body = json.dumps({"data": ["hi", "shakespeare-gpt", "completion", "A", "B", "BAD", 0, 1.0, 20, 1]})
    out = raw_call(app_url, "chat", body.replace('"BAD"', bad))
    assert "event: error" in out and "temperature" in out and "upstream" not in out.lower(), out[-300:]
