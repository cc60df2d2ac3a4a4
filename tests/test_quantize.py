"""int8 dynamic quantization: same predictions within int8 error, sampling and scoring still work."""

import warnings

import numpy as np
import pytest
import torch

from charlm.generation.sample import generate
from charlm.generation.settings import Sampling
from charlm.models import ModelConfig, build_model
from charlm.models.quantize import is_quantized, quantize_for_cpu
from charlm.score import score_ids
from charlm.storage.checkpoint import LoadedModel
from charlm.vocab import CharVocab
from tests.helpers import ARCHS, TINY

VOCAB = CharVocab.from_chars("abcdefghijklmnopqrstuvwxyz .,\n:")


def tiny(arch):
    torch.manual_seed(0)
    cfg = ModelConfig(arch=arch, vocab_size=VOCAB.size, **TINY[arch])
    return LoadedModel(model=build_model(cfg).eval(), vocab=VOCAB, config=cfg)


@pytest.mark.parametrize("arch", ARCHS)
def test_quantized_logits_are_close_and_original_untouched(arch):
    lm = tiny(arch)
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    q = quantize_for_cpu(lm)
    assert is_quantized(q) and not is_quantized(lm)
    x = torch.randint(1, VOCAB.size, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref, _ = lm.model(x, lm.model.init_state(2))
        out, _ = q.model(x, q.model.init_state(2))
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() < 0.05 * max(1.0, ref.abs().max().item())
    assert all(torch.equal(v, lm.model.state_dict()[k]) for k, v in before.items())
    if arch != "rnn":  # torch has no dynamic int8 nn.RNN: only its Linear head is quantized
        assert q.meta["quantized"]["modules"]


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_quantized_model_samples_and_scores(arch):
    q = quantize_for_cpu(tiny(arch))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # deprecations are silenced at quantize time only
        text = "".join(generate(q, "abc", Sampling(max_new_chars=70, seed=3)))  # GPT: slides past its 32-char window
    assert len(text) == 70
    ids = np.asarray(VOCAB.encode("the cat sat on the mat, and the dog sat on the log.\n" * 4).ids)
    res = score_ids(q.model, ids)
    ref = score_ids(tiny(arch).model, ids)
    assert abs(res["loss"] - ref["loss"]) < 0.05


def test_refuses_non_cpu_models(monkeypatch):
    lm = tiny("gpt")
    monkeypatch.setattr(LoadedModel, "device", property(lambda self: torch.device("cuda")))
    with pytest.raises(ValueError, match="CPU"):
        quantize_for_cpu(lm)
