"""bench/bench_poems.py: its independent form check agrees with charlm.poetry's on the corpus, and the script runs
end to end on a tiny untrained model (where only the constrained mode can keep the form)."""

import importlib
import json
import sys

import pytest
import torch

from charlm.data import build_corpus
from charlm.models import ModelConfig, build_model, resolve_head
from charlm.models.output import count_ids
from charlm.poetry import is_well_formed, parse_corpus
from charlm.storage.checkpoint import save_checkpoint
from tests.helpers import REPO, TINY, poems_slice


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO / "bench"))  # the bench scripts import their `_common` as a top-level module
    try:
        return importlib.import_module("bench_poems")
    finally:
        sys.path.remove(str(REPO / "bench"))


def test_the_independent_check_agrees_with_the_form_check(bench):
    bodies = [p.body for p in parse_corpus(poems_slice(200_000))]
    good = "春曉春曉春，春曉春曉春。春曉春曉春，春曉春曉春。"
    bodies += ["", good + "\n", good[:-2] + "□。", good[:-1] + "？", good + good]
    verdicts = [(bench.independent_form_ok(b), is_well_formed(b)) for b in bodies]
    assert all(mine == theirs for mine, theirs in verdicts)
    assert 0 < sum(ok for ok, _ in verdicts) < len(verdicts)  # the slice holds both kinds: the check can fail


def test_the_bench_runs_on_a_tiny_model(bench, tmp_path, capsys, one_thread):
    corpus = build_corpus(poems_slice(5_000), name="poems-5k")
    config = ModelConfig(arch="gru", vocab_size=corpus.vocab.size, head="auto", **TINY["gru"])
    config = resolve_head(config, count_ids(corpus.split()[0], corpus.vocab.size))
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m", build_model(config).eval(), corpus.vocab, config)
    out = tmp_path / "poems.json"
    assert bench.main(["--checkpoint", str(tmp_path / "m"), "--samples", "4", "--titles", "春晓,江雪", "--json",
                       str(out), "--threads", str(torch.get_num_threads())]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "| constrained | 4/4 (100%) | 4/4 (100%) |" in printed and "Examples, free" in printed
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert [(p["seed"], p["mode"]) for p in raw["poems"][:2]] == [(0, "free"), (0, "constrained")]
    assert raw["poems"][1]["title"] == "春曉" and raw["poems"][3]["title"] == "江雪"
    assert raw["summary"]["free"]["ok"] < 4  # untrained: free mode breaks the form, so the bench measures a contrast
