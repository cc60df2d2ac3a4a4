"""ROUGE: vectors, agreement with rouge-score, our tokenizer on English and Chinese, ROUGE-Lsum sentences."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from charlm.evaluation import evaluate_texts
from charlm.evaluation.tokens import CJKAwareTokenizer, split_sentences
from tests.helpers import EN_H, EN_R, MIX_H, MIX_R, ZH_H, ZH_R, one

A = pytest.approx


def test_rouge_vectors():
    en, zh, mix = one(EN_H, EN_R), one(ZH_H, ZH_R), one(MIX_H, MIX_R)
    assert (en.scores["rouge1"], en.scores["rouge2"], en.scores["rougeL"]) == A(
        (76.92307692307692, 54.54545454545454, 76.92307692307692), abs=1e-9
    )
    assert (zh.scores["rouge1"], zh.scores["rouge2"], zh.scores["rougeL"]) == A(
        (71.42857142857143, 33.33333333333333, 71.42857142857143), abs=1e-9
    )
    assert (mix.scores["rouge1"], mix.scores["rouge2"]) == A((81.81818181818182, 60.0), abs=1e-9)
    assert one(ZH_H, ZH_H).scores["rouge1"] == A(100.0)  # rouge-score's default gives 0 here


@pytest.mark.parametrize(
    ("h", "r"),
    [(EN_H, EN_R), ("Running cats were easily seen.", "A cat runs; it was seen easily!"),
     ("don't stop believing 3.10", "Don't stop: believe in 3.10"),
     ("It is raining today.", "Today it rains.")],
)  # fmt: skip
def test_rouge_equals_rouge_score_default_tokenizer_on_english(h, r):
    direct = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(r, h)
    ours = one(h, r)
    for t in ("rouge1", "rouge2", "rougeL"):
        assert ours.scores[t] == A(100 * direct[t].fmeasure, abs=1e-9)


def test_rouge_agrees_with_direct_call_using_our_tokenizer_multi_ref():
    hyp, targets = EN_H, ["The cat is sitting on the mat.", "A cat sat on the mat."]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2"], tokenizer=CJKAwareTokenizer())
    direct = scorer.score_multi(targets, hyp)
    r = evaluate_texts([hyp], [targets])
    assert r.scores["rouge1"] == A(100 * direct["rouge1"].fmeasure) == A(83.33333333333334)
    assert r.scores["rouge2"] == A(100 * direct["rouge2"].fmeasure) == A(80.00000000000002)


def test_tokenizer_samples():
    tok = CJKAwareTokenizer(use_stemmer=False)
    assert tok.tokenize("我用Python 3.10写代码，速度很快！") == list("我用") + ["python", "3", "10"] + list(
        "写代码速度很快"
    )
    assert tok.tokenize("Café naïve") == ["café", "naïve"]
    assert tok.tokenize("表情😀很好🎉") == list("表情很好")


def test_rouge_lsum_splits_sentences_in_english_and_chinese():
    en = one("It was happy. The cat sat on the mat.", "The cat sat on the mat. It was happy.")
    assert en.scores["rougeLsum"] == A(100.0) and en.scores["rougeL"] == A(66.66666666666667, abs=1e-6)
    zh = one("今天天气很好。我们去公园散步。", "我们去公园散步。今天天气很好。")
    assert zh.scores["rougeLsum"] == A(100.0) and zh.scores["rougeL"] == A(53.8461538, abs=1e-6)
    assert split_sentences("Python 3.10 is out. 好！再见") == "Python 3.10 is out.\n好！\n再见"
