"""Inspection computes real numbers: attention as the forward pass uses it, surprise as scoring counts it, hidden
states and the units that follow a feature, and the character vectors' principal components."""

import math

import numpy as np
import pytest
import torch

from charlm.errors import DataError
from charlm.inspection import (
    MAX_CHARS,
    attention_maps,
    char_class,
    gate_activations,
    hidden_states,
    inspect_text,
    pca_2d,
)
from charlm.inspection.recurrent import FEATURES, correlations, top_units
from charlm.inspection.surprise import next_char_probs
from charlm.models import ModelConfig, build_model
from charlm.score import score_text
from charlm.storage.checkpoint import LoadedModel
from charlm.vocab import CharVocab
from tests.helpers import TINY, poems_slice, shakespeare_slice


def make(arch: str, text: str, seed: int = 0, **kw) -> LoadedModel:
    vocab = CharVocab.from_chars(text)
    torch.manual_seed(seed)
    config = ModelConfig(arch=arch, vocab_size=vocab.size, **{**TINY[arch], **kw})
    return LoadedModel(model=build_model(config).eval(), vocab=vocab, config=config)


@pytest.fixture(scope="module")
def text():
    return shakespeare_slice(3000)


def forward_with_weights(model, ids, weights):
    """The GPT's forward pass written out, with attention taken from the recorded weights (not recomputed)."""
    x = model.wte(ids) + model.wpe(torch.arange(ids.shape[1]))
    for layer, block in enumerate(model.blocks):
        attn = block.attn
        h = block.ln_1(x)
        B, T, C = h.shape
        _, _, v = attn.c_attn(h).view(B, T, 3, attn.n_head, C // attn.n_head).permute(2, 0, 3, 1, 4)
        y = (weights[layer][None] @ v).transpose(1, 2).reshape(B, T, C)
        x = x + attn.c_proj(y)
        x = x + block.mlp(block.ln_2(x))
    return model.lm_head(model.ln_f(x))


def test_attention_rows_are_causal_distributions_that_reproduce_the_forward(text):
    loaded = make("gpt", text, n_layer=2, n_head=4, n_embd=32, block_size=32)
    ids = loaded.vocab.encode(text[:32]).ids
    att = attention_maps(loaded.model, ids)
    w = att.weights
    assert w.shape == (2, 4, 32, 32)
    assert torch.allclose(w.sum(-1), torch.ones(2, 4, 32), atol=1e-5)  # every row is a distribution
    assert (w.triu(diagonal=1) == 0).all() and (w >= 0).all()  # no query sees a later key
    assert torch.allclose(w[:, :, 0, 0], torch.ones(2, 4))  # the first character can only attend to itself
    x = torch.tensor([ids])
    with torch.no_grad():
        normal, _ = loaded.model(x)
        rebuilt = forward_with_weights(loaded.model, x, w)
    assert torch.allclose(rebuilt, normal, atol=1e-5)  # the recorded weights are the ones the model used
    assert torch.allclose(att.logits, normal[0], atol=1e-6) and att.max_error < 1e-5


def test_attention_refuses_more_than_the_context_and_recurrent_models(text):
    gpt = make("gpt", text)
    with pytest.raises(DataError, match="model's context"):
        attention_maps(gpt.model, gpt.vocab.encode(text[:33]).ids)
    with pytest.raises(DataError, match="only for the GPT"):
        attention_maps(make("lstm", text).model, [1, 2, 3])


@pytest.mark.parametrize("arch", ["gpt", "lstm", "gru", "rnn"])
@pytest.mark.parametrize("n", [500, 1_024, 1_025, 2_000])  # recurrent scoring switches to parallel streams at 1,025
def test_surprise_is_what_scoring_counts(text, arch, n):
    loaded = make(arch, text)
    if arch == "lstm":  # a cell that never forgets: where each stream's state starts changes every later prediction
        H = loaded.config.hidden_size
        with torch.no_grad():
            for i in range(loaded.config.n_layer):
                getattr(loaded.model.rnn, f"bias_ih_l{i}")[H : 2 * H] = 30.0
    assert len(text) >= n
    s = inspect_text(loaded, text[:n]).surprise
    assert len(s.chars) == n - 1 and s.chars == list(text[1:n])
    assert math.isclose(s.bpc, score_text(loaded, text[:n])["bpc"], rel_tol=1e-6)
    if n != 500:
        return
    report = inspect_text(loaded, text[:500])
    out = report.to_json()
    assert math.isclose(out["bpc"], np.mean([-math.log2(c["prob"]) for c in out["chars"]]), rel_tol=1e-9)
    for c in out["chars"][:50]:
        probs = [p for _, p in c["top5"]]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True) and c["prob"] <= probs[0] + 1e-7
    worst = out["most_surprising"]
    assert len(worst) == 10 and [w["bits"] for w in worst] == sorted((w["bits"] for w in worst), reverse=True)
    assert worst[0]["bits"] == pytest.approx(max(-math.log2(c["prob"]) for c in out["chars"]))


def test_surprise_probabilities_are_the_softmax_of_the_forward(text):
    loaded = make("gpt", text, block_size=16)
    ids = loaded.vocab.encode(text[:16]).ids
    with torch.no_grad():
        logits, _ = loaded.model(torch.tensor([ids]))
    assert torch.allclose(next_char_probs(loaded.model, ids), torch.softmax(logits[0, :-1], -1), atol=1e-6)


@pytest.mark.parametrize("arch", ["gpt", "gru"])
def test_chinese_text(arch):
    poems = poems_slice(400)
    loaded = make(arch, poems)
    out = inspect_text(loaded, poems[:300]).to_json()
    assert len(out["chars"]) == 299 and math.isfinite(out["bpc"])
    classes = dict(zip(out["embedding"]["chars"], out["embedding"]["classes"], strict=True))
    assert classes["心"] == "Han" and classes["，"] == "punct"


def test_unknown_characters_are_named_and_not_scored(text):
    loaded = make("lstm", text)
    report = inspect_text(loaded, "To be, or not to be: ☃ that")
    assert report.unknown_chars == ("☃",) and "☃" in report.notes[0]
    assert report.surprise.probs[report.surprise.chars.index("☃")] is None
    assert math.isfinite(report.surprise.bpc)


def test_text_caps_are_clear(text):
    loaded = make("gpt", text)
    with pytest.raises(DataError, match=f"at most {MAX_CHARS:,}"):
        inspect_text(loaded, "a" * (MAX_CHARS + 1))
    with pytest.raises(DataError, match="at least 2"):
        inspect_text(loaded, "a")
    report = inspect_text(loaded, text[:100])  # the tiny GPT's context is 32
    assert report.attention.weights.shape[-1] == 32 and report.attention_text == text[:32]
    assert "first 32 characters" in report.notes[0]


def test_hidden_states_are_the_last_layers_output(text):
    loaded = make("lstm", text)
    ids = loaded.vocab.encode(text[:200]).ids
    h = hidden_states(loaded.model, ids)
    with torch.no_grad():
        out, _ = loaded.model.rnn(loaded.model.embed(torch.tensor([ids])))
    assert h.shape == (200, 32) and np.allclose(h, out[0].numpy(), atol=1e-6)
    report = inspect_text(loaded, text[:200])
    assert np.array_equal(report.hidden, h) and len(report.to_json()["hidden"][0]) == 32


def test_a_unit_that_tracks_quotes_is_found():
    text = 'He said "go now" and left. She (quietly) said "stay" again.\n' * 5
    rng = np.random.default_rng(0)
    states = rng.normal(size=(len(text), 16))
    quotes = np.asarray(FEATURES["inside quotes"](text))
    states[:, 7] = quotes + 0.01 * rng.normal(size=len(text))  # unit 7 is on inside quotes
    corr = correlations(states, text)
    assert "Chinese punctuation" not in corr  # constant in this text: nothing to correlate
    best = [row for row in top_units(corr) if row["feature"] == "inside quotes"][0]
    assert best["unit"] == 7 and best["correlation"] > 0.99
    brackets = FEATURES["inside brackets"](text)
    assert brackets[text.index("(")] == 1 and brackets[text.index(")")] == 0
    assert FEATURES["position in line"]("ab\ncd")[3:] == [0.0, 1.0]


def test_pca_variance_comes_first_component_first():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(60, 8)) * np.array([5, 1, 3, 0.5, 0.2, 0.1, 0.1, 0.1])
    proj = pca_2d(vectors)
    eig = np.sort(np.linalg.eigvalsh(np.cov(vectors.T)))[::-1]
    assert np.allclose(proj.explained_variance, eig[:2])
    assert proj.explained_variance[0] >= proj.explained_variance[1]
    assert np.allclose(proj.xy.var(axis=0, ddof=1), eig[:2])  # the points spread as the components say
    assert np.isclose(proj.explained_variance_ratio.sum(), eig[:2].sum() / eig.sum())


def test_embedding_view_for_gpt_says_the_output_is_tied(text):
    out = inspect_text(make("gpt", text), text[:50]).to_json()["embedding"]
    vocab = sorted(set(text))
    assert out["chars"] == vocab and len(out["xy"]) == len(vocab) and out["tied"] is True
    ev = out["explained_variance"]
    assert len(ev) == 2 and ev[0] >= ev[1]
    assert len(out["neighbours"]["a"]) == 5 and all(n != "a" for n, _ in out["neighbours"]["a"])
    assert inspect_text(make("gru", text), text[:50]).embedding["tied"] is False


def test_char_classes():
    got = {c: char_class(c) for c in "aZ7,  \n中？é$"}
    assert got == {"a": "lower", "Z": "upper", "7": "digit", ",": "punct", " ": "space", "\n": "space",
                   "中": "Han", "？": "punct", "é": "lower", "$": "punct"}  # fmt: skip


def _single_layers(model) -> list[torch.nn.Module]:
    """Each layer of the model's stacked nn.LSTM/nn.GRU as a one-layer torch module with the same weights."""
    rnn, out = model.rnn, []
    for k in range(rnn.num_layers):
        one = type(rnn)(rnn.input_size if k == 0 else rnn.hidden_size, rnn.hidden_size, batch_first=True)
        one.load_state_dict({f"{w}_l0": getattr(rnn, f"{w}_l{k}") for w in ("weight_ih", "weight_hh", "bias_ih",
                                                                          "bias_hh")})  # fmt: skip
        out.append(one.eval())
    return out


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_gates_are_the_equations_applied_to_torchs_own_states(text, arch):
    """Each gate at a few positions, written out from the weight slices (i, f, g, o / r, z, n in torch's packing)
    with the previous state and layer input taken from torch's fused layers, equals what the tab shows."""
    loaded = make(arch, text, seed=3)
    model, ids = loaded.model, loaded.vocab.encode(text[:120]).ids
    gates = gate_activations(model, ids)
    assert list(gates) == (["input", "forget", "output"] if arch == "lstm" else ["reset", "update"])
    first, last = _single_layers(model)
    with torch.no_grad():
        below, _ = first(model.embed(torch.tensor([ids])))  # the last layer's input at every position
        H = model.config.hidden_size
        w_ih, w_hh, b_ih, b_hh = (getattr(last, f"{w}_l0") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

        def part(k: int, x, h):  # gate block k of the packed weights
            s = slice(k * H, (k + 1) * H)
            return x @ w_ih[s].T + b_ih[s] + h @ w_hh[s].T + b_hh[s]

        for t in (0, 1, 57, 119):
            if t == 0:
                h = c = torch.zeros(1, H)
            elif arch == "lstm":
                _, (h, c) = last(below[:, :t])
                h, c = h[0], c[0]
            else:
                _, h = last(below[:, :t])
                h = h[0]
            x = below[:, t]
            if arch == "lstm":
                expected = {"input": torch.sigmoid(part(0, x, h)), "forget": torch.sigmoid(part(1, x, h)),
                            "output": torch.sigmoid(part(3, x, h))}  # fmt: skip
            else:
                expected = {"reset": torch.sigmoid(part(0, x, h)), "update": torch.sigmoid(part(1, x, h))}
            for name, value in expected.items():
                assert np.allclose(gates[name][t], value[0].numpy(), atol=1e-5), (arch, name, t)
    assert all(g.min() >= 0 and g.max() <= 1 for g in gates.values())
    report = inspect_text(loaded, text[:120])
    assert report.to_json()["gate_names"] == list(gates) and len(report.to_json()["gates"][list(gates)[0]]) == 120


def test_a_plain_rnn_has_no_gates(text):
    loaded = make("rnn", text)
    assert gate_activations(loaded.model, loaded.vocab.encode(text[:20]).ids) is None
    assert inspect_text(loaded, text[:20]).gates is None
