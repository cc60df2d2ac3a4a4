"""The new endpoints through gradio_client: /inspect, /score_ensemble, /sample_ensemble, /compare, /search and the
Train tab's optimizer, on the real app (shipped checkpoints, small limits)."""

import json

import pytest

gr = pytest.importorskip("gradio")
from gradio_client.exceptions import AppError  # noqa: E402

from tests.helpers import shakespeare_slice  # noqa: E402

pytestmark = pytest.mark.app
OUTPUTS = ("status", "surprise", "worst", "layer", "head", "query", "att_plot", "query_view", "hid_plot", "units",
           "emb_plot", "char", "neighbours", "gate")  # fmt: skip


def inspect(client, model: str, text: str) -> dict:
    return dict(zip(OUTPUTS, client.predict(model, text, api_name="/inspect"), strict=True))


def test_new_endpoints_are_named(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/inspect", "/score_ensemble", "/sample_ensemble", "/compare", "/search", "/stop_compare",
            "/stop_search"} <= names  # fmt: skip


def test_inspect_the_shipped_gpt(client):
    out = inspect(client, "shakespeare-gpt", "ROMEO:\nBut soft! what light through yonder window breaks?")
    assert "bits/char" in out["status"] and "GPT" in out["status"]
    assert out["surprise"].count("<span") > 50 and "top-5" in out["surprise"] and "bits" in out["surprise"]
    worst = out["worst"]["data"]
    assert len(worst) == 10 and worst[0][3] >= worst[-1][3]  # sorted by bits, most surprising first
    assert [c[1] for c in out["layer"]["choices"]] == list(range(6))
    assert [c[1] for c in out["head"]["choices"]] == list(range(8))
    heat = json.loads(out["att_plot"]["plot"])["data"][0]
    z = heat["z"] if isinstance(heat["z"], list) else None
    if z is not None:  # plotly may encode big arrays as binary; when it lists them, check the rows
        assert all(abs(sum(row) - 1) < 1e-4 for row in z)
    assert out["hid_plot"] is None and "query" in out["query_view"]
    assert json.loads(out["emb_plot"]["plot"])["layout"]["title"]["text"].endswith("(tied weights)")


def test_inspect_the_shipped_lstm_and_chinese_and_caps(client):
    out = inspect(client, "shakespeare-lstm", "KING HENRY:\nWhat say you, lords?\nNo more, no more.\n")
    assert "LSTM" in out["status"] and out["att_plot"] is None and out["hid_plot"]["type"] == "plotly"
    assert out["units"]["data"] and all(-1 <= row[2] <= 1 for row in out["units"]["data"])
    assert [c[1] for c in out["gate"]["choices"]] == ["hidden", "input", "forget", "output"]  # the LSTM's gates
    out = inspect(client, "shakespeare-gpt", "床前明月光，疑是地上霜。")
    assert "never saw" in out["status"]  # no Chinese in Shakespeare: named, not an error
    with pytest.raises(AppError, match="at most 2,000"):
        inspect(client, "shakespeare-gpt", "a" * 2001)


def test_ensemble_score_and_sample(client):
    text = shakespeare_slice(1000)
    table = client.predict(["shakespeare-gpt", "shakespeare-lstm"], text, api_name="/score_ensemble")
    rows = {r[0]: r[1] for r in table["data"]}
    assert set(rows) == {"ensemble of shakespeare-gpt + shakespeare-lstm", "shakespeare-gpt", "shakespeare-lstm"}
    assert rows["ensemble of shakespeare-gpt + shakespeare-lstm"] < max(rows["shakespeare-gpt"],
                                                                       rows["shakespeare-lstm"])  # fmt: skip
    same = client.predict(["shakespeare-gpt", "shakespeare-gpt", "shakespeare-lstm"], text, api_name="/score_ensemble")
    assert len(same["data"]) == 3  # a repeated name counts once
    sample = client.predict(["shakespeare-gpt", "shakespeare-lstm"], "ROMEO:", 1, api_name="/sample_ensemble")
    assert len(sample) == 300
    with pytest.raises(AppError, match="at least two models"):
        client.predict(["shakespeare-gpt"], text, api_name="/score_ensemble")


def test_compare_and_search_put_the_best_model_in_the_picker(client):
    text = shakespeare_slice(20_000)
    job = client.submit(source="paste", corpus_file=None, pasted_text=text, runs=["gpt/adamw", "rnn/sgd"], size="tiny",
                        seconds_per_run=5, api_name="/compare")  # fmt: skip
    plot, table, status, picker = job.result(timeout=180)
    assert [r[0] for r in table["data"]] == ["gpt/adamw", "rnn/sgd"] and "Best:" in status
    assert {row[2] for row in plot["data"]} == {"gpt/adamw", "rnn/sgd"}
    assert picker["value"].startswith("best-")
    assert client.predict(picker["value"], "abc", api_name="/inspect")[0].startswith("**")  # a session model inspects
    job = client.submit(source="paste", corpus_file=None, pasted_text=text, archs=["gpt", "rnn"], total_seconds=12,
                        trial_seconds=5, api_name="/search")  # fmt: skip
    table, status, picker = job.result(timeout=180)
    assert table["data"] and "best: trial" in status and picker["value"].startswith("search-best-")
    with pytest.raises(AppError, match="limit for one training job"):
        client.predict(source="paste", corpus_file=None, pasted_text=text, runs=["gpt/adamw", "gru/adamw"],
                       seconds_per_run=100, api_name="/compare")  # fmt: skip


@pytest.mark.parametrize("optimizer", ["sgd", "muon"])
def test_train_with_an_optimizer_from_the_form(client, optimizer):
    text = shakespeare_slice(5000)
    job = client.submit(api_name="/train", source="paste", corpus_file=None, pasted_text=text, arch="gpt",
                        size="tiny", time_budget=30, max_steps=5, eval_interval=5, optimizer=optimizer,
                        model_name=f"{optimizer}-run")  # fmt: skip
    job.result(timeout=120)
    assert "finished" in job.outputs()[-1][1]
    with pytest.raises(AppError, match="must be one of .*sgd.*, not 'lion'"):  # charlm.ui.guard
        client.predict(source="paste", corpus_file=None, pasted_text=text, arch="gpt", size="tiny", time_budget=30,
                       max_steps=5, optimizer="lion", api_name="/train")  # fmt: skip
