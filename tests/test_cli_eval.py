"""``python -m charlm eval``: JSON output, same numbers as the core, exit code 2 on user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from charlm.cli import main
from charlm.evaluation import SCORE_KEYS, evaluate_texts

DATA = Path(__file__).parent / "data" / "metrics"
EN = ["--hyp", str(DATA / "en.hyp.txt"), "--ref", str(DATA / "en.ref.txt")]
ZH = ["--hyp", str(DATA / "zh.hyp.txt"), "--ref", str(DATA / "zh.ref.txt")]


def run_json(capsys, argv: list[str]) -> dict:
    assert main(["eval", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_keys_and_english_numbers(capsys):
    out = run_json(capsys, EN)
    assert set(out) == {*SCORE_KEYS, "n_segments", "tokenize", "signatures"}
    assert out["n_segments"] == 2 and out["tokenize"] == "13a"
    assert out["bleu"] == pytest.approx(31.40084866979347, abs=1e-9)
    assert out["chrf"] == pytest.approx(43.23041083176564, abs=1e-9)
    assert out["ter"] == pytest.approx(60.0)
    assert out["signatures"]["bleu"] == "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"


def test_chinese_auto_uses_zh_and_equals_core(capsys):
    out = run_json(capsys, ZH)
    assert out["tokenize"] == "zh" and "tok:zh" in out["signatures"]["bleu"]
    core = evaluate_texts(["今天天气很好。", "我用Python写代码，速度很快。"],
                          [["今天的天气非常好。"], ["我用 Python 编写代码，速度非常快。"]])  # fmt: skip
    assert {k: out[k] for k in SCORE_KEYS} == core.scores
    assert run_json(capsys, [*ZH, "--tokenize", "13a"])["bleu"] == 0.0


def test_multiple_refs_and_jsonl(capsys):
    two = run_json(capsys, [*EN, "--ref", str(DATA / "en.ref2.txt")])
    assert "nrefs:2" in two["signatures"]["bleu"]
    jl = run_json(capsys, ["--jsonl", str(DATA / "mixed.jsonl")])
    assert "nrefs:var" in jl["signatures"]["bleu"] and jl["n_segments"] == 2


def test_text_output(capsys):
    assert main(["eval", *ZH]) == 0
    out = capsys.readouterr().out
    assert "tokenize = zh" in out and "BLEU = " in out


def test_labels_mode(tmp_path, capsys):
    (tmp_path / "p.txt").write_text("1\n1\n1\n0\n0\n0\n", encoding="utf-8")
    (tmp_path / "t.txt").write_text("1\n0\n1\n1\n0\n1\n", encoding="utf-8")
    out = run_json(capsys, ["--hyp", str(tmp_path / "p.txt"), "--ref", str(tmp_path / "t.txt"), "--labels"])
    assert out["accuracy"] == 0.5 and out["per_class"]["1"]["precision"] == pytest.approx(2 / 3)


def test_count_mismatch_exits_2_with_one_line(tmp_path, capsys):
    (tmp_path / "h.txt").write_text("a\nb\nc\n", encoding="utf-8")
    code = main(["eval", "--hyp", str(tmp_path / "h.txt"), "--ref", str(DATA / "en.ref.txt"), "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert "3 hypothesis lines but 2 lines in" in err and len(err.strip().splitlines()) == 1


def test_undecodable_and_missing_files_exit_2(tmp_path, capsys):
    bad = tmp_path / "gbk.txt"
    bad.write_bytes("你好\n".encode("gb18030"))
    assert main(["eval", "--hyp", str(bad), "--ref", str(bad)]) == 2
    assert "gbk.txt is not valid UTF-8" in capsys.readouterr().err
    assert main(["eval", "--hyp", str(tmp_path / "missing.txt"), "--ref", str(bad)]) == 2
    assert "missing.txt" in capsys.readouterr().err


def test_module_entry_point_subprocess():
    cmd = [sys.executable, "-m", "charlm", "eval", *ZH, "--json"]
    root = Path(__file__).parent.parent
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", timeout=120, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tokenize"] == "zh"
