"""Metric core: reference-note vectors, agreement with direct sacrebleu/rouge-score calls, tricky inputs."""

from __future__ import annotations

import json
import sys
import types

import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF, TER

from charlm.errors import DataError
from charlm.evaluation import SCORE_KEYS, classification_scores, evaluate_texts, generate_and_score
from charlm.evaluation.files import (
    MAX_SEGMENT_CHARS,
    read_lines_file,
    read_table,
    split_reference_sets,
    streams_to_refs,
    write_reports,
)
from charlm.evaluation.text_metrics import exact_match, token_f1
from charlm.evaluation.tokens import CJKAwareTokenizer, f1_tokens, resolve_tokenize, split_sentences
from charlm.text import decode_bytes, split_lines

EN_H, EN_R = "The cat sat on the mat.", "The cat is sitting on the mat."
ZH_H, ZH_R = "今天天气很好。", "今天的天气非常好。"
MIX_H, MIX_R = "我用Python写代码，速度很快。", "我用 Python 编写代码，速度非常快。"
A = pytest.approx


def one(h: str, r: str, tokenize: str = "auto"):
    return evaluate_texts([h], [[r]], tokenize=tokenize)


# --- BLEU / chrF / TER: the vectors of the reference notes -----------------------------------------


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


# --- ROUGE -----------------------------------------------------------------------------------------


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


# --- F1 / exact match ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "golds", "em", "f1"),
    [("the Eiffel Tower", ["Eiffel Tower"], 1, 1.0), ("in Paris, France", ["Paris"], 0, 0.5),
     ("Denver Broncos", ["Denver Broncos", "The Denver Broncos"], 1, 1.0),
     (EN_H, [EN_R], 0, 0.6666666666666665), ("An apple a day", ["apple day"], 1, 1.0),
     ("北京市", ["北京"], 0, 0.8), ("巴黎。", ["巴黎"], 1, 1.0), ("京北", ["北京"], 0, 1.0),
     (ZH_H, [ZH_R], 0, 0.7142857142857143), (MIX_H, [MIX_R], 0, 0.8181818181818182),
     ("我用Python写代码", ["用 python 写代码"], 0, 0.9090909090909091), ("", ["Paris"], 0, 0.0),
     ("", [""], 1, 1.0), ("ＡＢＣ１２３", ["abc123"], 1, 1.0)],
)  # fmt: skip
def test_f1_em_vectors(pred, golds, em, f1):
    assert max(exact_match(pred, g) for g in golds) == em
    assert max(token_f1(pred, g) for g in golds) == A(f1, abs=1e-9)
    r = evaluate_texts([pred], [golds])
    assert (r.scores["exact_match"], r.scores["f1"]) == A((100 * em, 100 * f1), abs=1e-9)


def test_f1_equals_official_squad_on_english():
    import re
    import string
    from collections import Counter

    def norm(s):
        s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())

    def squad_f1(p, g):
        pt, gt = norm(p).split(), norm(g).split()
        same = sum((Counter(pt) & Counter(gt)).values())
        return 0.0 if same == 0 else 2 * same / (len(pt) + len(gt))

    for p, g in [(EN_H, EN_R), ("in Paris, France", "Paris"), ("It is raining today.", "Today it rains.")]:
        assert token_f1(p, g) == A(squad_f1(p, g), abs=1e-12)
        assert exact_match(p, g) == float(norm(p) == norm(g))
    assert f1_tokens("The cat—isn't “here”.") == ["cat", "isn", "t", "here"]


# --- classification --------------------------------------------------------------------------------


def test_classification_vectors_match_sklearn():
    true = ["cat", "dog", "cat", "bird", "dog", "cat", "猫", "猫"]
    pred = ["cat", "cat", "cat", "dog", "dog", "bird", "猫", "dog"]
    s = classification_scores(pred, true)
    assert s["accuracy"] == 0.5
    assert (s["micro_precision"], s["micro_recall"], s["micro_f1"]) == A((0.5, 0.5, 0.5))
    assert (s["macro_precision"], s["macro_recall"], s["macro_f1"]) == A((0.5, 0.41666666666666663, 0.4333333333))
    assert (s["weighted_precision"], s["weighted_recall"], s["weighted_f1"]) == A((0.5833333333, 0.5, 0.5166666666))
    assert s["per_class"]["猫"] == {"precision": 1.0, "recall": 0.5, "f1": A(0.6666666666), "support": 2}
    assert s["per_class"]["bird"]["precision"] == 0.0


def test_binary_precision_is_not_accuracy():
    s = classification_scores(["1", "1", "1", "0", "0", "0"], ["1", "0", "1", "1", "0", "1"])
    p = s["per_class"]["1"]
    assert (p["precision"], p["recall"], p["f1"]) == A((0.6666666666666666, 0.5, 0.5714285714285715))
    assert s["accuracy"] == 0.5
    with pytest.raises(DataError, match="3 predicted labels but 2 true labels"):
        classification_scores(["a", "b", "c"], ["a", "b"])


# --- tricky inputs ---------------------------------------------------------------------------------


def test_empty_hypothesis_and_reference_rows_are_kept_and_warned():
    r = evaluate_texts(["", EN_H, ""], [[EN_R], [""], [""]])
    assert r.n_segments == 3 and len(r.rows) == 3
    assert r.rows[0]["bleu"] == 0.0 and r.rows[0]["f1"] == 0.0
    assert r.rows[1]["f1"] == 0.0 and r.rows[2]["f1"] == 100.0 and r.rows[2]["exact_match"] == 100.0
    assert any("hypothesis line 1 is empty" in w for w in r.warnings)
    assert any("reference line 2 is empty" in w for w in r.warnings)


def test_whitespace_only_counts_as_empty():
    r = evaluate_texts(["   "], [["\t"]])
    assert r.rows[0]["f1"] == 100.0 and r.scores["bleu"] == 0.0
    assert r.warnings


def test_split_lines_handles_crlf_bom_trailing_newline_and_unicode_separators():
    assert split_lines("\ufeffa b\r\nc d\r\n") == ["a b", "c d"]
    assert split_lines("a\rb\n\n") == ["a", "b", ""]  # only ONE trailing newline is dropped
    assert split_lines("a\u2028b\x0cc\x85d\ne") == ["a\u2028b\x0cc\x85d", "e"]
    assert split_lines("") == []


def test_bom_in_pasted_hypothesis_is_ignored():
    assert one("\ufeff" + EN_H, EN_R).scores["bleu"] == A(42.38365628278778, abs=1e-9)


def test_crlf_inside_segments_does_not_change_rouge_lsum():
    r = evaluate_texts(["a b c\r\nd e f"], [["a b c\nd e f"]])
    assert r.scores["rougeLsum"] == A(100.0) and r.scores["rougeL"] == A(100.0)


def test_files_count_mismatch_names_both_counts(tmp_path):
    (tmp_path / "h.txt").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "r.txt").write_text("a\nb\n", encoding="utf-8")
    hyps = read_lines_file(tmp_path / "h.txt")
    with pytest.raises(DataError, match=r"3 hypothesis lines but 2 lines in r\.txt"):
        streams_to_refs(hyps, [read_lines_file(tmp_path / "r.txt")], names=["r.txt"])


def test_undecodable_file_is_named(tmp_path):
    p = tmp_path / "gbk.txt"
    p.write_bytes("今天天气很好".encode("gb18030"))
    with pytest.raises(DataError, match=r"gbk\.txt is not valid UTF-8"):
        read_lines_file(p)
    with pytest.raises(DataError, match="binary"):
        decode_bytes(b"\x00\x01abc", "x.bin")
    p.write_bytes(b"\xef\xbb\xbfhello\r\nworld\r\n")
    assert read_lines_file(p) == ["hello", "world"]


def test_evaluation_files_are_read_like_training_texts(tmp_path):
    """One reader: a UTF-16 file (with its BOM) that trains also evaluates, and a lone CR ends a line."""
    from charlm.text import read_text

    p = tmp_path / "utf16.txt"
    p.write_bytes("今天天气很好。\r\nThe cat sat.\rlast\n".encode("utf-16"))
    assert read_lines_file(p) == ["今天天气很好。", "The cat sat.", "last"]
    assert read_text(p) == "今天天气很好。\nThe cat sat.\nlast\n"
    hyps, refs = read_lines_file(p), [[x] for x in read_lines_file(p)]
    assert evaluate_texts(hyps, refs).scores["chrf"] == pytest.approx(100, abs=1e-9)


def test_api_input_validation():
    with pytest.raises(DataError, match="2 hypotheses but 1 reference"):
        evaluate_texts(["a", "b"], [["a"]])
    with pytest.raises(DataError, match="non-empty list"):
        evaluate_texts(["a"], ["a"])
    with pytest.raises(DataError, match="not text"):
        evaluate_texts(["a"], [[None]])
    with pytest.raises(DataError, match="not text"):
        evaluate_texts([None], [["a"]])
    with pytest.raises(DataError, match="no hypotheses"):
        evaluate_texts([], [])


def test_length_cap_has_a_clear_message():
    with pytest.raises(DataError, match="segment 1 is 2,001 characters long"):
        evaluate_texts(["x" * (MAX_SEGMENT_CHARS + 1)], [["x"]])


def test_zero_width_and_emoji_do_not_crash():
    r = one("表情😀很好🎉 😀😀", "表情很好\u200b")
    assert r.scores["rouge1"] == A(100.0)


def test_reference_sets_and_tables(tmp_path):
    assert split_reference_sets("a\nb\n---\nc\nd\n") == [["a", "b"], ["c", "d"]]
    jl = tmp_path / "t.jsonl"
    jl.write_text(json.dumps({"prediction": "x", "answer": ["x", "y"]}) + "\n\n", encoding="utf-8")
    assert read_table(jl) == (["x"], [["x", "y"]])
    cs = tmp_path / "t.csv"
    cs.write_text('hyp,ref,ref2\r\n"a, b",c,d\r\n', encoding="utf-8")
    assert read_table(cs, ref_cols=["ref", "ref2"]) == (["a, b"], [["c", "d"]])
    with pytest.raises(DataError, match="no column 'nope'"):
        read_table(cs, hyp_col="nope")
    jl.write_text("{not json}\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1 is not valid JSON"):
        read_table(jl)


def test_reports_and_json_keys(tmp_path):
    r = evaluate_texts([EN_H, ZH_H], [[EN_R], [ZH_R]])
    d = r.to_json_dict()
    assert set(d) == {*SCORE_KEYS, "n_segments", "tokenize", "signatures"}
    assert str(r.metric("bleu")).startswith("bleu = 26.99 | nrefs:1")
    csv_path, json_path = write_reports(r, tmp_path)
    assert csv_path.read_text(encoding="utf-8").splitlines()[0].startswith("line,hypothesis,reference,bleu")
    assert json.loads(json_path.read_text(encoding="utf-8"))["examples"][1]["hypothesis"] == ZH_H


def test_generate_and_score_uses_the_sampler(monkeypatch):
    calls = []

    def fake_generate(loaded, prompt, **kw):
        calls.append((prompt, kw))
        yield from ["今天天气", "很好。"] if has_zh(prompt) else [EN_H]

    def has_zh(s):
        return any("\u4e00" <= c <= "\u9fff" for c in s)

    monkeypatch.setitem(sys.modules, "charlm.generation.sample", types.SimpleNamespace(generate=fake_generate))
    r = generate_and_score(object(), ["天气：", "cat:"], [[ZH_R], [EN_R]], seed=1, max_new_chars=20)
    assert [row["hypothesis"] for row in r.rows] == [ZH_H, EN_H]
    assert calls[0][1] == {"seed": 1, "max_new_chars": 20}
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
    a = generate_and_score(tiny_model, prompts, refs, max_new_chars=12, temperature=1.0, seed=3)
    b = generate_and_score(tiny_model, prompts, refs, max_new_chars=12, temperature=1.0, seed=3)
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
