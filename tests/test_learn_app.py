"""The Learn tab's endpoints and the logit lens through gradio_client, on the real app (shipped checkpoints)."""

from __future__ import annotations

import json

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from charlm.ui.learn_tab import SLUGS  # noqa: E402

pytestmark = pytest.mark.app
FAST = {  # endpoint: (the lesson's inputs, the same with its "try this" control changed)
    "vectors": (("shakespeare-gpt", "e"), ("shakespeare-gpt", "T")),
    "attention": (("shakespeare-gpt", "To be, or not to be", 0), ("shakespeare-gpt", "To be, or not to be", 13)),
    "recurrent": (("shakespeare-lstm", 'He said "stop".', "gates"), ("shakespeare-lstm", 'He said "stop".', "state")),
    "loss": (("shakespeare-gpt", "To be, or not to be"), ("shakespeare-gpt", "TO BE, OR NOT TO BE")),
    "decoding": (("shakespeare-gpt", "ROMEO:", 1.0, 0, 1.0, 2, 0), ("shakespeare-gpt", "ROMEO:", 0.3, 3, 1.0, 2, 0)),
    "tuning": (("shakespeare-gpt", "ensemble"), ("shakespeare-gpt", "int8")),
    "evaluation": (("shakespeare-gpt", "To be, or not", "the cat sat", "the cat sat on the mat"),
                   ("shakespeare-gpt", "To be, or not", "mat the on sat cat the", "the cat sat on the mat")),
    "equations": ((0,), (5,)),
}  # fmt: skip


def figure(out) -> dict:
    return json.loads(out["plot"]) if isinstance(out, dict) and "plot" in out else {"html": out}


def test_every_lesson_is_an_endpoint(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {f"/learn_{s}" for s in SLUGS} | {"/logit_lens"} <= names


@pytest.mark.parametrize("slug", list(FAST))
def test_lesson_draws_and_its_try_this_changes_the_figure(client, slug):
    first, changed = FAST[slug]
    fig_a, note_a = client.predict(*first, api_name=f"/learn_{slug}")
    fig_b, note_b = client.predict(*changed, api_name=f"/learn_{slug}")
    assert figure(fig_a) != figure(fig_b) and note_a and note_b
    assert "None" not in note_a and "Traceback" not in note_a


def test_lessons_refuse_bad_requests_with_clear_messages(client):
    with pytest.raises(AppError, match="needs a GPT model, not LSTM"):
        client.predict("shakespeare-lstm", "To be", 0, api_name="/learn_attention")
    with pytest.raises(AppError, match="needs a LSTM/GRU model, not GPT"):
        client.predict("shakespeare-gpt", "To be", "gates", api_name="/learn_recurrent")
    with pytest.raises(AppError, match="at most 300"):
        client.predict("shakespeare-gpt", "x" * 301, api_name="/learn_loss")
    with pytest.raises(AppError, match="must be between 0.1 and .*, not 0"):
        client.predict("shakespeare-gpt", "ROMEO:", 0.0, 0, 1.0, 2, 0, api_name="/learn_decoding")
    with pytest.raises(AppError, match="no model named"):
        client.predict("nope", "e", api_name="/learn_vectors")


def test_errors_and_figures_in_chinese(app_url):
    zh = Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN"})
    try:
        with pytest.raises(AppError, match="本课需要 LSTM/GRU 模型，而不是 GPT"):
            zh.predict("shakespeare-gpt", "To be", "gates", api_name="/learn_recurrent")
        fig, note = zh.predict("shakespeare-gpt", "To be, or not", api_name="/learn_loss")
        assert "交叉熵" in note and "比特" in json.dumps(figure(fig), ensure_ascii=False)
    finally:
        zh.close()


def test_decoding_walks_along_greedys_continuation(client):
    first = figure(client.predict("shakespeare-gpt", "ROMEO:", 1.0, 0, 1.0, 1, 0, api_name="/learn_decoding")[0])
    later = figure(client.predict("shakespeare-gpt", "ROMEO:", 1.0, 0, 1.0, 1, 12, api_name="/learn_decoding")[0])
    assert "0 characters" in first["layout"]["title"]["text"] and "12 characters" in later["layout"]["title"]["text"]
    assert first["data"][0]["y"] != later["data"][0]["y"]


def test_training_lesson_draws_both_optimizers(client):
    fig, note = client.predict("shakespeare-lstm", 4, "", api_name="/learn_training")
    names = {trace["name"] for trace in figure(fig)["data"]}
    assert names == {"lstm/sgd", "lstm/adam"} and "lstm/adam:" in note
    with pytest.raises(AppError, match="at least 2000 characters"):
        client.predict("shakespeare-lstm", 4, "too short to train on", api_name="/learn_training")


def test_chapter_lesson_trains_and_generates(client):
    fig, note = client.predict("The quick brown fox jumps over the lazy dog while the cat sleeps on.", 20,
                               api_name="/learn_chapter")  # fmt: skip
    assert len(figure(fig)["data"][0]["x"]) == 20 and "Greedy" in note and "Sampled" in note
    with pytest.raises(AppError, match="must be between .* and 400, not 10000"):
        client.predict("The quick brown fox jumps over the lazy dog.", 10_000, api_name="/learn_chapter")
    with pytest.raises(AppError, match="at most 200"):
        client.predict("x" * 201, 20, api_name="/learn_chapter")


def test_logit_lens_last_row_is_the_models_prediction(client, app_demo):
    import torch

    text = "ROMEO:\nBut soft"
    fig = figure(client.predict("shakespeare-gpt", text, api_name="/logit_lens"))
    heat = fig["data"][0]
    loaded = app_demo[0].charlm_registry.resolve("shakespeare-gpt", "")
    with torch.no_grad():
        logits, _ = loaded.model(torch.tensor([loaded.vocab.encode(text).ids]))
    best = [loaded.vocab.chars[i - 1] for i in logits[0].argmax(-1).tolist()]
    show = {"\n": "⏎", " ": "␣"}
    assert heat["text"][-1] == [show.get(c, c) for c in best]
    assert len(heat["text"]) == loaded.config.n_layer + 1
    with pytest.raises(AppError, match="GPT"):
        client.predict("shakespeare-lstm", text, api_name="/logit_lens")
