"""Every precision with every architecture and output layer (issue 17): bf16 autocast runs on any x86 CPU
(emulated where the CPU has no native bf16), so the suite forces it here instead of reaching it only on the CPUs
where ``precision="auto"`` picks it. Each case trains a few steps, scores in the run's precision, inspects and
samples; "auto" is checked to choose only combinations run here."""

from __future__ import annotations

import math

import pytest
import torch

from charlm import device
from charlm.data import build_corpus
from charlm.generation.sample import sample_ids
from charlm.generation.settings import Sampling
from charlm.inspection import inspect_text
from charlm.models import ModelConfig, preset_config
from charlm.score import score_ids
from charlm.storage.checkpoint import load_checkpoint
from charlm.train import TrainConfig, Trainer, run_to_end
from tests.helpers import ARCHS, TINY, poems_slice, shakespeare_slice

PRECISIONS = ("fp32", "bf16")
HEADS = ("linear", "adaptive")  # a GPT's linear head is tied to its embedding


@pytest.fixture(scope="module")
def corpora():
    texts = {"linear": shakespeare_slice(6_000), "adaptive": poems_slice(5_000)}
    return {head: (build_corpus(text, name=head), text) for head, text in texts.items()}


def tcfg(precision: str, **kw) -> TrainConfig:
    base = dict(batch_size=4, max_steps=3, lr=1e-2, warmup_steps=1, eval_interval=3, eval_chars=600,
                precision=precision, device="cpu", seed=3, save_every=None)  # fmt: skip
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("arch", ARCHS)
def test_train_score_inspect_sample(corpora, arch, head, precision, tmp_path, one_thread):
    corpus, text = corpora[head]
    mcfg = ModelConfig(arch=arch, vocab_size=corpus.vocab.size, head=head, **TINY[arch])
    trainer = Trainer(corpus, mcfg, tcfg(precision), tmp_path / "run")
    assert trainer.precision == precision and trainer.model_config.head == head
    final = run_to_end(trainer.run())
    assert math.isfinite(final.summary["best_val_loss"])
    loaded = load_checkpoint(final.summary["checkpoint"])
    assert loaded.meta["training"]["precision"] == precision
    text = text[-300:]
    res = score_ids(loaded.model, corpus.vocab.encode(text).ids, precision=precision)
    assert math.isfinite(res["loss"]) and 0 <= res["top1"] <= res["top5"] <= 1
    if precision == "fp32":
        return
    fp32 = score_ids(loaded.model, corpus.vocab.encode(text).ids, precision="fp32")
    assert res["loss"] == pytest.approx(fp32["loss"], rel=0.05)  # bf16 rounds; it does not change the answer
    with device.autocast(torch.device("cpu"), precision):  # a caller's autocast region reaches the model code
        report = inspect_text(loaded, text[:80])
        out = list(sample_ids(loaded.model, loaded.vocab, text[:5], Sampling(max_new_chars=12, seed=0)))
    assert len(report.surprise.bits) == len(text[:80]) - 1 and all(map(math.isfinite, report.surprise.bits))
    assert len(out) == 12


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("arch", ["gpt", "gru"])
def test_auto_trains_with_what_it_picks_on_either_cpu(corpora, arch, native, monkeypatch, tmp_path, one_thread):
    """A model 256 wide on the poems (adaptive head): "auto" picks bf16 where the CPU has native bf16 and fp32
    elsewhere; both answers are forced, and the picked precision trains and scores."""
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    corpus, _ = corpora["adaptive"]
    size = dict(n_layer=1, n_embd=256, n_head=4, block_size=16) if arch == "gpt" else \
        dict(n_layer=1, n_embd=16, hidden_size=256, block_size=16)  # fmt: skip
    mcfg = preset_config(arch, "tiny", corpus.vocab.size, **size)
    trainer = Trainer(corpus, mcfg, tcfg("auto", max_steps=2, eval_interval=2), tmp_path / "run")
    assert trainer.precision == ("bf16" if native else "fp32") and trainer.model_config.head == "adaptive"
    assert math.isfinite(run_to_end(trainer.run()).summary["best_val_loss"])
