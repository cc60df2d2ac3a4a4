"""The app's model registry without a server: chat replies use int8 copies, scores the full-precision weights."""

from __future__ import annotations

import os

import pytest
import torch

from charlm.models import ModelConfig, build_model
from charlm.models.quantize import is_quantized
from charlm.storage.checkpoint import load_checkpoint, save_checkpoint
from charlm.ui.limits import Limits
from charlm.ui.registry import ModelRegistry
from charlm.vocab import CharVocab
from tests.helpers import REPO, TINY

VOCAB = CharVocab.from_chars("abcdefghijklmnopqrstuvwxyz .,\n")


POEM = "春曉:春眠不覺曉，處處聞啼鳥。夜來風雨聲，花落知多少。\n靜夜思:牀前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"


def _save_tiny(path, seed: int) -> None:
    torch.manual_seed(seed)
    cfg = ModelConfig(arch="lstm", vocab_size=VOCAB.size, **TINY["lstm"])
    save_checkpoint(path, build_model(cfg), VOCAB, cfg, name="tiny")


def test_shipped_models_chat_in_int8_and_score_in_fp32(tmp_path):
    reg = ModelRegistry(REPO / "checkpoints", Limits(), root=tmp_path)
    assert reg.shipped, "no shipped checkpoints"
    for name in reg.shipped:
        full, chat = reg.resolve(name, "k"), reg.resolve_chat(name, "k")
        assert not is_quantized(full) and is_quantized(chat)
        assert reg.resolve_chat(name, "k") is chat  # made once, at start-up
        text = POEM if "，" in full.vocab else "ROMEO:\nWhat light through yonder window breaks?"  # its own language
        ids = torch.tensor([full.vocab.encode(text).ids])
        with torch.inference_mode():
            a, _ = full.model(ids)
            b, _ = chat.model(ids)
        pa, pb = a.softmax(-1), b.softmax(-1)
        tv = (pa - pb).abs().sum(-1) / 2  # total variation distance per position
        assert tv.mean() < 0.04 and tv.max() < 0.15  # int8 barely moves the next-character distribution
        assert "int8" in reg.card(name, "k")


def test_int8_serving_can_be_turned_off(tmp_path):
    reg = ModelRegistry(REPO / "checkpoints", Limits(serve_int8=False), root=tmp_path)
    name = next(iter(reg.shipped))
    assert reg.resolve_chat(name, "k") is reg.resolve(name, "k")
    assert "int8" not in reg.card(name, "k")


def test_session_model_gets_a_fresh_int8_copy_when_its_weights_change(tmp_path):
    reg = ModelRegistry(tmp_path / "none", Limits(), root=tmp_path / "root")
    run = reg.new_run("k", "tiny", "some text", "abc")
    ck = run.best
    _save_tiny(ck, seed=0)
    name = run.name
    first = reg.resolve_chat(name, "k")
    assert is_quantized(first) and reg.resolve_chat(name, "k") is first
    stamp = (ck / "model.safetensors").stat().st_mtime_ns
    _save_tiny(ck, seed=1)  # training saved a better checkpoint
    os.utime(ck / "model.safetensors", ns=(stamp + 10**9, stamp + 10**9))  # a coarse clock must still differ
    second = reg.resolve_chat(name, "k")
    assert second is not first and is_quantized(second)
    fresh = load_checkpoint(ck).model.state_dict()["head.weight"]
    assert torch.equal(reg.resolve(name, "k").model.state_dict()["head.weight"], fresh)


def test_serve_int8_environment_variable(monkeypatch):
    monkeypatch.setenv("CHARLM_SERVE_INT8", "0")
    assert Limits.from_env().serve_int8 is False
    monkeypatch.setenv("CHARLM_SERVE_INT8", "yes")
    assert Limits.from_env().serve_int8 is True
    monkeypatch.setenv("CHARLM_SERVE_INT8", "maybe")
    with pytest.raises(ValueError, match="CHARLM_SERVE_INT8"):
        Limits.from_env()
