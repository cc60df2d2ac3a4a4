from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from charlm.models import LanguageModel, ModelConfig, build_model, preset_config
from tests.helpers import ARCHS, TINY


def make(arch, vocab_size=23, **kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(arch=arch, vocab_size=vocab_size, **{**TINY[arch], **kw})).eval()


@pytest.mark.parametrize("arch", ARCHS)
def test_incremental_decoding_equals_full_forward(arch):
    """Inside one context window, one-character steps give the logits of a full forward pass (to 1e-5)."""
    model = make(arch)
    idx = torch.randint(1, 23, (3, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full, _ = model(idx, model.init_state(3))
        state = model.init_state(3)
        pieces = []
        logits, state = model(idx[:, :5], state)  # a prompt, then one character at a time
        pieces.append(logits)
        for t in range(5, 20):
            logits, state = model(idx[:, t : t + 1], state)
            pieces.append(logits)
        logits, state = model(idx[:, 20:], state)  # a multi-character chunk after a filled cache
        pieces.append(logits)
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=0)


def test_gpt_refuses_to_overflow_its_context():
    model = make("gpt")
    state = model.init_state(1)
    with torch.no_grad():
        model(torch.ones(1, 32, dtype=torch.long), state)
        with pytest.raises(ValueError, match="context window"):
            model(torch.ones(1, 1, dtype=torch.long), state)


def test_gpt_output_weights_are_tied():
    model = make("gpt")
    assert model.lm_head.weight.data_ptr() == model.wte.weight.data_ptr()


@pytest.mark.parametrize("arch", ARCHS)
def test_overfits_a_tiny_text(arch):
    """A model that cannot memorise 40 characters has a bug; every architecture must get near zero loss."""
    text = "to be or not to be, that is the question"
    chars = sorted(set(text))
    ids = torch.tensor([[chars.index(c) + 1 for c in text]])
    torch.manual_seed(0)
    cfg = ModelConfig(arch=arch, vocab_size=len(chars) + 1, **{**TINY[arch], "block_size": 64})
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05, f"{arch} final loss {loss.item():.3f}"


def test_config_validation_messages():
    with pytest.raises(ValueError, match="arch must be one of"):
        ModelConfig(arch="transformer-xl")
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(arch="gpt", n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(arch="lstm", dropout=1.5)
    with pytest.raises(ValueError, match="size must be one of"):
        preset_config("gpt", "huge", 10)
    with pytest.raises(ValueError, match="unknown model settings"):
        ModelConfig.from_json({"arch": "gpt", "n_layers": 3})


def test_parameter_count_from_the_config_matches_the_built_model():
    """config_parameters (no weights built: the size check for untrusted configs) agrees with the real modules."""
    import random

    from charlm.models import PRESETS, config_parameters, count_parameters, estimated_cutoffs, preset_config

    rng = random.Random(0)
    for arch in ARCHS:
        for size in PRESETS[arch]:
            cfg = preset_config(arch, size, rng.randint(2, 7000), head="linear")
            assert config_parameters(cfg) == count_parameters(build_model(cfg)), (arch, size)
            V = rng.randint(1025, 7000)  # the adaptive head, with some frequency order and cutoffs
            cfg = preset_config(arch, size, V, head="adaptive", head_order=rng.sample(range(V), V),
                                head_cutoffs=estimated_cutoffs(V), head_div=rng.choice([2.0, 4.0]))  # fmt: skip
            assert config_parameters(cfg) == count_parameters(build_model(cfg)), (arch, size, "adaptive")
        for _ in range(5):
            cfg = ModelConfig(arch=arch, vocab_size=rng.randint(2, 300), n_layer=rng.randint(1, 3),
                              n_embd=4 * rng.randint(1, 16), n_head=4, hidden_size=rng.randint(1, 40),
                              block_size=rng.randint(1, 64), bias=rng.random() < 0.5)  # fmt: skip
            assert config_parameters(cfg) == count_parameters(build_model(cfg)), cfg
    with pytest.raises(ValueError, match="n_layer must be an integer from 1 to 64"):
        ModelConfig(n_layer=1000)


# --- the LanguageModel contract -------------------------------------------------------------------------------------
class _Minimal(LanguageModel):
    """The least a new architecture writes: one tanh cell, its state a (1, batch, width) tensor."""

    def __init__(self, vocab_size: int, width: int = 8) -> None:
        super().__init__()
        self.config = SimpleNamespace(vocab_size=vocab_size)
        self.embed, self.cell = torch.nn.Embedding(vocab_size, width), torch.nn.RNN(width, width, batch_first=True)
        self.head = torch.nn.Linear(width, vocab_size)

    max_context = None

    def init_state(self, batch_size: int = 1):
        return None

    @property
    def output_head(self):
        return self.head

    def hidden(self, idx, state=None):
        return self.cell(self.embed(idx), state)

    def decode_step(self, idx, state, pos):
        logits, state = self(idx[:, None], state)
        return logits[:, 0], state


def test_the_abstract_base_refuses_a_model_that_leaves_a_method_out():
    class NoStep(_Minimal):
        decode_step = LanguageModel.decode_step

    with pytest.raises(TypeError, match="decode_step"):
        NoStep(5)


def test_a_minimal_subclass_is_enough_for_sampling_batching_scoring_and_training():
    from charlm.generation import Sampling
    from charlm.generation.batched import DecodingEngine
    from charlm.generation.sample import sample_ids
    from charlm.score import score_text
    from charlm.storage.checkpoint import LoadedModel
    from charlm.vocab import CharVocab

    vocab = CharVocab.from_chars("abcde ")
    torch.manual_seed(0)
    model = _Minimal(vocab.size).eval()
    lm = LoadedModel(model=model, vocab=vocab, config=model.config)
    runs = [Sampling(max_new_chars=40, seed=i, top_k=3) for i in range(3)]
    alone = [list(sample_ids(model, vocab, "abc", s)) for s in runs]
    engine = DecodingEngine(model, capacity=3, background=False)
    together = [list(r.ids()) for r in [engine.submit(vocab, "abc", s) for s in runs]]
    assert together == alone and len(alone[0]) == 40 and engine.rows_stepped > engine.steps  # rows shared steps
    scores = score_text(lm, "abcde abcde")
    assert scores["n_chars"] == 10 and 0 < scores["bpc"] < 10
    loss, _ = model.train()(torch.tensor([[1, 2, 3]]), None, targets=torch.tensor([[2, 3, 4]]))
    loss.backward()
    assert model.head.weight.grad is not None
