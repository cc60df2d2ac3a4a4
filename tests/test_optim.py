"""The five optimizers: each one's measured default learning rate trains, and resume keeps its state exactly."""

import pytest
import torch

from charlm.data import build_corpus
from charlm.errors import TrainingError
from charlm.models import ModelConfig, build_model
from charlm.optim import DEFAULT_LR, OPTIMIZERS, Muon, default_lr, make_optimizer, orthogonalise
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


@pytest.mark.parametrize("name", ["momentum", "adam", "muon"])
def test_resume_keeps_the_optimizer_state(corpus, tmp_path, name):
    """Stopped at step 10 and resumed, a momentum/Adam/Muon run matches an uninterrupted one (buffers saved)."""
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
    slots = {"momentum": ["momentum_buffer"], "adam": ["exp_avg"], "muon": ["momentum_buffer", "exp_avg"]}[name]
    for slot in slots:
        assert any(slot in state for state in saved.optimizer["state"].values()), slot


def test_eval_seconds_evaluates_by_the_clock(corpus, tmp_path):
    c = cfg(max_steps=None, time_budget=2.0, eval_interval=10**6, eval_seconds=0.5)
    evals = [e for e in train(corpus, model_cfg(corpus, "rnn"), c, tmp_path / "r") if e.kind == "eval"]
    assert len(evals) >= 3  # about every half second, plus the final one
    with pytest.raises(TrainingError, match="seconds"):
        cfg(eval_seconds=0)


@pytest.mark.parametrize("shape", [(96, 32), (32, 96), (40, 40)])
def test_orthogonalise_sets_every_singular_value_near_one(shape):
    """Newton-Schulz gives ~U V^T: singular values within [0.6, 1.25] (not exactly 1, by design) and the same
    singular vectors, even for a gradient dominated by one direction. Five steps cannot lift the very smallest
    singular values of a square random matrix (they start ~1000x below the largest), hence the largest 80%."""
    gen = torch.Generator().manual_seed(0)
    g = torch.randn(shape, generator=gen) + 30 * torch.outer(torch.randn(shape[0], generator=gen),
                                                              torch.randn(shape[1], generator=gen))  # fmt: skip
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    assert s[0] / s[1] > 10  # one direction dominates the raw gradient
    o = orthogonalise(g)
    sv = torch.linalg.svdvals(o)  # largest first
    assert 0.6 < sv[: int(0.8 * len(sv))].min() and sv.max() < 1.25, sv
    cos = (o * (u @ vh)).sum() / (o.norm() * (u @ vh).norm())
    assert cos > 0.9
    assert o.dtype == torch.float32 and orthogonalise(torch.zeros(shape)).abs().max() == 0


def test_muon_groups_hidden_matrices_apart_from_embeddings_and_head():
    for arch in ("gpt", "lstm"):
        model = build_model(ModelConfig(arch=arch, vocab_size=20, **TINY[arch]))
        opt = make_optimizer(model, 1e-3, 0.1, "muon")
        assert isinstance(opt, Muon)
        names = {id(p): n for n, p in model.named_parameters()}
        muon = {names[id(p)] for g in opt.param_groups if g["muon"] for p in g["params"]}
        adam = {names[id(p)] for g in opt.param_groups if not g["muon"] for p in g["params"]}
        matrices = {n for n, p in model.named_parameters() if p.dim() == 2}
        outer = {"wte.weight", "wpe.weight"} if arch == "gpt" else {"embed.weight", "head.weight"}
        assert muon == matrices - outer and outer <= adam and not muon & adam
        assert all("weight_hh" in n or "weight_ih" in n for n in muon) if arch == "lstm" else len(muon) == 8
        decay = {g["weight_decay"] for g in opt.param_groups if any(p.dim() < 2 for p in g["params"])}
        assert decay == {0.0}  # vectors never decayed


def test_muon_step_is_the_scaled_orthogonal_update_and_its_adamw_part_is_adamw():
    torch.manual_seed(0)
    w, b = torch.nn.Parameter(torch.randn(24, 8)), torch.nn.Parameter(torch.randn(8))
    w.grad, b.grad = torch.randn(24, 8), torch.randn(8)
    w0 = w.detach().clone()
    opt = Muon([{"params": [w], "muon": True, "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}], lr=0.01)
    twin = torch.nn.Parameter(b.detach().clone())
    ref = torch.optim.AdamW([twin], lr=0.01, betas=(0.9, 0.99), weight_decay=0.0)
    for _ in range(3):
        twin.grad = b.grad.clone()
        opt.step()
        ref.step()
    assert torch.allclose(b, twin, atol=1e-6)  # Muon's AdamW groups are AdamW
    # three steps on one constant gradient: the (Nesterov) momentum points along it, so each step is
    # -lr * 0.2 * sqrt(24) * orthogonalise(g) after the decay w *= (1 - lr * wd)
    expected = w0.clone()
    for _ in range(3):
        expected = expected * (1 - 0.01 * 0.1) - 0.01 * 0.2 * 24**0.5 * orthogonalise(w.grad)
    assert torch.allclose(w, expected, atol=1e-5)
    update_rms = (0.2 * 24**0.5 * orthogonalise(w.grad)).pow(2).mean().sqrt()
    assert 0.15 < update_rms < 0.25  # AdamW's typical update RMS, so Muon can share its learning rates
