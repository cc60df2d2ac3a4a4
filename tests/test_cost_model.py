"""Issue 19 A: one cost model for every model a user can bring -- vocabulary, attention and adaptive clusters are
counted, uploads and training refuse a model whose generated character costs too much, absurd heads are refused
with words (not OverflowError), inspection's tables are built without a V x V matrix, and an upload whose metadata
is wrong keeps nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from charlm.budget import (
    CLUSTER_FLOPS,
    LOGIT_BLOCK,
    char_cost,
    check_char_cost,
    inspection_cost,
    scoring_cost,
)
from charlm.errors import BudgetError, CheckpointError, DataError
from charlm.inspection import inspect_text, vector_subset
from charlm.inspection.vectors import MAX_POINTS, nearest_neighbours
from charlm.models import ModelConfig, build_model, config_parameters
from charlm.storage.checkpoint import load_checkpoint, save_checkpoint
from charlm.storage.store import ModelStore
from charlm.vocab import CharVocab

DEFAULT_CHAR_MFLOP = 30.0  # Limits.max_char_mflop


def zh(message: str) -> str:
    from charlm.ui.i18n import tr_error

    return tr_error("zh-CN", message)


def big_rnn(vocab: int = 1_000_002) -> ModelConfig:
    return ModelConfig(arch="rnn", vocab_size=vocab, n_layer=1, n_embd=1, hidden_size=1, block_size=32)


def test_the_vocabulary_is_counted_where_parameters_do_not_show_it():
    rnn = big_rnn()
    assert config_parameters(rnn) < 10_000_000  # legal by size alone: 3 M parameters
    assert char_cost(rnn).gflop * 1e3 > 2 * DEFAULT_CHAR_MFLOP  # but every character touches a million entries
    assert scoring_cost(rnn, config_parameters(rnn), 2000).gflop > 40  # 2,000 x 1,000,002 vocabulary entries
    # scoring materialises one block of logits, not T x V: its memory does not grow with the text
    assert scoring_cost(rnn, config_parameters(rnn), 2000).mb < 64
    n = config_parameters(rnn)
    assert scoring_cost(rnn, n, 20_000).mb == pytest.approx(scoring_cost(rnn, n, 2000).mb, rel=0.05)


def test_every_shipped_model_chats_within_the_default_limit():
    from tests.helpers import REPO

    for cfg in sorted((REPO / "checkpoints").glob("*/config.json")):
        config = ModelConfig.from_json(json.loads(cfg.read_text(encoding="utf-8"))["model"])
        check_char_cost(config, DEFAULT_CHAR_MFLOP)  # no refusal
        assert char_cost(config).gflop * 1e3 < DEFAULT_CHAR_MFLOP / 2


def test_a_model_too_costly_per_character_is_refused_in_both_languages():
    with pytest.raises(BudgetError, match=r"MFLOP per generated character \(vocabulary 1,000,002, 0 clusters\); "
                                          r"this server allows 30.0 \(CHARLM_MAX_CHAR_MFLOP\)") as info:  # fmt: skip
        check_char_cost(big_rnn(), DEFAULT_CHAR_MFLOP)
    chinese = zh(str(info.value))
    assert chinese.startswith("这个模型每生成一个字符约需") and "CHARLM_MAX_CHAR_MFLOP" in chinese


def test_attention_and_clusters_are_counted():
    short = ModelConfig(arch="gpt", vocab_size=66, n_layer=8, n_head=16, n_embd=64, block_size=256)
    long = ModelConfig(arch="gpt", vocab_size=66, n_layer=8, n_head=16, n_embd=64, block_size=2048)
    assert char_cost(long).gflop - char_cost(short).gflop == pytest.approx(4 * 8 * (2048 - 256) * 64 / 1e9, rel=0.2)
    n = config_parameters(long)
    # inspection records one layer's attention at a time over at most ATTENTION_CHARS: bounded memory
    assert inspection_cost(long, n, 2000).mb < 512
    few = ModelConfig(arch="gru", vocab_size=2000, n_layer=1, n_embd=8, hidden_size=8, head="adaptive",
                      head_order=list(range(2000)), head_cutoffs=[8], head_div=1.0)  # fmt: skip
    many = ModelConfig(arch="gru", vocab_size=2000, n_layer=1, n_embd=8, hidden_size=8, head="adaptive",
                       head_order=list(range(2000)), head_cutoffs=list(range(8, 24)), head_div=1.0)  # fmt: skip
    assert char_cost(many).gflop - char_cost(few).gflop == pytest.approx(15 * CLUSTER_FLOPS / 1e9, rel=0.05)


@pytest.mark.parametrize("cutoffs, div", [(list(range(1, 1200)), 2.0), (list(range(1, 6258)), 1.0)])
def test_absurd_adaptive_heads_are_refused_with_words(cutoffs, div):
    """1,199 cut-offs with head_div 2 used to raise OverflowError; 6,257 one-character clusters chatted at 0.45 s
    per character."""
    vocab = cutoffs[-1] + 1
    with pytest.raises(ValueError, match=f"at most 16 clusters, not {len(cutoffs):,} cutoffs") as info:
        ModelConfig(arch="gru", vocab_size=vocab, n_layer=1, n_embd=8, hidden_size=8, head="adaptive",
                    head_order=list(range(vocab)), head_cutoffs=cutoffs, head_div=div)  # fmt: skip
    assert f"自适应输出层最多有 16 个簇，而不是 {len(cutoffs):,} 个分界点" in zh(str(info.value))


def test_neighbours_in_blocks_equal_the_full_matrix():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 7)).astype(np.float32)
    chars = [chr(0x4E00 + i) for i in range(300)]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / norms
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    got = nearest_neighbours(vectors, chars, 5, block=64)  # 64 entries a block: one query row at a time
    for i, c in enumerate(chars):
        want = np.argsort(-sim[i])[:5]
        assert [n for n, _ in got[c]] == [chars[j] for j in want]
        assert [s for _, s in got[c]] == pytest.approx(sim[i, want].tolist(), abs=1e-5)


def test_the_vectors_view_is_capped_and_puts_the_text_first():
    chars = [chr(0x4E00 + i) for i in range(12_000)]
    shown = vector_subset(chars, focus=chars[11_999] + chars[5000])
    assert len(shown) == 2000 and {11_999, 5000} <= set(shown) and shown == sorted(shown)
    assert vector_subset(chars[:50]) == list(range(50))


def tiny_checkpoint(tmp_path, vocab_chars: str, name: str = "mine", **training) -> tuple:
    vocab = CharVocab.from_chars(vocab_chars)
    config = ModelConfig(arch="gru", vocab_size=vocab.size, n_layer=1, n_embd=4, hidden_size=8, block_size=16)
    torch.manual_seed(0)
    model = build_model(config)
    folder = save_checkpoint(tmp_path / name, model, vocab, config, training=training or {"steps": 3}, name=name)
    return folder, vocab


def test_inspection_of_a_large_vocabulary_is_bounded(tmp_path):
    chars = "".join(chr(0x4E00 + i) for i in range(12_000))
    folder, _ = tiny_checkpoint(tmp_path, chars)
    loaded = load_checkpoint(folder)
    text = chars[:300]
    report = inspect_text(loaded, text)
    assert len(report.embedding["chars"]) == MAX_POINTS == 300 and report.embedding["vocab_chars"] == 12_000
    assert set(text) <= set(report.embedding["chars"]) and any("300 of the 12,000" in n for n in report.notes)
    assert len(report.surprise.probs) == 299 and len(report.surprise.top_ids[0]) == 5
    with pytest.raises(BudgetError, match="inspecting 300 characters with this model would cost about") as info:
        inspect_text(loaded, text, max_gflop=1e-6)
    assert zh(str(info.value)).startswith("用这个模型查看 300 个字符")
    with pytest.raises(DataError):
        inspect_text(loaded, "x")


def test_scoring_in_blocks_equals_scoring_at_once(tmp_path):
    """The head runs a block of rows at a time (LOGIT_BLOCK entries); the numbers are those of one big pass."""
    from charlm.score import _accumulate, row_blocks, score_text

    chars = "".join(chr(0x4E00 + i) for i in range(5000))
    folder, vocab = tiny_checkpoint(tmp_path, chars)
    loaded = load_checkpoint(folder)
    text = "".join(chars[(i * 7919) % 5000] for i in range(600))
    got = score_text(loaded, text)
    ids = torch.tensor([vocab.encode(text).ids])
    with torch.no_grad():
        logits, _ = loaded.model(ids[:, :-1])
    acc = {"nll": 0.0, "top1": 0, "top5": 0, "n": 0}
    _accumulate(logits, ids[:, 1:], torch.ones_like(ids[:, 1:], dtype=torch.bool), acc)
    assert got["loss"] == pytest.approx(acc["nll"] / acc["n"], rel=1e-5) and got["top5"] == acc["top5"] / acc["n"]
    assert len(row_blocks(600, 5001)) == -(-600 // (LOGIT_BLOCK // 5001))


def test_upload_refuses_a_costly_model_and_bad_metadata_whole(tmp_path):
    store = ModelStore(tmp_path / "store")
    ok, _ = tiny_checkpoint(tmp_path, "abcdef", "ok")
    files = [ok / "config.json", ok / "model.safetensors"]
    with pytest.raises(BudgetError, match="CHARLM_MAX_CHAR_MFLOP"):
        store.add_upload("u1", files, 2**20, 10_000_000, max_char_mflop=1e-6)
    meta = json.loads((ok / "config.json").read_text(encoding="utf-8"))
    for training, match in (({"steps": "abc"}, "training metadata steps must be a number, not 'abc'"),
                            ({"corpus": {"name": 7}}, "corpus name must be text"),
                            ({"best_val_bpc": True}, "best_val_bpc must be a number"),
                            ("nonsense", "must be an object")):  # fmt: skip
        (ok / "config.json").write_text(json.dumps({**meta, "training": training}), encoding="utf-8")
        with pytest.raises(CheckpointError, match=match) as info:
            store.add_upload("u1", files, 2**20, 10_000_000, max_char_mflop=DEFAULT_CHAR_MFLOP)
        assert "config.json：" in zh(str(info.value))
    assert store.models("u1") == []  # nothing kept, not even a half-made folder
    assert not [p for p in (tmp_path / "store" / "users").rglob("*") if p.name.startswith(".upload-")]


def test_inspect_keeps_one_head_and_recomputes_the_others(tmp_path):
    """The session's State holds one (T, T) head, not layers x heads of them; another head recomputed on demand
    equals the one recorded with all the others."""
    pytest.importorskip("gradio")
    from charlm.inspection import attention_maps
    from charlm.ui.inspect_tab import OneHead, kept, view_data

    vocab = CharVocab.from_chars(CHARS := "abcdefgh ")
    config = ModelConfig(arch="gpt", vocab_size=vocab.size, n_layer=2, n_head=4, n_embd=16, block_size=32)
    torch.manual_seed(0)
    model = build_model(config).eval()
    folder = save_checkpoint(tmp_path / "g", model, vocab, config, training={"steps": 1}, name="g")
    loaded = load_checkpoint(folder)
    text = (CHARS * 5)[:40]
    state = kept(view_data(inspect_text(loaded, text, attention_head=(0, 0)), "g"))
    assert set(state) == {"arch", "attention", "attention_chars", "embedding", "model"}
    att = state["attention"]
    assert isinstance(att, OneHead) and att.m.shape == (32, 32) and att.shape == (2, 4, 32, 32)
    every = attention_maps(loaded.model, vocab.encode(text[:32]).ids).weights
    other = OneHead(attention_maps(loaded.model, vocab.encode(text[:32]).ids, keep=(1, 3)))
    assert np.allclose(other[1, 3], every[1, 3].numpy(), atol=1e-6) and np.allclose(att[0, 0], every[0, 0].numpy())
    with pytest.raises(KeyError):
        att[1, 3]
