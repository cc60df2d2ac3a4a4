"""The GPT switches of issue 20 (ReLU², QK-norm, zero-initialised projections, logit soft-cap, value embeddings):
each changes the model it should, decodes like its own full forward pass, and a config at the defaults is today's
model."""

import json

import pytest
import torch

from charlm.inspection.attention import attention_maps
from charlm.models import GPT_SWITCHES, ModelConfig, build_model, config_parameters, count_parameters
from charlm.storage.checkpoint import load_checkpoint, save_checkpoint
from charlm.vocab import CharVocab
from tests.helpers import TINY

SWITCHED = {"mlp": "relu2", "qk_norm": True, "zero_init": True, "logit_cap": 3.0, "value_embeds": True}


def make(**kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="gpt", vocab_size=23, **{**TINY["gpt"], **kw})).eval()


def test_defaults_are_the_old_model():
    """Every switch at its default builds the very same weights and outputs as a config that never heard of them."""
    old, new = make(), make(**GPT_SWITCHES)
    for (name, a), b in zip(old.state_dict().items(), new.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not set(GPT_SWITCHES) & set(ModelConfig(arch="gpt").to_json())  # saved as before issue 20


@pytest.mark.parametrize("switch", list(SWITCHED))
def test_each_switch_changes_the_output(switch):
    idx = torch.randint(1, 23, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        base, _ = make()(idx)
        changed, _ = make(**{switch: SWITCHED[switch]})(idx)
    assert (base - changed).abs().max() > 1e-4, switch


def test_switches_behave_as_documented():
    idx = torch.randint(1, 23, (2, 16), generator=torch.Generator().manual_seed(1))
    capped = make(logit_cap=0.5)
    with torch.no_grad():
        logits, _ = capped(idx)
    assert logits.abs().max() <= 0.5
    assert capped.lm_head.weight.data_ptr() == capped.wte.weight.data_ptr()  # still tied
    zero = make(zero_init=True)
    assert all(b.attn.c_proj.weight.abs().max() == 0 and b.mlp.c_proj.weight.abs().max() == 0 for b in zero.blocks)
    assert torch.equal(zero.blocks[0].mlp.c_fc.weight, make().blocks[0].mlp.c_fc.weight)  # the same draws elsewhere
    normed = make(qk_norm=True)
    q, k, _ = normed.blocks[0].attn.qkv(torch.randn(2, 5, 32) * 10)
    assert torch.allclose(q.pow(2).mean(-1), torch.ones(2, 4, 5), atol=1e-3)
    assert torch.allclose(k.pow(2).mean(-1), torch.ones(2, 4, 5), atol=1e-3)
    ve = make(value_embeds=True)
    assert [tuple(t.weight.shape) for t in ve.value_embeds] == [(23, 32)] * 2  # one vocab x width table per layer
    base = dict(make().named_parameters())
    assert all(torch.equal(p, base[n]) for n, p in ve.named_parameters() if not n.startswith("value_embeds"))
    x, idx = torch.randn(2, 5, 32), torch.randint(1, 23, (2, 5))
    _, _, v = ve.blocks[1].attn.qkv(x, ve.value_embeds[1](idx))
    _, _, v0 = ve.blocks[1].attn.qkv(x)
    assert torch.allclose(v - v0, ve.value_embeds[1](idx).view(2, 5, 4, 8).transpose(1, 2))
    relu = make(mlp="relu2").blocks[0].mlp
    x = torch.randn(3, 32)
    assert torch.allclose(relu(x), relu.c_proj(torch.relu(relu.c_fc(x)) ** 2))


def test_switched_model_decodes_like_its_forward_and_attention_maps_rebuild_it():
    """The KV cache, decode_step and the Inspect tab's attention maps all apply QK-norm, ReLU², the cap and the value
    embeddings."""
    model = make(**SWITCHED)
    for p in model.parameters():  # zero-init would make every block the identity: give them some weights
        torch.nn.init.normal_(p, std=0.2)
    idx = torch.randint(1, 23, (1, 20), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full, _ = model(idx)
        state = model.init_state(1)
        steps = [model(idx[:, t : t + 1], state)[0] for t in range(20)]
        cache = model.init_state(1)
        decoded = [model.decode_step(idx[:, t], cache, torch.tensor([t]))[0] for t in range(20)]
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    assert torch.allclose(torch.stack(decoded, 1), full, atol=1e-5)
    assert attention_maps(model, idx[0].tolist()).max_error < 1e-5


def test_switches_are_saved_and_loaded(tmp_path):
    cfg = ModelConfig(arch="gpt", vocab_size=23, **TINY["gpt"], **SWITCHED)
    model = make(**SWITCHED)
    vocab = CharVocab(list("abcdefghijklmnopqrstuv"))
    save_checkpoint(tmp_path / "m", model, vocab, cfg, {})
    saved = json.loads((tmp_path / "m" / "config.json").read_text())["model"]
    assert {k: saved[k] for k in SWITCHED} == SWITCHED
    loaded = load_checkpoint(tmp_path / "m")
    assert loaded.config == cfg
    idx = torch.randint(1, 23, (1, 10), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(loaded.model(idx)[0], model(idx)[0])
    assert config_parameters(cfg) == count_parameters(model)  # the value embeddings counted before building


def test_switch_validation():
    for bad, match in [({"mlp": "swish"}, "mlp must be one of"), ({"qk_norm": 1}, "qk_norm must be true or false"),
                       ({"logit_cap": -1.0}, "logit_cap must be a number"), ({"logit_cap": True}, "logit_cap"),
                       ({"zero_init": "yes"}, "zero_init must be"),
                       ({"value_embeds": 1}, "value_embeds must be true or false")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            ModelConfig(arch="gpt", **bad)
    with pytest.raises(ValueError, match="qk_norm belong to the GPT, not a gru model"):
        ModelConfig(arch="gru", qk_norm=True)
    assert ModelConfig(arch="gru", **GPT_SWITCHES).to_json() == ModelConfig(arch="gru").to_json()


def test_cli_flags_set_the_switches():
    import argparse

    from charlm.cli.train import _model_config, add_parser
    from charlm.errors import CharlmError

    def parse(*argv):
        parser = argparse.ArgumentParser()
        add_parser(parser.add_subparsers())
        args = parser.parse_args(["train", "--data", "x.txt", "--out", "o", "--size", "tiny", *argv])
        return _model_config(args, 23)

    assert {k: getattr(parse("--arch", "gpt"), k) for k in GPT_SWITCHES} == GPT_SWITCHES
    cfg = parse("--arch", "gpt", "--mlp", "relu2", "--qk-norm", "--zero-init", "--logit-cap", "3", "--value-embeds")
    assert {k: getattr(cfg, k) for k in SWITCHED} == SWITCHED
    with pytest.raises(CharlmError, match="qk_norm belong to the GPT"):
        parse("--arch", "lstm", "--qk-norm")
