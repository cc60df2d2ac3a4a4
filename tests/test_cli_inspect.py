"""The new commands end to end, as a user runs them: inspect, score with an ensemble, train --optimizer,
compare and search (real subprocesses, tiny budgets)."""

import json
import math

import pytest

from tests.helpers import REPO, shakespeare_slice
from tests.test_cli_lm import run

GPT = str(REPO / "checkpoints" / "shakespeare-gpt")
LSTM = str(REPO / "checkpoints" / "shakespeare-lstm")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inspect") / "t.txt"
    path.write_text(shakespeare_slice(300), encoding="utf-8")
    return path


def test_inspect_gpt_json(text_file):
    p = run("inspect", "--checkpoint", GPT, "--text", str(text_file), "--json", "--threads", "1")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    text = text_file.read_text(encoding="utf-8")
    assert len(out["chars"]) == len(text) - 1 and [c["char"] for c in out["chars"]] == list(text[1:])
    assert math.isclose(out["bpc"], sum(-math.log2(c["prob"]) for c in out["chars"]) / len(out["chars"]))
    top5 = out["chars"][0]["top5"]
    assert len(top5) == 5 and [p for _, p in top5] == sorted((p for _, p in top5), reverse=True)
    att = out["attention"]  # [layer][head][query][key] over the first 128 characters (the context)
    assert (len(att), len(att[0]), len(att[0][0]), len(att[0][0][0])) == (6, 8, 128, 128)
    assert all(abs(sum(row) - 1) < 1e-4 for row in att[5][7])
    assert all(v == 0 for q, row in enumerate(att[0][0]) for v in row[q + 1 :])
    emb = out["embedding"]
    assert len(emb["xy"]) == len(emb["chars"]) == 65 and emb["explained_variance"][0] >= emb["explained_variance"][1]
    assert emb["tied"] is True and "hidden" not in out


def test_inspect_lstm_json_and_summary(text_file):
    p = run("inspect", "--checkpoint", LSTM, "--text", str(text_file), "--json", "--threads", "1")
    out = json.loads(p.stdout)
    assert len(out["hidden"]) == 300 and len(out["hidden"][0]) == 512  # [position][unit], last layer
    assert "attention" not in out and out["units"][0]["feature"] in ("position in line", "after a newline",
                                                                     "upper case")  # fmt: skip
    p = run("inspect", "--checkpoint", LSTM, "--text", str(text_file), "--threads", "1")
    assert p.returncode == 0 and "bits/char" in p.stdout and "most surprising" in p.stdout and "unit" in p.stdout


def test_inspect_refuses_long_text_in_one_line(tmp_path):
    long = tmp_path / "long.txt"
    long.write_text("a" * 2001)
    p = run("inspect", "--checkpoint", GPT, "--text", str(long))
    assert (
        p.returncode == 2
        and p.stderr.startswith("error: the text has 2,001 characters")
        and "at most 2,000" in p.stderr
    )


@pytest.mark.slow
def test_score_ensemble_lists_members(text_file):
    p = run("score", "--checkpoint", GPT, "--checkpoint", LSTM, "--text", str(text_file), "--json", "--threads", "1")
    out = json.loads(p.stdout)
    assert [m["name"] for m in out["members"]] == ["shakespeare-gpt", "shakespeare-lstm"]
    assert out["n_chars"] == out["members"][0]["n_chars"] == 299
    assert out["loss"] < max(m["loss"] for m in out["members"])  # the mixture is never worse than the worst member
    same = json.loads(run("score", "--checkpoint", GPT, "--checkpoint", GPT, "--text", str(text_file), "--json").stdout)
    assert same["loss"] == pytest.approx(same["members"][0]["loss"], rel=1e-6)


@pytest.mark.slow
def test_score_ensemble_with_different_vocabularies_names_them(tmp_path, text_file):
    data = tmp_path / "abc.txt"
    data.write_text("abcabcabd\n" * 300)
    assert run("train", "--data", str(data), "--arch", "rnn", "--size", "tiny", "--out", str(tmp_path / "r"),
               "--max-steps", "2", "--quiet").returncode == 0  # fmt: skip
    p = run("score", "--checkpoint", GPT, "--checkpoint", str(tmp_path / "r"), "--text", str(text_file))
    assert p.returncode == 2 and "same vocabulary" in p.stderr and "lacks" in p.stderr


@pytest.mark.slow
def test_train_with_an_optimizer(tmp_path):
    data = tmp_path / "d.txt"
    data.write_text(shakespeare_slice(20_000), encoding="utf-8")
    p = run("train", "--data", str(data), "--arch", "gru", "--size", "tiny", "--optimizer", "momentum", "--out",
            str(tmp_path / "m"), "--max-steps", "5", "--json", "--quiet")  # fmt: skip
    assert p.returncode == 0, p.stderr
    cfg = json.loads((tmp_path / "m" / "best" / "config.json").read_text())["training"]["train_config"]
    assert cfg["optimizer"] == "momentum" and cfg["lr"] == 3.0 and cfg["weight_decay"] == 0.0
    assert "invalid choice" in run("train", "--data", str(data), "--out", "x", "--optimizer", "lbfgs").stderr


@pytest.mark.slow
def test_compare_and_search_json(tmp_path):
    data = tmp_path / "d.txt"
    data.write_text(shakespeare_slice(20_000), encoding="utf-8")
    p = run("compare", "--data", str(data), "--run", "gpt", "--run", "rnn:sgd", "--time-budget", "2", "--out",
            str(tmp_path / "c"), "--json", "--threads", "1")  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [r["label"] for r in out["runs"]] == ["gpt/adamw", "rnn/sgd"] and out["best"] in ("gpt/adamw", "rnn/sgd")
    assert all(r["curve"] and r["n_params"] > 0 and r["tokens_per_sec"] > 0 and r["sample"] for r in out["runs"])
    p = run("search", "--data", str(data), "--time-budget", "8", "--trial-budget", "3", "--archs", "gpt,rnn",
            "--out", str(tmp_path / "s"), "--json", "--threads", "1")  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["trials"] and out["best"]["checkpoint"].endswith("best")
    assert {t["state"] for t in out["trials"]} <= {"complete", "pruned"}
