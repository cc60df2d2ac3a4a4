"""BLEU, chrF and TER: the reference notes' vectors, and agreement with direct sacrebleu calls."""

from __future__ import annotations

import pytest
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF, TER

from charlm.errors import DataError
from charlm.evaluation import evaluate_texts
from charlm.evaluation.files import (
    streams_to_refs,
)
from charlm.evaluation.tokens import resolve_tokenize
from tests.helpers import EN_H, EN_R, MIX_H, MIX_R, ZH_H, ZH_R, one

A = pytest.approx


@pytest.mark.parametrize(
    ("tok", "expected"),
    [("13a", 42.38365628278778), ("intl", 42.38365628278778), ("zh", 42.38365628278778),
     ("char", 52.936944785516914), ("none", 32.159351091190125)],
)  # fmt: skip
def test_bleu_english_vectors(tok, expected):
    r = one(EN_H, EN_R, tok)
    assert r.scores["bleu"] == A(expected, abs=1e-9)
    assert r.rows[0]["bleu"] == A(expected, abs=1e-9)  # sentence BLEU equals corpus BLEU for one segment
    assert f"tok:{tok}" in r.signatures["bleu"]


@pytest.mark.parametrize(
    ("tok", "corpus", "sentence"),
    [("13a", 0.0, 0.0), ("intl", 0.0, 49.99999999999999), ("zh", 17.09588824982593, 17.09588824982593),
     ("char", 17.09588824982593, 17.09588824982593), ("none", 0.0, 0.0)],
)  # fmt: skip
def test_bleu_chinese_vectors(tok, corpus, sentence):
    r = one(ZH_H, ZH_R, tok)
    assert r.scores["bleu"] == A(corpus, abs=1e-9)
    assert r.rows[0]["bleu"] == A(sentence, abs=1e-9)


def test_auto_tokenizer_picks_zh_for_cjk_and_13a_otherwise():
    assert one(ZH_H, ZH_R).tokenize == "zh"
    assert one(ZH_H, ZH_R).scores["bleu"] == A(17.09588824982593, abs=1e-9)
    assert one(MIX_H, MIX_R).scores["bleu"] == A(48.871645172969465, abs=1e-9)
    assert one(EN_H, EN_R).tokenize == "13a"
    assert resolve_tokenize("auto", ["日本語のテスト"]) == "zh"
    with pytest.raises(DataError, match="unknown tokenize"):
        resolve_tokenize("ja-mecab", ["x"])


def test_bilingual_corpus_uses_one_tokenizer():
    r = evaluate_texts([EN_H, ZH_H], [[EN_R], [ZH_R]])
    assert r.tokenize == "zh"
    assert r.scores["bleu"] == A(26.98760841421333, abs=1e-9)


def test_corpus_bleu_is_not_mean_of_sentence_bleu():
    r = evaluate_texts([EN_H, "It is raining today."], [[EN_R], ["Today it rains."]])
    assert r.scores["bleu"] == A(31.40084866979347, abs=1e-9)
    assert [row["bleu"] for row in r.rows] == A([42.38365628278778, 10.682175159905848], abs=1e-9)


def test_effective_order_for_sentence_bleu():
    r = one("Hello world", "Hello world !")
    assert r.scores["bleu"] == 0.0
    assert r.rows[0]["bleu"] == A(60.653065971263366, abs=1e-9)


def test_chrf_and_ter_vectors():
    en, zh = one(EN_H, EN_R), one(ZH_H, ZH_R)
    assert en.scores["chrf"] == A(49.6485170311433, abs=1e-9)
    assert en.scores["ter"] == A(28.57142857142857, abs=1e-9)
    assert zh.scores["chrf"] == A(18.207605029132164, abs=1e-9)
    assert zh.scores["ter"] == A(33.33333333333333, abs=1e-9)  # asian-aware TER for zh
    assert "asian:yes" in zh.signatures["ter"] and "asian:no" in en.signatures["ter"]


def _direct(hyps, streams, tok):
    bleu = BLEU(tokenize=tok)
    chrf, ter = CHRF(), TER(normalized=tok in ("zh", "char"), asian_support=tok in ("zh", "char"))
    return {
        "bleu": (bleu.corpus_score(hyps, streams).score, str(bleu.get_signature())),
        "chrf": (chrf.corpus_score(hyps, streams).score, str(chrf.get_signature())),
        "ter": (ter.corpus_score(hyps, streams).score, str(ter.get_signature())),
    }


@pytest.mark.parametrize("tok", ["13a", "zh", "intl", "char", "none"])
def test_agrees_with_direct_sacrebleu_multi_reference(tok):
    hyps = [EN_H, "It is raining today.", ZH_H, MIX_H]
    ra = [EN_R, "Today it rains.", ZH_R, MIX_R]
    rb = ["A cat sat on the mat.", "It rains today.", "今天天气非常好。", "我用Python写代码，速度很快！"]
    r = evaluate_texts(hyps, streams_to_refs(hyps, [ra, rb]), tokenize=tok)
    for key, (score, sig) in _direct(hyps, [ra, rb], tok).items():
        assert r.scores[key] == A(score, abs=1e-9), key
        assert r.signatures[key] == sig
    assert "nrefs:2" in r.signatures["bleu"]
    sent = BLEU(tokenize=tok, effective_order=True)
    assert [row["bleu"] for row in r.rows] == A([sent.sentence_score(h, [a, b]).score for h, a, b in
                                                 zip(hyps, ra, rb, strict=True)], abs=1e-9)  # fmt: skip
    assert r.rows[0]["chrf"] == A(sacrebleu.sentence_chrf(hyps[0], [ra[0], rb[0]]).score, abs=1e-9)


def test_variable_reference_count_uses_none_not_empty():
    hyps = [EN_H, ZH_H]
    r = evaluate_texts(hyps, [[EN_R, "A cat sat on the mat."], [ZH_R, ""]])
    assert "nrefs:var" in r.signatures["bleu"]
    direct = BLEU(tokenize="zh").corpus_score(hyps, [[EN_R, ZH_R], ["A cat sat on the mat.", None]])
    assert r.scores["bleu"] == A(direct.score, abs=1e-9)


def test_matched_spans_mark_the_longest_shared_ngram():
    from charlm.evaluation.matches import matched_spans

    hyp = "The cat sat on the mat."
    spans = matched_spans(hyp, ["The cat is sitting on the mat."])
    assert "".join(p for p, _ in spans) == hyp  # the pieces are the text, whitespace included
    marks = {p: n for p, n in spans if n is not None}
    assert marks == {"The": 2, "cat": 2, "sat": 0, "on": 4, "the": 4, "mat": 4, ".": 4}
    zh = matched_spans("今天天气很好。", ["今天的天气非常好。", "很"])
    assert [n for _, n in zh] == [2, 2, 2, 2, 1, 2, 2]  # 很 is in the second reference only
