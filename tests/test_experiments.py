"""Compare and search: real (tiny, few-second) training runs, their curves, tables and kept checkpoints."""

from pathlib import Path

import pytest

from charlm.data import build_corpus
from charlm.errors import TrainingError
from charlm.experiments.compare import RunSpec, compare, summary
from charlm.experiments.search import REPORTS_PER_TRIAL, SearchSpace, make_study, search
from charlm.optim import default_lr
from charlm.storage.checkpoint import load_checkpoint
from tests.helpers import shakespeare_slice


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(shakespeare_slice(20_000), name="shakespeare-20k")


def test_run_specs_parse_and_refuse_nonsense():
    assert RunSpec.parse("gru") == RunSpec("gru", "adamw", None)
    spec = RunSpec.parse("gpt:adam:1e-3")
    assert spec.peak_lr == 1e-3 and spec.label == "gpt/adam/lr=0.001"
    assert RunSpec.parse("lstm:sgd").peak_lr == default_lr("sgd", "lstm")
    for bad, msg in [("transformer", "architecture"), ("gpt:rmsprop", "optimizer"), ("gpt:adam:fast", "not a number"),
                     ("gpt:adam:-1", "positive")]:  # fmt: skip
        with pytest.raises(TrainingError, match=msg):
            RunSpec.parse(bad)


def test_compare_trains_each_run_for_the_same_time(corpus, tmp_path):
    specs = [RunSpec("gpt"), RunSpec("gru", "sgd")]
    events = list(compare(corpus, specs, 2.0, tmp_path, seed=1))
    assert events[0].kind == "start" and events[-1].kind == "done"
    assert [e.index for e in events if e.kind == "run_done"] == [0, 1]
    results = events[-1].results
    for r, spec in zip(results, specs, strict=True):
        assert r.label == spec.label and r.steps > 0 and r.tokens_per_sec > 0 and r.n_params > 0
        assert 1.9 <= r.elapsed < 10  # the budget, plus the last evaluation
        assert len(r.curve) >= 3 and all(0 < s <= r.elapsed + 0.01 for s, _ in r.curve)
        assert r.best_val_bpc == min(b for _, b in r.curve)
        assert len(r.sample) == 120 and load_checkpoint(r.checkpoint).config.arch == spec.arch
    out = summary(results)
    assert out["best"] == min(results, key=lambda r: r.best_val_bpc).label and len(out["runs"]) == 2
    assert events[-2].progress == 1.0


def test_compare_refuses_too_big_models_before_training(corpus, tmp_path):
    with pytest.raises(TrainingError, match="the limit is 1,000"):
        next(compare(corpus, [RunSpec("gpt")], 2.0, tmp_path, max_params=1000))
    with pytest.raises(TrainingError, match="at most 8"):
        next(compare(corpus, [RunSpec("gpt")] * 9, 2.0, tmp_path))


def test_a_stop_ends_the_comparison_with_what_was_trained(corpus, tmp_path):
    seen = []

    def stop():
        return len(seen) >= 5

    for ev in compare(corpus, [RunSpec("rnn"), RunSpec("gpt")], 30.0, tmp_path, should_stop=stop):
        seen.append(ev)
    first = ev.results[0]
    assert ev.kind == "done" and first.stopped and first.steps > 0 and Path(first.checkpoint).is_dir()
    assert ev.results[1].steps == 0  # never started


def test_search_prunes_and_keeps_only_the_best_checkpoint(corpus, tmp_path):
    space = SearchSpace(archs=("gpt", "rnn"), widths=(32, 64), depth=(1, 2))
    events = list(search(corpus, 14.0, 3.0, tmp_path, space, seed=3))
    done = events[-1]
    assert done.kind == "done" and len(done.rows) >= 3
    assert all(r.state in ("complete", "pruned") and r.val_bpc is not None for r in done.rows)
    assert all(r.arch in ("gpt", "rnn") and r.width in (32, 64) and 1 <= r.depth <= 2 for r in done.rows)
    best = done.best
    assert best.val_bpc == min(r.val_bpc for r in done.rows if r.state == "complete")
    assert load_checkpoint(best.checkpoint).config.arch == best.arch
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [f"trial-{best.number:03d}"]
    assert done.elapsed < 14.0 + 10  # within the budget (plus the last trial's final evaluation)
    reported = {t.number: t.intermediate_values for t in done.study.trials}
    for r in done.rows:  # every validation went to the pruner; a pruned trial stopped before its last one
        assert min(reported[r.number].values()) == pytest.approx(r.val_bpc)
        assert len(reported[r.number]) < REPORTS_PER_TRIAL if r.state == "pruned" else len(reported[r.number]) >= 2


def test_search_settings_are_checked():
    with pytest.raises(TrainingError, match="architectures must be among"):
        SearchSpace(archs=("cnn",))
    with pytest.raises(TrainingError, match="sampler"):
        make_study("grid", "median", 0)
    study = make_study("random", "halving", 0)
    assert type(study.pruner).__name__ == "SuccessiveHalvingPruner"


def test_two_processes_share_one_study_in_a_journal_file(tmp_path):
    """Two `charlm search` processes on one journal file run trials of one study: distinct trial numbers, all in the
    journal, each process's checkpoint in its own folder, and the study's best trial names a checkpoint that loads."""
    import json
    import os
    import subprocess
    import sys

    import optuna

    from charlm.experiments.search import open_storage
    from tests.helpers import REPO

    data = tmp_path / "d.txt"
    data.write_text(shakespeare_slice(20_000), encoding="utf-8")
    journal = tmp_path / "study.journal"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "charlm", "search", "--data", str(data), "--time-budget", "12",
                               "--trial-budget", "3", "--archs", "gpt,rnn", "--storage", str(journal), "--study",
                               "shared", "--out", str(tmp_path / name), "--json", "--threads", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
             for name in ("a", "b")]  # fmt: skip
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        outs.append(json.loads(stdout))
    numbers = [{t["number"] for t in out["trials"]} for out in outs]
    assert numbers[0] and numbers[1] and not numbers[0] & numbers[1]  # both ran trials, never the same one
    study = optuna.load_study(study_name="shared", storage=open_storage(str(journal)))
    assert {t.number for t in study.trials} >= numbers[0] | numbers[1]
    assert outs[0]["study"]["name"] == outs[1]["study"]["name"] == "shared"
    best = study.best_trial
    row = best.user_attrs["row"]
    owner = "a" if best.number in numbers[0] else "b"
    assert row["checkpoint"] == str(tmp_path / owner / f"trial-{best.number:03d}" / "best")
    assert load_checkpoint(row["checkpoint"]).config.arch == row["arch"] == best.params["arch"]
    assert best.user_attrs["host"]
    for name in ("a", "b"):  # each process kept at most one checkpoint: its trial that was the study's best
        assert len(list((tmp_path / name).iterdir())) <= 1


def test_study_storage_is_checked(corpus, tmp_path):
    from charlm.experiments.search import open_storage

    with pytest.raises(TrainingError, match="journal:PATH, a .journal/.log file or a database URL"):
        open_storage("study.txt")
    with pytest.raises(TrainingError, match="does not exist"):
        open_storage(str(tmp_path / "missing" / "s.journal"))
    with pytest.raises(TrainingError, match="cannot open the study"):
        make_study("tpe", "median", 0, "nosuchdb://x/y", "s")
    with pytest.raises(TrainingError, match="cannot open the study") as refused:  # no server (or driver) there
        make_study("tpe", "median", 0, "postgresql://me:secret123@127.0.0.1:1/optuna", "s")
    assert "secret123" not in str(refused.value) and "me:***@127.0.0.1" in str(refused.value)
    study = make_study("tpe", "median", 0, f"sqlite:///{tmp_path / 's.db'}", "s")  # an RDB URL works too
    assert study.study_name == "s" and make_study("tpe", "median", 0, f"journal:{tmp_path / 'j.log'}", "s")
