"""The adaptive output layer inside the models: config, loss through forward, scoring, sampling, int8, training."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from charlm.data import build_corpus
from charlm.generation.batched import DecodingEngine
from charlm.generation.filtering import CANDIDATES, filter_dense
from charlm.generation.sample import pick_next, sample_ids
from charlm.generation.settings import Sampling
from charlm.inspection import inspect_text
from charlm.models import (
    ModelConfig,
    build_model,
    config_parameters,
    count_parameters,
    estimated_cutoffs,
    preset_config,
    resolve_head,
)
from charlm.models.output import AdaptiveHead, count_ids, unigram_log_prior
from charlm.models.quantize import quantize_for_cpu
from charlm.score import score_ids
from charlm.storage.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from charlm.train import TrainConfig, Trainer, run_to_end, train
from tests.helpers import ARCHS, TINY, poems_slice, shakespeare_slice


@pytest.fixture(scope="module")
def poems():
    """5,000 characters of the poems: 1,190 ids, so "auto" picks the adaptive head."""
    return build_corpus(poems_slice(5_000), name="poems-5k")


def adaptive_model(corpus, arch, seed=0, **kw):
    train_ids, _ = corpus.split()
    config = resolve_head(ModelConfig(arch=arch, vocab_size=corpus.vocab.size, head="adaptive", **{**TINY[arch], **kw}),
                          count_ids(train_ids, corpus.vocab.size))  # fmt: skip
    torch.manual_seed(seed)
    return build_model(config).eval()


# --- the config -------------------------------------------------------------------------------------------------
def test_a_linear_config_reads_and_saves_as_before_issue_13():
    old = {"arch": "lstm", "vocab_size": 66, "n_layer": 2, "n_embd": 64, "n_head": 4, "hidden_size": 512,
           "block_size": 128, "dropout": 0.5, "bias": False}  # fmt: skip
    config = ModelConfig.from_json(old)
    assert config.head == "linear" and config.to_json() == old
    shipped = json.loads(open("checkpoints/shakespeare-gpt/config.json", encoding="utf-8").read())["model"]
    assert ModelConfig.from_json(shipped).to_json() == shipped


def test_head_settings_are_validated():
    with pytest.raises(ValueError, match="head must be one of"):
        ModelConfig(head="factorised")
    with pytest.raises(ValueError, match="belong to the adaptive head"):
        ModelConfig(vocab_size=10, head_order=list(range(10)))
    with pytest.raises(ValueError, match="exactly once"):
        ModelConfig(vocab_size=10, head="adaptive", head_order=[0] * 10, head_cutoffs=[2, 5])
    with pytest.raises(ValueError, match="cutoffs"):
        ModelConfig(vocab_size=10, head="adaptive", head_order=list(range(10)), head_cutoffs=[5, 2])
    with pytest.raises(ValueError, match="list of integers"):
        ModelConfig(vocab_size=10, head="adaptive", head_order=list(range(10)), head_cutoffs=[2.0, 5.0])
    with pytest.raises(ValueError, match="come together"):
        ModelConfig(vocab_size=10, head="adaptive", head_cutoffs=[2, 5])
    with pytest.raises(ValueError, match="head_div"):
        ModelConfig(vocab_size=10, head="adaptive", head_div=0.5)
    with pytest.raises(ValueError, match="frequency order"):
        build_model(ModelConfig(vocab_size=2000, head="auto"))
    with pytest.raises(ValueError, match="character counts"):
        resolve_head(ModelConfig(vocab_size=2000, head="adaptive"))


def test_auto_is_linear_for_small_and_adaptive_for_large_vocabularies(poems):
    counts = count_ids(poems.split()[0], poems.vocab.size)
    small = resolve_head(preset_config("gru", "tiny", 66), np.ones(66))
    assert small.head == "linear" and small.head_order is None
    big = resolve_head(preset_config("gru", "tiny", poems.vocab.size), counts)
    assert big.head == "adaptive" and set(poems.vocab.decode(big.head_order[:2])) == set("，。")
    assert resolve_head(big, None) == big  # already resolved: kept (a resumed or loaded model)
    assert build_model(preset_config("gpt", "tiny", 66)).lm_head.weight is not None  # "auto" builds linear


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_count_is_exact_for_adaptive_heads(poems, arch):
    model = adaptive_model(poems, arch)
    assert config_parameters(model.config) == count_parameters(model)
    assert isinstance(model.output_head, AdaptiveHead)
    unresolved = ModelConfig(arch=arch, vocab_size=poems.vocab.size, head="auto", **TINY[arch])
    linear = ModelConfig(arch=arch, vocab_size=poems.vocab.size, **TINY[arch])
    assert 0.8 < config_parameters(unresolved) / count_parameters(model) < 1.2  # an estimate before the text
    assert config_parameters(linear) == count_parameters(build_model(linear))


def test_estimated_cutoffs_are_later_than_the_poems_own():
    from charlm.corpora import POEMS, builtin_text
    from charlm.models.output import choose_cutoffs

    corpus = build_corpus(builtin_text(POEMS), name=POEMS)
    real = choose_cutoffs(count_ids(corpus.split()[0], corpus.vocab.size))
    guess = estimated_cutoffs(corpus.vocab.size)
    assert all(g >= r for g, r in zip(guess, real, strict=True))


def test_the_adaptive_gpt_does_not_tie_its_embedding(poems):
    model = adaptive_model(poems, "gpt")
    assert model.tied_keys == () and not any(k.startswith("lm_head.weight") for k in model.state_dict())


# --- forward, loss, decode ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_the_linear_loss_through_forward_is_todays_cross_entropy_exactly(arch):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, vocab_size=30, **TINY[arch])).train()
    x, y = torch.randint(1, 30, (2, 2, 16), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    logits, _ = model(x)
    want = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))
    torch.manual_seed(1)  # the same dropout masks
    loss, _ = model(x, targets=y)
    assert torch.equal(loss, want)


@pytest.mark.parametrize("arch", ARCHS)
def test_adaptive_loss_is_minus_the_log_probability_of_the_targets(poems, arch):
    model = adaptive_model(poems, arch)
    V = poems.vocab.size
    x, y = torch.randint(1, V, (2, 3, 20), generator=torch.Generator().manual_seed(1))
    logp, _ = model(x)
    torch.testing.assert_close(logp.logsumexp(-1), torch.zeros(3, 20), atol=1e-5, rtol=0)
    loss, _ = model(x, targets=y)
    torch.testing.assert_close(loss, -logp.gather(-1, y[..., None]).mean(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_adaptive_incremental_decoding_and_decode_step_give_the_forwards_log_probs(poems, arch):
    model = adaptive_model(poems, arch)
    idx = torch.randint(1, poems.vocab.size, (3, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full, _ = model(idx, model.init_state(3))
        state = model.init_state(3)
        _, state = model(idx[:, :8], state)
        if arch == "gpt":
            pos = torch.full((3,), 8)
            step, _ = model.decode_step(idx[:, 8], state, pos)
        else:
            step, _ = model.decode_step(idx[:, 8], state, None)
    torch.testing.assert_close(step, full[:, 8], atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["gpt", "gru"])
def test_adaptive_checkpoint_round_trip(poems, arch, tmp_path):
    model = adaptive_model(poems, arch)
    save_checkpoint(tmp_path / "m", model, poems.vocab, model.config)
    loaded = load_checkpoint(tmp_path / "m", max_params=10**7)
    assert loaded.config == model.config and loaded.model.config.head == "adaptive"
    x = torch.randint(1, poems.vocab.size, (1, 10), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(loaded.model(x)[0], model(x)[0])
    meta = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    meta["model"]["head_order"] = meta["model"]["head_order"][:-1]
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta), encoding="utf-8")
    from charlm.errors import CheckpointError

    with pytest.raises(CheckpointError, match="exactly once"):
        load_checkpoint(tmp_path / "m")


# --- scoring ------------------------------------------------------------------------------------------------------
class FullLogProbs(torch.nn.Module):
    """A model seen only through ``forward``: scoring then takes the plain path over all log-probabilities."""

    def __init__(self, model):
        super().__init__()
        self.model, self.max_context, self.output_head = model, model.max_context, None

    def init_state(self, batch_size=1):
        return self.model.init_state(batch_size)

    def forward(self, idx, state=None):
        return self.model(idx, state)


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_scoring_uses_the_heads_exact_path(poems, arch):
    model = adaptive_model(poems, arch)
    _, val = poems.split()
    fast, ref = score_ids(model, val), score_ids(FullLogProbs(model), val)
    assert fast["n_chars"] == ref["n_chars"] > 400
    assert math.isclose(fast["loss"], ref["loss"], rel_tol=1e-6)
    assert fast["top1"] == ref["top1"] and fast["top5"] == ref["top5"]
    loss_only = score_ids(model, val, top_k=False)
    assert loss_only["loss"] == fast["loss"] and math.isnan(loss_only["top1"]) and math.isnan(loss_only["top5"])


# --- sampling -----------------------------------------------------------------------------------------------------
def test_large_vocabularies_sample_from_the_same_distribution(one_thread):
    V = 3000
    assert V > CANDIDATES
    logits = torch.randn(V, generator=torch.Generator().manual_seed(0)) * 3
    for T, k, p in ((0.8, 0, 1.0), (0.8, 0, 0.9), (1.0, 40, 0.95)):
        want = torch.softmax(filter_dense(logits.clone() / T, k, p), -1)
        want[0] = 0  # the unknown id is never drawn
        want /= want.sum()
        gen = torch.Generator().manual_seed(1)
        s = Sampling(T, k, p)
        draws = [pick_next(logits.clone(), s, gen) for _ in range(20_000)]
        got = torch.bincount(torch.tensor(draws), minlength=V).float() / len(draws)
        assert 0 not in draws and float((got - want).abs().sum()) / 2 < 0.06  # total variation
        assert set(torch.tensor(draws).unique().tolist()) <= set(want.nonzero().flatten().tolist())


@pytest.mark.parametrize("arch", ["gpt", "gru"])
def test_an_adaptive_model_samples_alone_and_batched_alike(poems, arch):
    model = adaptive_model(poems, arch)
    settings = dict(max_new_chars=30, temperature=0.9, top_p=0.95, seed=5)
    alone = list(sample_ids(model, poems.vocab, "\n春", Sampling(**settings)))
    engine = DecodingEngine(model, capacity=4, background=False)
    reqs = [engine.submit(poems.vocab, "\n春", Sampling(**{**settings, "seed": 5 + i})) for i in range(3)]
    batched = [list(r.ids()) for r in reqs]
    assert batched[0] == alone and len(set(map(tuple, batched))) == 3
    assert all(0 not in ids for ids in batched)


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_int8_adaptive_models_keep_the_distribution_and_score(poems, arch):
    model = adaptive_model(poems, arch)
    lm = LoadedModel(model=model, vocab=poems.vocab, config=model.config)
    q = quantize_for_cpu(lm)
    assert "Linear" in q.meta["quantized"]["modules"]
    x = torch.randint(1, poems.vocab.size, (2, 16), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        p, pq = model(x)[0].exp(), q.model(x)[0].exp()
    assert float((p - pq).abs().sum(-1).max()) / 2 < 0.05
    _, val = poems.split()
    assert abs(score_ids(q.model, val)["loss"] - score_ids(model, val)["loss"]) < 0.02
    assert len(list(sample_ids(q.model, poems.vocab, "\n", Sampling(max_new_chars=10, seed=0)))) == 10


def test_inspect_an_adaptive_gpt(poems):
    model = adaptive_model(poems, "gpt")
    lm = LoadedModel(model=model, vocab=poems.vocab, config=model.config)
    report = inspect_text(lm, "春眠不覺曉，處處聞啼鳥。")
    assert report.embedding["tied"] is False and math.isfinite(report.surprise.bpc)
    assert report.attention.max_error < 1e-5
    linear = LoadedModel(model=build_model(ModelConfig(vocab_size=poems.vocab.size, **TINY["gpt"])), vocab=poems.vocab,
                         config=ModelConfig(vocab_size=poems.vocab.size, **TINY["gpt"]))  # fmt: skip
    assert inspect_text(linear, "春眠不覺曉").embedding["tied"] is True


# --- training -----------------------------------------------------------------------------------------------------
def tcfg(**kw):
    base = dict(batch_size=8, max_steps=12, lr=1e-2, warmup_steps=3, eval_interval=6, eval_chars=2000,
                precision="fp32", device="cpu", seed=3)  # fmt: skip
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("arch", ["gru", "gpt"])
def test_training_a_large_vocabulary_picks_adaptive_and_starts_at_the_unigram(poems, arch, tmp_path, one_thread):
    trainer = Trainer(poems, preset_config(arch, "tiny", poems.vocab.size), tcfg(), tmp_path / "run")
    assert trainer.model_config.head == "adaptive"
    counts = count_ids(poems.split()[0], poems.vocab.size)
    probs = torch.from_numpy(counts / counts.sum()).float()
    unigram = float(-(unigram_log_prior(counts) * probs).sum())
    first = trainer.train_step()
    assert abs(first.loss - unigram) < 0.5 < math.log(poems.vocab.size) - first.loss  # not the uniform 7.08
    final = run_to_end(trainer.run())
    loaded = load_checkpoint(final.summary["checkpoint"])
    assert loaded.config.head == "adaptive" and loaded.config.head_order == trainer.model_config.head_order
    assert loaded.meta["n_params"] == config_parameters(loaded.config)


def test_resuming_an_adaptive_run_is_exact(poems, tmp_path, one_thread):
    mcfg = preset_config("gru", "tiny", poems.vocab.size, dropout=0.1)  # dropout: the RNG state matters
    full = [e.loss for e in train(poems, mcfg, tcfg(), tmp_path / "a") if e.kind == "step"]
    first = []
    for e in train(poems, mcfg, tcfg(), tmp_path / "b", should_stop=lambda: len(first) >= 5):
        if e.kind == "step":
            first.append(e.loss)
    second = [e.loss for e in train(poems, None, tcfg(), tmp_path / "b", resume=True) if e.kind == "step"]
    assert len(first) == 5 and np.allclose(full, first + second, atol=1e-5, rtol=0)
    a = load_checkpoint(tmp_path / "a" / "last")
    b = load_checkpoint(tmp_path / "b" / "last")
    assert a.config == b.config and a.config.head == "adaptive"
    sb = b.model.state_dict()
    assert all(torch.allclose(v, sb[k], atol=1e-5) for k, v in a.model.state_dict().items())


def test_a_small_vocabulary_trains_exactly_as_before(tmp_path, one_thread):
    """Shakespeare: "auto" is the linear head, no unigram start, so a run's weights are those of an explicit
    linear config (the code path every checkpoint before issue 13 was trained with)."""
    corpus = build_corpus(shakespeare_slice(20_000), name="s20k")
    auto = run_to_end(train(corpus, preset_config("gru", "tiny", corpus.vocab.size), tcfg(), tmp_path / "a"))
    linear = ModelConfig(arch="gru", vocab_size=corpus.vocab.size, n_layer=1, n_embd=32, hidden_size=128,
                         block_size=64)  # fmt: skip
    assert preset_config("gru", "tiny", corpus.vocab.size, head="linear") == linear
    run_to_end(train(corpus, linear, tcfg(), tmp_path / "b"))
    a = load_checkpoint(auto.summary["checkpoint"])
    b = load_checkpoint(tmp_path / "b" / "best")
    assert a.config.to_json() == b.config.to_json() and "head" not in a.config.to_json()
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
