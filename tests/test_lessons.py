"""The computations behind the Learn tab (charlm.lessons) and the logit lens, on the shipped models."""

from __future__ import annotations

import math

import pytest
import torch

import charlm
from charlm.errors import CharlmError
from tests.helpers import REPO, shakespeare_slice

SHIPPED = REPO / "checkpoints"


def shipped(name: str):
    if not (SHIPPED / name).is_dir():
        pytest.skip(f"no shipped checkpoint {name}")
    return charlm.load_checkpoint(SHIPPED / name)


@pytest.fixture(scope="module")
def gpt():
    return shipped("shakespeare-gpt")


@pytest.fixture(scope="module")
def lstm():
    return shipped("shakespeare-lstm")


# --- logit lens ----------------------------------------------------------------------------------------------------
def test_logit_lens_last_layer_is_the_models_own_prediction(gpt):
    from charlm.inspection.lens import logit_lens

    ids = gpt.vocab.encode("ROMEO:\nBut soft! what light").ids
    lens = logit_lens(gpt.model, ids)
    assert lens.probs.shape == (gpt.config.n_layer + 1, len(ids), gpt.vocab.size)
    torch.testing.assert_close(lens.probs.sum(-1), torch.ones(lens.probs.shape[:2]))
    torch.testing.assert_close(lens.probs[-1], torch.softmax(lens.logits, -1), atol=1e-6, rtol=0)
    with torch.no_grad():
        logits, _ = gpt.model(torch.tensor([ids]))
    torch.testing.assert_close(lens.probs[-1], torch.softmax(logits[0].float(), -1), atol=1e-6, rtol=0)
    assert not torch.allclose(lens.probs[1], lens.probs[-1])  # earlier layers predict something else
    with pytest.raises(CharlmError, match="GPT"):
        logit_lens(shipped("shakespeare-lstm").model, ids)


# --- decoding explorer ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("t", "k", "p"), [(1.0, 0, 1.0), (0.7, 5, 1.0), (1.3, 0, 0.8), (0.5, 10, 0.6)])
def test_explorer_keeps_what_the_sampler_keeps(gpt, t, k, p):
    from charlm.generation.filtering import filter_dense
    from charlm.lessons.decoding import kept_mask, next_char_table, next_logits
    from charlm.vocab import UNK_ID

    logits = next_logits(gpt.model, gpt.vocab, "ROMEO:\nBut so")
    ref = logits.clone()
    ref[UNK_ID] = float("-inf")
    assert kept_mask(logits, t, k, p).tolist() == torch.isfinite(filter_dense(ref / t, k, p)).tolist()
    rows = next_char_table(gpt.model, gpt.vocab, "ROMEO:\nBut so", t, k, p, rows=66)
    assert math.isclose(sum(r["p_final"] for r in rows), 1.0, rel_tol=1e-5)
    assert all(r["p_final"] == 0 for r in rows if not r["kept"])
    kept = [r for r in rows if r["kept"]]
    mass = sum(r["p_temperature"] for r in kept)
    assert all(math.isclose(r["p_final"], r["p_temperature"] / mass, rel_tol=1e-4) for r in kept)
    if k:
        assert len(kept) <= k


def test_continuations_compare_greedy_sampling_and_beam(gpt):
    from charlm.lessons.decoding import continuations

    rows = {r["kind"]: r for r in continuations(gpt, "ROMEO:\nBut soft", 30, 4, 0.8, seed=1)}
    assert set(rows) == {"greedy", "sampled", "beam 4"}
    assert rows["beam 4"]["logprob"] >= rows["greedy"]["logprob"] - 1e-4
    assert all(len(r["text"]) == 30 and r["logprob"] < 0 for r in rows.values())
    with pytest.raises(CharlmError):
        continuations(gpt, "x" * 301)
    with pytest.raises(CharlmError):
        continuations(gpt, "ROMEO", temperature=float("nan"))


# --- recurrent gates -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["shakespeare-lstm", "tang-poems-gru"])
def test_gates_recomputed_match_torchs_layer(name):
    from charlm.lessons.recurrent import gates

    loaded = shipped(name)
    text = 'He said "stop".' if "shake" in name else "床前明月光，疑是地上霜。"
    g = gates(loaded.model, loaded.vocab, text)
    assert g["max_error"] < 1e-4
    assert all(len(v) == len(text) for v in g["gates"].values())
    squashed = [k for k in g["gates"] if k not in ("cell", "new")]  # sigmoid gates lie in (0, 1)
    assert all(0 < x < 1 for k in squashed for x in g["gates"][k])
    with pytest.raises(CharlmError, match="LSTM or GRU"):
        gates(shipped("shakespeare-gpt").model, loaded.vocab, text)


# --- loss ----------------------------------------------------------------------------------------------------------
def test_worked_loss_is_the_scorers_loss(gpt):
    from charlm.lessons.loss import worked_loss

    text = "To be, or not to be, that is the question."
    w = worked_loss(gpt, text)
    assert w["scored"] == len(text) - 1
    row = w["rows"][0]
    assert row["after"] == "T" and row["next"] == "o" and math.isclose(row["bits"], row["nats"] / math.log(2))
    assert w["bpc"] == pytest.approx(charlm.score_text(gpt, text)["bpc"], rel=1e-4)
    assert w["uniform_bpc"] == pytest.approx(math.log2(65))


# --- evaluation ----------------------------------------------------------------------------------------------------
def test_accuracy_differs_from_macro_f1_and_bleu_from_rouge(gpt):
    from charlm.lessons.metrics import bleu_vs_rouge, next_char_labels

    labels = next_char_labels(gpt, "To be, or not to be, that is the question.")
    assert labels["accuracy"] == pytest.approx(labels["micro_f1"])  # single-label: micro F1 is accuracy
    assert labels["macro_f1"] < labels["accuracy"]  # rare characters are missed
    short = bleu_vs_rouge("the cat sat on the mat", "the cat sat on the mat by the door")["scores"]
    scrambled = bleu_vs_rouge("door the by mat the on sat cat the", "the cat sat on the mat by the door")["scores"]
    assert short["rouge1"] < 100 and scrambled["rouge1"] == pytest.approx(100)
    assert scrambled["bleu"] < 10 < short["bleu"]


# --- tuning, ensembling, quantizing --------------------------------------------------------------------------------
def test_ensemble_beats_its_members_and_int8_is_smaller(gpt, lstm):
    from charlm.lessons.tuning import ensemble_scores, int8_vs_fp32

    text = shakespeare_slice(1500)[500:1500]
    rows = ensemble_scores([gpt, lstm], text)
    assert rows[-1]["bpc"] < min(r["bpc"] for r in rows[:-1])
    fp32, int8 = int8_vs_fp32(lstm, text[:300])
    assert int8["size_mb"] < fp32["size_mb"] / 3 and abs(int8["bpc"] - fp32["bpc"]) < 0.05


def test_lr_search_tries_each_rate(one_thread):
    from charlm.lessons.tuning import lr_search

    rows = lr_search(shakespeare_slice(4000), lrs=(1e-4, 1e-2), steps=8)
    assert [r["lr"] for r in rows] == [1e-4, 1e-2] and all(r["val_bpc"] > 0 for r in rows)
    assert rows[1]["val_bpc"] < rows[0]["val_bpc"]  # 1e-4 barely moves in 8 steps


def test_sgd_vs_adam_yields_both_curves(one_thread):
    from charlm.lessons.training import sgd_vs_adam

    events = list(sgd_vs_adam(shakespeare_slice(50_000), seconds=8.0, arch="lstm"))
    last = events[-1]
    assert last["done"] and set(last["curves"]) == {"lstm/sgd", "lstm/adam"}
    assert all(len(points) >= 2 for points in last["curves"].values())
    assert last["best"]["lstm/adam"] < last["best"]["lstm/sgd"]
    with pytest.raises(CharlmError):
        next(sgd_vs_adam("short", 3.0))
