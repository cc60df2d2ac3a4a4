"""Evaluation inputs and reports: empty rows, line ends, files, counts, caps, reference sets, CSV/JSON."""

from __future__ import annotations

import json

import pytest

from charlm.errors import DataError
from charlm.evaluation import SCORE_KEYS, evaluate_texts
from charlm.evaluation.files import (
    MAX_SEGMENT_CHARS,
    read_lines_file,
    read_table,
    split_reference_sets,
    streams_to_refs,
    write_reports,
)
from charlm.text import decode_bytes, split_lines
from tests.helpers import EN_H, EN_R, ZH_H, ZH_R, one

A = pytest.approx


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
