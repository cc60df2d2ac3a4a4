"""Ensembles average the members' next-character distributions; a model with itself is the model."""

import pytest
import torch

from charlm.errors import CheckpointError
from charlm.generation.sample import generate
from charlm.generation.settings import Sampling
from charlm.inspection.surprise import next_char_probs
from charlm.models import ModelConfig, build_model
from charlm.models.ensemble import ensemble
from charlm.score import score_text
from charlm.storage.checkpoint import LoadedModel
from charlm.vocab import CharVocab
from tests.helpers import TINY, shakespeare_slice


def make(arch: str, chars, seed: int, name: str) -> LoadedModel:
    vocab = CharVocab.from_chars(chars)
    torch.manual_seed(seed)
    config = ModelConfig(arch=arch, vocab_size=vocab.size, **TINY[arch])
    return LoadedModel(model=build_model(config).eval(), vocab=vocab, config=config, meta={"name": name})


@pytest.fixture(scope="module")
def text():
    return shakespeare_slice(2000)


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_a_model_with_itself_is_the_model(text, arch):
    m = make(arch, text, 0, "a")
    twice = ensemble([m, m])
    assert score_text(twice, text)["loss"] == pytest.approx(score_text(m, text)["loss"], rel=1e-6)
    ids = m.vocab.encode(text[:100]).ids
    assert torch.allclose(next_char_probs(twice.model, ids), next_char_probs(m.model, ids), atol=1e-6)
    alone = "".join(generate(m, "ROMEO:", Sampling(max_new_chars=80, seed=3, top_k=10)))
    assert "".join(generate(twice, "ROMEO:", Sampling(max_new_chars=80, seed=3, top_k=10))) == alone


def test_the_ensemble_is_the_mean_of_the_distributions(text):
    a, b, c = make("gpt", text, 0, "a"), make("lstm", text, 1, "b"), make("gru", text, 2, "c")
    ens = ensemble([a, b, c])
    assert ens.model.max_context == a.model.max_context  # the GPT's window bounds what all can see at once
    ids = a.vocab.encode(text[:32]).ids  # one window: every member reads the same text
    mean = sum(next_char_probs(m.model, ids) for m in (a, b, c)) / 3
    assert torch.allclose(next_char_probs(ens.model, ids), mean, atol=1e-6)
    long = "".join(generate(ens, text[:10], Sampling(max_new_chars=100, seed=1)))  # slides the GPT's 32-char window
    assert len(long) == 100


def test_recurrent_only_ensemble_has_no_window(text):
    ens = ensemble([make("lstm", text, 0, "a"), make("rnn", text, 1, "b")])
    assert ens.model.max_context is None
    assert score_text(ens, text)["n_chars"] == len(text) - 1


def test_different_vocabularies_are_named(text):
    a = make("gpt", "abcdef", 0, "first")
    b = make("gpt", "abcxyz", 0, "second")
    with pytest.raises(CheckpointError, match="first has 'd' 'e' 'f' that second lacks; second has 'x' 'y' 'z'"):
        ensemble([a, b])
    with pytest.raises(CheckpointError, match="at least two"):
        ensemble([a])
