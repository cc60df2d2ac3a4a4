"""Issue 20's training settings: the warm-down schedule (WSD) and the average of the last weights, which is the
model evaluated and saved while the raw weights go on training (and resume exactly)."""

import math

import pytest
import torch

from charlm.data import build_corpus
from charlm.errors import TrainingError
from charlm.models import ModelConfig
from charlm.score import score_ids
from charlm.storage.checkpoint import load_checkpoint
from charlm.train import TrainConfig, Trainer, lr_at, train
from tests.helpers import TINY, shakespeare_slice


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(shakespeare_slice(20_000), name="shakespeare-20k")


def cfg(**kw):
    base = dict(batch_size=8, max_steps=20, lr=3e-3, warmup_steps=5, eval_interval=10, eval_chars=2000,
                precision="fp32", device="cpu", seed=7)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def gpt(corpus, **kw):
    return ModelConfig(arch="gpt", vocab_size=corpus.vocab.size, **{**TINY["gpt"], "dropout": 0.1, **kw})


def test_wsd_holds_the_peak_then_falls_in_a_straight_line_to_the_floor():
    c = TrainConfig(lr=0.02, warmup_steps=10, min_lr_ratio=0.01, max_steps=100, schedule="wsd", warmdown=0.2)
    assert lr_at(c, 0, 0.0) == pytest.approx(0.002)  # the same warm-up
    assert lr_at(c, 10, 0.1) == lr_at(c, 50, 0.5) == lr_at(c, 80, 0.8) == 0.02  # stable up to the warm-down
    assert lr_at(c, 90, 0.9) == pytest.approx(0.0002 + 0.5 * 0.0198)  # half-way down the line
    assert lr_at(c, 100, 1.0) == pytest.approx(0.0002)  # the floor
    # progress is a time budget's share too: the warm-down starts at 80% of the seconds, whatever the step
    assert lr_at(c, 10_000, 0.85) == pytest.approx(0.0002 + 0.75 * 0.0198)
    assert TrainConfig().schedule == "cosine" and TrainConfig().average_last == 0.0  # the defaults: as before
    for bad, match in [({"schedule": "step"}, "schedule must be"), ({"warmdown": 0.0}, "warm-down"),
                       ({"average_last": 1.5}, "averaging")]:  # fmt: skip
        with pytest.raises(TrainingError, match=match):
            TrainConfig(**bad)


def test_the_saved_and_evaluated_model_is_the_average_of_the_last_steps(corpus, tmp_path):
    """average_last=0.25 of 20 steps: the mean of the weights after steps 16..20, saved as the model; the raw
    weights saved with the resume state; the trainer's validation is the average's."""
    trainer = Trainer(corpus, gpt(corpus), cfg(average_last=0.25), tmp_path / "run")
    snapshots, evals = {}, []
    for ev in trainer.run():
        if ev.kind == "step":
            snapshots[ev.step] = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        elif ev.kind == "eval":
            evals.append(ev)
    assert trainer.avg_count == 5
    loaded = load_checkpoint(tmp_path / "run" / "last", with_resume=True)
    saved = dict(loaded.model.named_parameters())
    for name, raw in snapshots[20].items():
        mean = torch.stack([snapshots[s][name] for s in range(16, 21)]).mean(0)
        assert torch.allclose(saved[name], mean, atol=1e-6), name
        assert torch.equal(loaded.resume.train_weights[name], raw), name
        assert not torch.equal(mean, raw)
    assert loaded.resume.average_count == 5
    assert torch.equal(dict(trainer.model.named_parameters())["wte.weight"], snapshots[20]["wte.weight"])  # restored
    _, val_ids = corpus.split(0.1)
    assert evals[-1].val_loss == pytest.approx(score_ids(loaded.model, val_ids, max_chars=2000)["loss"], abs=1e-5)


def test_resume_inside_the_averaging_window_is_exact(corpus, tmp_path):
    """Stopped at step 15 (5 steps into a 10-step average) and resumed: the same losses, the same average."""
    c = cfg(average_last=0.5)
    full = [e for e in train(corpus, gpt(corpus), c, tmp_path / "a") if e.kind == "step"]
    first = []
    for e in train(corpus, gpt(corpus), c, tmp_path / "b", should_stop=lambda: len(first) >= 15):
        if e.kind == "step":
            first.append(e)
    assert e.kind == "stopped"
    assert load_checkpoint(tmp_path / "b" / "last", with_resume=True).resume.average_count == 5
    second = [e for e in train(corpus, None, cfg(max_steps=20), tmp_path / "b", resume=True) if e.kind == "step"]
    assert [e.step for e in first + second] == list(range(1, 21))
    for a, b in zip(full, first + second, strict=True):
        assert abs(a.loss - b.loss) < 1e-5, (a.step, a.loss, b.loss)
    la = load_checkpoint(tmp_path / "a" / "last", with_resume=True)
    lb = load_checkpoint(tmp_path / "b" / "last", with_resume=True)
    assert lb.resume.average_count == la.resume.average_count == 10
    wa, wb = la.model.state_dict(), lb.model.state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    assert all(torch.allclose(la.resume.train_weights[k], lb.resume.train_weights[k], atol=1e-6)
               for k in la.resume.train_weights)  # fmt: skip


def test_without_averaging_nothing_changes(corpus, tmp_path):
    """average_last 0 (the default): no average, no raw weights in the resume state, the model as trained."""
    trainer = Trainer(corpus, gpt(corpus), cfg(max_steps=5, eval_interval=100), tmp_path / "run")
    for _ in trainer.run():
        pass
    assert trainer.avg is None
    loaded = load_checkpoint(tmp_path / "run" / "last", with_resume=True)
    assert loaded.resume.train_weights is None and loaded.resume.average_count == 0
    assert "average_count" not in loaded.resume.to_json()
    live = dict(trainer.model.named_parameters())
    assert all(torch.equal(p, live[n]) for n, p in loaded.model.named_parameters())
    assert math.isfinite(loaded.meta["training"]["last_val"]["loss"])


def test_cli_flags_reach_the_trainer():
    import argparse

    from charlm.cli.train import SCHEDULES, add_parser, train_config
    from charlm.train import SCHEDULES as TRAINER_SCHEDULES

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "--data", "x.txt", "--out", "o", "--arch", "gru", "--schedule", "wsd",
                              "--warmdown", "0.3", "--average-last", "0.1"])  # fmt: skip
    c = train_config(args)
    assert (c.schedule, c.warmdown, c.average_last) == ("wsd", 0.3, 0.1)
    assert SCHEDULES == TRAINER_SCHEDULES
