"""Evaluation with a model: scoring a text, generate-then-score (reproducible), bounded evaluation."""

from __future__ import annotations

import sys
import types

import pytest

from charlm.errors import DataError
from charlm.evaluation import evaluate_texts, generate_and_score
from charlm.generation.settings import Sampling
from tests.helpers import EN_H, EN_R, MIX_H, MIX_R, ZH_H, ZH_R


def test_generate_and_score_uses_the_sampler(monkeypatch):
    calls = []

    def fake_generate(loaded, prompt, s):
        calls.append((prompt, s))
        yield from ["今天天气", "很好。"] if has_zh(prompt) else [EN_H]

    def has_zh(s):
        return any("\u4e00" <= c <= "\u9fff" for c in s)

    monkeypatch.setitem(sys.modules, "charlm.generation.sample", types.SimpleNamespace(generate=fake_generate))
    sampling = Sampling(seed=1, max_new_chars=20)
    r = generate_and_score(object(), ["天气：", "cat:"], [[ZH_R], [EN_R]], sampling=sampling)
    assert [row["hypothesis"] for row in r.rows] == [ZH_H, EN_H]
    assert calls[0][1] is sampling and "seed=1" in r.details["sampling"]
    assert r.scores == evaluate_texts([ZH_H, EN_H], [[ZH_R], [EN_R]]).scores


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random-weight tiny GPT saved and loaded through the real checkpoint code."""
    torch = pytest.importorskip("torch")
    checkpoint = pytest.importorskip("charlm.storage.checkpoint")
    from charlm.models import build_model, preset_config
    from charlm.vocab import CharVocab

    torch.manual_seed(0)
    vocab = CharVocab.from_chars(sorted(set("The cat sat on the mat. 今天天气很好。")))
    config = preset_config("gpt", "tiny", vocab.size)
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    checkpoint.save_checkpoint(path, build_model(config), vocab, config, name="tiny")
    return checkpoint.load_checkpoint(path)


def test_model_scores_on_text(tiny_model):
    from charlm.evaluation import score_model_on_text

    s = score_model_on_text(tiny_model, "The cat sat on the mat.")
    assert {"bpc", "perplexity", "top1", "top5", "n_chars"} <= set(s)
    assert s["bpc"] > 0 and 0 <= s["top1"] <= s["top5"] <= 1
    with pytest.raises(DataError):
        score_model_on_text(tiny_model, "  ")


def test_generate_and_score_with_a_real_model_is_reproducible(tiny_model):
    prompts, refs = ["The cat", "今天"], [["The cat sat on the mat."], ["今天天气很好。"]]
    a = generate_and_score(tiny_model, prompts, refs, sampling=Sampling(max_new_chars=12, temperature=1.0, seed=3))
    b = generate_and_score(tiny_model, prompts, refs, sampling=Sampling(max_new_chars=12, temperature=1.0, seed=3))
    assert a.scores == b.scores and [r["hypothesis"] for r in a.rows] == [r["hypothesis"] for r in b.rows]
    assert all(len(r["hypothesis"]) <= 12 for r in a.rows) and a.rows[1]["prompt"] == "今天"


def test_bounded_evaluation_scores_the_same_or_says_what_it_left_out():
    """A server's limits: TER segment by segment under a time limit equals sacrebleu's corpus TER; a segment too
    long to finish in time leaves TER out (NaN, null in JSON) with a warning; too many token pairs are refused."""
    import math

    from charlm.errors import BudgetError

    hyps, refs = [EN_H, ZH_H, MIX_H], [[EN_R], [ZH_R], [MIX_R]]
    free, bounded = evaluate_texts(hyps, refs), evaluate_texts(hyps, refs, time_limit=60, max_cells=10_000)
    assert bounded.scores == free.scores and bounded.signatures == free.signatures
    long_h = " ".join(f"w{i}" for i in range(300))
    long_r = " ".join(f"v{i}" for i in range(300))
    r = evaluate_texts([long_h], [[long_r]], time_limit=0.5)
    assert math.isnan(r.scores["ter"]) and any("TER was left out" in w for w in r.warnings)
    assert r.to_json_dict()["ter"] is None and r.scores["chrf"] >= 0
    with pytest.raises(BudgetError, match="CHARLM_MAX_EVAL_CELLS"):
        evaluate_texts([long_h], [[long_r]], max_cells=1000)
