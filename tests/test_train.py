import math
import time

import pytest
import torch

from charlm.data import build_corpus
from charlm.errors import TrainingError
from charlm.models import ModelConfig
from charlm.storage.checkpoint import load_checkpoint
from charlm.train import TrainConfig, lr_at, run_to_end, train
from tests.helpers import ARCHS, TINY, shakespeare_slice


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(shakespeare_slice(20_000), name="shakespeare-20k")


def cfg(**kw):
    base = dict(
        batch_size=8,
        max_steps=20,
        lr=3e-3,
        warmup_steps=5,
        eval_interval=10,
        eval_chars=2000,
        precision="fp32",
        device="cpu",
        seed=7,
    )
    return TrainConfig(**{**base, **kw})


def model_cfg(corpus, arch="gpt", **kw):
    return ModelConfig(arch=arch, vocab_size=corpus.vocab.size, **{**TINY[arch], **kw})


def test_events_checkpoints_and_summary(corpus, tmp_path):
    events = list(train(corpus, model_cfg(corpus), cfg(), tmp_path / "run"))
    kinds = [e.kind for e in events]
    assert kinds.count("step") == 20 and kinds.count("eval") == 2 and kinds[-1] == "done"
    steps = [e for e in events if e.kind == "step"]
    assert all(e.tokens_per_sec > 0 and e.lr > 0 for e in steps)
    assert steps[-1].progress == 1.0 and steps[-1].eta == 0
    ev = [e for e in events if e.kind == "eval"][-1]
    assert math.isclose(ev.val_bpc, ev.val_loss / math.log(2))
    assert math.isclose(ev.val_ppl, math.exp(ev.val_loss))
    done = events[-1].summary
    assert done["steps"] == 20 and done["checkpoint"].endswith("best")
    loaded = load_checkpoint(done["checkpoint"])
    assert loaded.meta["training"]["corpus"]["sha256"] == corpus.sha256
    assert loaded.meta["training"]["best_val_loss"] == pytest.approx(
        min(e.val_loss for e in events if e.kind == "eval")
    )
    assert (tmp_path / "run" / "last" / "optimizer.safetensors").is_file()
    assert not (tmp_path / "run" / "best" / "optimizer.safetensors").exists()


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_resume_is_exact(corpus, tmp_path, arch):
    """Stopped at step 10 and resumed, a run reaches the same loss at step 20 as an uninterrupted one."""
    mc = model_cfg(corpus, arch, dropout=0.1)  # dropout makes the torch RNG state matter
    full = [e for e in train(corpus, mc, cfg(), tmp_path / "a") if e.kind == "step"]
    first = []
    for e in train(corpus, mc, cfg(), tmp_path / "b", should_stop=lambda: len(first) >= 10):
        if e.kind == "step":
            first.append(e)
    assert e.kind == "stopped"
    second = [e for e in train(corpus, None, cfg(max_steps=20), tmp_path / "b", resume=True) if e.kind == "step"]
    assert [e.step for e in first + second] == list(range(1, 21))
    for a, b in zip(full, first + second, strict=True):
        assert abs(a.loss - b.loss) < 1e-4, (a.step, a.loss, b.loss)
    wa = load_checkpoint(tmp_path / "a" / "last").model.state_dict()
    wb = load_checkpoint(tmp_path / "b" / "last").model.state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


def test_stop_request_saves_and_returns(corpus, tmp_path):
    seen = []

    def should_stop():
        return len(seen) >= 7

    for ev in train(corpus, model_cfg(corpus, "gru"), cfg(max_steps=1000), tmp_path / "run", should_stop=should_stop):
        if ev.kind == "step":
            seen.append(ev)
    assert ev.kind == "stopped" and ev.step == 7
    assert load_checkpoint(tmp_path / "run" / "last").meta["training"]["steps"] == 7
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()


def test_time_budget_ends_training(corpus, tmp_path):
    final = run_to_end(train(corpus, model_cfg(corpus, "rnn"), cfg(max_steps=None, time_budget=1.5), tmp_path / "r"))
    assert final.kind == "done" and final.summary["reason"] == "time budget" and final.step > 0


def test_nan_loss_stops_with_clear_message_and_keeps_good_weights(corpus, tmp_path):
    with pytest.raises(TrainingError, match="loss became"):
        run_to_end(train(corpus, model_cfg(corpus), cfg(lr=1e30, warmup_steps=1, grad_clip=0), tmp_path / "r"))
    last = load_checkpoint(tmp_path / "r" / "last")  # loading checks every tensor is finite
    assert last.meta["training"]["reason"] == "non-finite loss"


def test_bad_settings_are_clear(corpus, tmp_path):
    with pytest.raises(TrainingError, match="step count or a time budget"):
        TrainConfig(max_steps=None, time_budget=None)
    with pytest.raises(TrainingError, match="learning rate"):
        TrainConfig(lr=-1)
    with pytest.raises(TrainingError, match="cannot resume"):
        run_to_end(train(corpus, None, cfg(), tmp_path / "nothing-here", resume=True))


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_learns_something(corpus, tmp_path, arch):
    events = list(train(corpus, model_cfg(corpus, arch), cfg(max_steps=40, eval_interval=40), tmp_path / arch))
    losses = [e.loss for e in events if e.kind == "step"]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3


@pytest.mark.slow
def test_compiled_training_saves_plain_checkpoints(corpus, tmp_path):
    final = run_to_end(train(corpus, model_cfg(corpus), cfg(max_steps=5, compile=True), tmp_path / "c"))
    loaded = load_checkpoint(final.summary["checkpoint"])  # no "_orig_mod." prefixes from torch.compile
    assert loaded.meta["training"]["steps"] == 5


def test_schedule_warms_up_then_decays_to_its_floor():
    c = TrainConfig(lr=0.02, warmup_steps=10, min_lr_ratio=0.01, max_steps=100)
    assert lr_at(c, 0, 0.0) == pytest.approx(0.002)  # warm-up: a tenth of the way after the first step
    assert lr_at(c, 10, 0.1) == pytest.approx(0.0002 + 0.5 * 0.0198 * (1 + math.cos(0.1 * math.pi)))
    assert lr_at(c, 100, 1.0) == pytest.approx(0.0002)  # the floor: min_lr_ratio of the peak
    for bad in (-0.1, 1.5):
        with pytest.raises(TrainingError, match="between 0 and 1"):
            TrainConfig(min_lr_ratio=bad)


def test_last_checkpoint_is_written_every_save_interval(corpus, tmp_path):
    """A crash loses at most ``save_every`` seconds: last/ is saved on time even when no evaluation is due."""
    slow = iter(range(10**6))

    def pace() -> bool:  # each step takes at least 20 ms, so 0.05 s between saves means every few steps
        next(slow)
        time.sleep(0.02)
        return False

    events = list(train(corpus, model_cfg(corpus), cfg(max_steps=15, eval_interval=1000, save_every=0.05),
                        tmp_path / "r", should_stop=pace))  # fmt: skip
    saves = [e for e in events if e.kind == "saved" and e.path and e.path.endswith("last")]
    assert len(saves) >= 4  # periodic saves, plus the final one
    periodic_steps = [e.step for e in saves[:-1]]
    assert periodic_steps == sorted(periodic_steps) and periodic_steps[0] < 15
    with pytest.raises(TrainingError, match="save interval"):
        TrainConfig(save_every=0)
