"""The four optimizers: each one's measured default learning rate trains, and resume keeps its state exactly."""

import pytest
import torch

from charlm.data import build_corpus
from charlm.errors import TrainingError
from charlm.models import ModelConfig, build_model
from charlm.optim import DEFAULT_LR, OPTIMIZERS, default_lr, make_optimizer
from charlm.storage.checkpoint import load_checkpoint
from charlm.train import TrainConfig, train
from tests.helpers import TINY, shakespeare_slice


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(shakespeare_slice(20_000), name="shakespeare-20k")


def cfg(**kw):
    base = dict(batch_size=8, max_steps=40, warmup_steps=4, eval_interval=40, eval_chars=2000, precision="fp32",
                device="cpu", seed=7)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def model_cfg(corpus, arch, **kw):
    return ModelConfig(arch=arch, vocab_size=corpus.vocab.size, **{**TINY[arch], **kw})


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_default_learning_rate_trains(corpus, tmp_path, name, arch):
    """40 steps at the optimizer's default rate take the training loss well below where it started."""
    c = cfg(optimizer=name, lr=default_lr(name, arch))
    losses = [e.loss for e in train(corpus, model_cfg(corpus, arch), c, tmp_path / "r") if e.kind == "step"]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3, (name, arch, losses[:5], losses[-5:])


def test_every_optimizer_and_arch_has_a_default():
    assert set(DEFAULT_LR) == set(OPTIMIZERS)
    assert all(set(rates) == {"gpt", "lstm", "gru", "rnn"} for rates in DEFAULT_LR.values())


def test_the_right_torch_optimizer_and_decay():
    model = build_model(ModelConfig(arch="gpt", vocab_size=20, **TINY["gpt"]))
    kinds = {name: make_optimizer(model, 0.1, 0.0, name) for name in OPTIMIZERS}
    assert isinstance(kinds["sgd"], torch.optim.SGD) and kinds["sgd"].defaults["momentum"] == 0
    assert kinds["momentum"].defaults["momentum"] == 0.9
    assert type(kinds["adam"]) is torch.optim.Adam and type(kinds["adamw"]) is torch.optim.AdamW
    assert TrainConfig(optimizer="adamw").weight_decay == 0.1  # decoupled decay by default
    assert TrainConfig(optimizer="sgd").weight_decay == 0.0  # textbook SGD: none unless asked
    assert TrainConfig(optimizer="adam", weight_decay=0.01).weight_decay == 0.01
    with pytest.raises(TrainingError, match="optimizer must be one of"):
        TrainConfig(optimizer="rmsprop")


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_resume_keeps_the_optimizer_state(corpus, tmp_path, name):
    """Stopped at step 10 and resumed, a momentum/Adam run matches an uninterrupted one (its buffers were saved)."""
    c = cfg(optimizer=name, lr=default_lr(name, "gru"), max_steps=20, eval_interval=10)
    mc = model_cfg(corpus, "gru")
    full = [e.loss for e in train(corpus, mc, c, tmp_path / "a") if e.kind == "step"]
    first = []
    for e in train(corpus, mc, c, tmp_path / "b", should_stop=lambda: len(first) >= 10):
        if e.kind == "step":
            first.append(e.loss)
    rest = [e.loss for e in train(corpus, None, c, tmp_path / "b", resume=True) if e.kind == "step"]
    assert len(first + rest) == 20
    assert max(abs(a - b) for a, b in zip(full, first + rest, strict=True)) < 1e-4
    saved = load_checkpoint(tmp_path / "b" / "last", with_resume=True).resume
    assert saved.train_config["optimizer"] == name
    slot = "momentum_buffer" if name == "momentum" else "exp_avg"
    assert any(slot in slots for slots in saved.optimizer["state"].values())


def test_eval_seconds_evaluates_by_the_clock(corpus, tmp_path):
    c = cfg(max_steps=None, time_budget=2.0, eval_interval=10**6, eval_seconds=0.5)
    evals = [e for e in train(corpus, model_cfg(corpus, "rnn"), c, tmp_path / "r") if e.kind == "eval"]
    assert len(evals) >= 3  # about every half second, plus the final one
    with pytest.raises(TrainingError, match="seconds"):
        cfg(eval_seconds=0)
