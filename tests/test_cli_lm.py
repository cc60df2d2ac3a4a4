"""The CLI end to end, as a user runs it: real subprocesses on a short slice of tinyshakespeare."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, shakespeare_slice


def run(*args, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "charlm", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    data = d / "slice.txt"
    data.write_text(shakespeare_slice(30_000), encoding="utf-8")
    out = d / "run"
    p = run(
        "train",
        "--data",
        str(data),
        "--arch",
        "gpt",
        "--size",
        "tiny",
        "--out",
        str(out),
        "--max-steps",
        "30",
        "--eval-interval",
        "15",
        "--batch-size",
        "8",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    return data, out, p


def test_train_json_summary(trained):
    data, out, p = trained
    result = json.loads(p.stdout.strip().splitlines()[-1])
    for key in ("val_loss", "val_bpc", "steps", "tokens_per_sec", "checkpoint"):
        assert key in result
    assert result["steps"] == 30 and result["val_loss"] < 4.2
    assert result["checkpoint"] == str(out / "best")
    assert "val loss" in p.stderr  # progress on stderr, JSON alone on stdout


def test_resume_continues(trained):
    data, out, _ = trained
    p = run("train", "--data", str(data), "--out", str(out), "--resume", "--max-steps", "40", "--json", "--quiet")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["steps"] == 40


def test_sample_streams_only_the_continuation(trained):
    _, out, _ = trained
    p = run("sample", "--checkpoint", str(out), "--prompt", "ROMEO:", "--max-new-chars", "50", "--seed", "1")
    assert p.returncode == 0, p.stderr
    assert len(p.stdout) == 51 and not p.stdout.startswith("ROMEO:")  # 50 chars + final newline
    again = run("sample", "--checkpoint", str(out), "--prompt", "ROMEO:", "--max-new-chars", "50", "--seed", "1")
    assert again.stdout == p.stdout
    odd = run("sample", "--checkpoint", str(out), "--prompt", "Ж§ hi", "--max-new-chars", "5", "--seed", "1")
    assert odd.returncode == 0 and "does not know" in odd.stderr and "'Ж'" in odd.stderr


def test_sample_int8_and_threads(trained):
    _, out, _ = trained
    p = run("sample", "--checkpoint", str(out), "--prompt", "ROMEO:", "--max-new-chars", "30", "--seed", "1",
            "--int8", "--threads", "1")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert len(p.stdout) == 31
    default = run("sample", "--checkpoint", str(out), "--prompt", "ROMEO:", "--max-new-chars", "30", "--seed", "1")
    assert default.stdout == p.stdout  # int8 is the CPU default
    fp32 = run("sample", "--checkpoint", str(out), "--prompt", "ROMEO:", "--max-new-chars", "30", "--seed", "1",
               "--fp32")  # fmt: skip
    assert fp32.returncode == 0 and len(fp32.stdout) == 31


def test_sample_num_samples_decodes_a_batch_with_seed_plus_i(trained):
    _, out, _ = trained
    args = ("sample", "--checkpoint", str(out), "--prompt", "ROMEO:", "--max-new-chars", "40", "--fp32")
    many = run(*args, "--seed", "1", "--num-samples", "3")
    assert many.returncode == 0, many.stderr
    parts = many.stdout.split("--- sample ")
    assert [p.split(" ---")[0] for p in parts[1:]] == ["1 of 3", "2 of 3", "3 of 3"]
    texts = [p.split(" ---\n", 1)[1].rstrip("\n") for p in parts[1:]]
    for i, text in enumerate(texts):  # sample i of the batch is the single sample with seed 1 + i
        assert text == run(*args, "--seed", str(1 + i)).stdout.rstrip("\n")
    bad = run(*args, "--num-samples", "0")
    assert bad.returncode == 2 and "--num-samples" in bad.stderr


def test_score(trained):
    data, out, _ = trained
    p = run("score", "--checkpoint", str(out), "--text", str(data), "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert (
        res["n_chars"] == 30_000 - 1
        and 0 < res["loss"] < 5
        and res["bpc"] == pytest.approx(res["loss"] / 0.693147, 1e-4)
    )
    assert 0 <= res["top1"] <= res["top5"] <= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "missing.txt", "--out", "x"], "no such file"),
        (["sample", "--checkpoint", "some/dir/nowhere"], "no checkpoint at some/dir/nowhere: no such"),
        (["score", "--checkpoint", "some/dir/nowhere", "--text", "README.md"], "no checkpoint at some/dir/nowhere"),
        (["sample", "--checkpoint", "checkpoints/shakespeare-gpt", "--top-p", "0"], "top-p"),
        (["train", "--data", "pyproject.toml", "--out", "x", "--n-embd", "30", "--n-head", "4"], "divisible"),
        (["train", "--data", "pyproject.toml", "--out", "x", "--min-lr-ratio", "2"], "between 0 and 1"),
    ],
)
def test_bad_input_is_one_line_no_traceback(args, message):
    p = run(*args)
    assert p.returncode == 2
    assert message in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_a_text_too_short_is_reported_without_a_progress_bar(tmp_path):
    f = tmp_path / "short.txt"
    f.write_text("hello", encoding="utf-8")
    p = run("train", "--data", str(f), "--out", str(tmp_path / "o"), "--max-steps", "3", "--threads", "1")
    assert p.returncode == 2 and "fewer than one training window" in p.stderr
    assert "%|" not in p.stderr and "Traceback" not in p.stderr  # no 0% tqdm bar above the error


def test_binary_upload_is_refused(tmp_path):
    f = tmp_path / "img.txt"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    p = run("train", "--data", str(f), "--out", str(tmp_path / "o"))
    assert p.returncode == 2 and "binary" in p.stderr and "Traceback" not in p.stderr


def test_cleaning_flags_shrink_the_vocabulary(tmp_path):
    """--lowercase / --collapse-whitespace / --min-char-count: the Train tab's cleaning, from the CLI."""
    from charlm.storage.checkpoint import load_checkpoint

    data = tmp_path / "mixed.txt"
    data.write_text(shakespeare_slice(20_000) + "  \t  rare: §\n", encoding="utf-8")
    out = tmp_path / "run"
    p = run("train", "--data", str(data), "--arch", "rnn", "--size", "tiny", "--out", str(out), "--max-steps", "2",
            "--batch-size", "4", "--lowercase", "--collapse-whitespace", "--min-char-count", "2", "--json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "cleaned:" in p.stderr
    chars = load_checkpoint(out / "best").vocab.chars
    assert "§" not in chars and "\t" not in chars and not any(c.isupper() for c in chars)
    p = run("train", "--data", str(data), "--out", str(tmp_path / "bad"), "--min-char-count", "-1")
    assert p.returncode == 2 and "rarer than" in p.stderr
    p = run("train", "--data", str(data), "--out", str(tmp_path / "bad"), "--arch", "transformer")
    assert p.returncode == 2 and "invalid choice" in p.stderr
