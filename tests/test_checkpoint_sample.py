import json

import pytest
import torch

from charlm.errors import CheckpointError, SamplingError
from charlm.generation.sample import generate, sample_ids
from charlm.generation.settings import Sampling
from charlm.models import ModelConfig, build_model
from charlm.storage.checkpoint import LoadedModel, ResumeState, load_checkpoint, save_checkpoint
from charlm.vocab import UNK_ID, CharVocab
from tests.helpers import ARCHS, TINY

VOCAB = CharVocab.from_chars("abcdefghijklmnopqrstuvwxyz .,\n:")


def tiny(arch, **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(arch=arch, vocab_size=VOCAB.size, **{**TINY[arch], **kw})
    model = build_model(cfg).eval()
    return LoadedModel(model=model, vocab=VOCAB, config=cfg)


@pytest.mark.parametrize("arch", ARCHS)
def test_checkpoint_round_trip(tmp_path, arch):
    lm = tiny(arch)
    save_checkpoint(tmp_path / "ck", lm.model, VOCAB, lm.config, training={"steps": 3}, name="t")
    back = load_checkpoint(tmp_path / "ck")
    x = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.equal(lm.model(x)[0], back.model(x)[0])
    assert back.vocab.chars == VOCAB.chars and back.config == lm.config
    assert back.meta["training"]["steps"] == 3 and back.name == "t"
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert meta["format"] == "charlm-checkpoint" and meta["model"]["arch"] == arch


def test_corrupt_and_foreign_checkpoints_get_clear_errors(tmp_path):
    lm = tiny("gpt")
    ck = save_checkpoint(tmp_path / "ck", lm.model, VOCAB, lm.config)
    data = (ck / "model.safetensors").read_bytes()
    (ck / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(ck)
    (ck / "model.safetensors").write_bytes(b"\x80\x04\x95pickle" + data[100:200])  # a pickle is refused too
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(ck)
    (ck / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(ck)
    (ck / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="not a charlm checkpoint"):
        load_checkpoint(ck)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing")


def test_shape_mismatch_is_reported(tmp_path):
    lm = tiny("lstm")
    ck = save_checkpoint(tmp_path / "ck", lm.model, VOCAB, lm.config)
    meta = json.loads((ck / "config.json").read_text())
    meta["model"]["hidden_size"] = 64
    (ck / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(ck)


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path):
    lm = tiny("gru")
    save_checkpoint(tmp_path / "ck", lm.model, VOCAB, lm.config, training={"steps": 1})
    shared = torch.zeros(2)  # safetensors refuses tensors that share memory: the save fails midway
    bad = ResumeState(step=2, elapsed=0.0, best_val=None, train_config={}, optimizer={"state": {}, "param_groups": []},
                      rng_batch=shared, rng_torch=shared)  # fmt: skip
    with pytest.raises(RuntimeError, match="share memory"):
        save_checkpoint(tmp_path / "ck", lm.model, VOCAB, lm.config, training={"steps": 2}, resume=bad)
    assert load_checkpoint(tmp_path / "ck").meta["training"]["steps"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temp folders left behind


@pytest.mark.parametrize("arch", ARCHS)
def test_seeded_sampling_is_deterministic(arch):
    lm = tiny(arch)
    a = "".join(generate(lm, "abc", Sampling(max_new_chars=80, seed=3, top_k=10, top_p=0.9)))
    b = "".join(generate(lm, "abc", Sampling(max_new_chars=80, seed=3, top_k=10, top_p=0.9)))
    c = "".join(generate(lm, "abc", Sampling(max_new_chars=80, seed=4, top_k=10, top_p=0.9)))
    assert a == b and len(a) == 80 and a != c


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_greedy_and_top_k_one_agree(arch):
    lm = tiny(arch)
    greedy = "".join(generate(lm, "hello", Sampling(max_new_chars=40, temperature=0)))
    assert greedy == "".join(generate(lm, "hello", Sampling(max_new_chars=40, temperature=1.0, top_k=1, seed=9)))


def test_gpt_slides_past_its_context_and_matches_a_naive_sampler():
    """Past the window the cached sampler re-prefills; greedy output equals a sampler that recomputes the
    same (slid) window from scratch each step."""
    lm = tiny("gpt", block_size=16)
    with torch.no_grad():
        for p in lm.model.parameters():  # sharpen a random model so that its output depends on the context
            p.mul_(25)
    out = list(sample_ids(lm.model, VOCAB, "abc", Sampling(max_new_chars=60, temperature=0)))
    assert len(out) == 60
    ctx = VOCAB.encode("abc").ids
    keep, window = 8, ctx[:]
    naive = []
    with torch.no_grad():
        for _ in range(60):
            logits, _ = lm.model(torch.tensor([window]))
            last = logits[0, -1]
            last[UNK_ID] = float("-inf")
            nxt = int(last.argmax())
            naive.append(nxt)
            window.append(nxt)
            if len(window) > 16:  # the cache holds 16; the 17th character triggers the slide
                window = window[-keep:]
    assert out == naive


def test_unknown_prompt_characters_never_crash_and_are_never_sampled():
    lm = tiny("gpt")
    text = "".join(generate(lm, "ЖЖЖ🙂 héllo", Sampling(max_new_chars=200, temperature=2.0, seed=0)))
    assert len(text) == 200 and "\ufffd" not in text
    assert "".join(generate(lm, "", Sampling(max_new_chars=10, seed=0)))  # empty prompt starts fresh


def test_stop_strings_end_generation_before_the_stop():
    lm = tiny("lstm")
    full = "".join(generate(lm, "a", Sampling(max_new_chars=300, temperature=1.5, seed=1)))
    stop = full[40:42]
    cut = full.find(stop)
    pieces = list(generate(lm, "a", Sampling(max_new_chars=300, temperature=1.5, seed=1, stop=[stop])))
    assert "".join(pieces) == full[:cut]
    assert len(pieces) > 1  # streamed, not all at once


def test_bad_sampling_settings():
    lm = tiny("rnn")
    for kw, msg in [({"temperature": -1}, "temperature"), ({"top_p": 0}, "top-p"), ({"top_k": -2}, "top-k")]:
        with pytest.raises(SamplingError, match=msg):
            list(generate(lm, "a", Sampling(max_new_chars=5, **kw)))
