"""Batched decoding (charlm.generation.batched): alone it matches charlm.generation.sample exactly; batched rows
get the same next-character distribution; a cancelled request leaves the batch at once."""

from __future__ import annotations

import pytest
import torch

from charlm.errors import SamplingError
from charlm.generation.batched import DecodingEngine, engine_for, generate_batched
from charlm.generation.sample import generate, sample_ids
from charlm.generation.settings import Sampling
from charlm.models import ModelConfig, build_model
from charlm.storage.checkpoint import LoadedModel
from charlm.vocab import CharVocab
from tests.helpers import ARCHS, TINY, shakespeare_slice

VOCAB = CharVocab.from_chars("abcdefghijklmnopqrstuvwxyz .,\n:")


def tiny(arch: str) -> LoadedModel:
    torch.manual_seed(0)
    cfg = ModelConfig(arch=arch, vocab_size=VOCAB.size, **TINY[arch])
    return LoadedModel(model=build_model(cfg).eval(), vocab=VOCAB, config=cfg)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize(
    "settings",
    [dict(seed=1), dict(seed=2, temperature=1.3, top_k=5), dict(seed=3, top_p=0.7), dict(temperature=0.0)],
)
def test_a_request_alone_gives_exactly_the_samplers_text(arch, settings):
    lm = tiny(arch)  # block 32: 90 new characters slide the GPT's window several times
    for prompt in ("", "to be or not", "x" * 50):
        want = "".join(generate(lm, prompt, Sampling(max_new_chars=90, **settings)))
        assert "".join(generate_batched(lm, prompt, Sampling(max_new_chars=90, **settings))) == want


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_stop_strings_and_lengths_match_the_sampler(arch):
    lm = tiny(arch)
    for stop in (["e"], ["th", "\n"], ["zzz"]):
        want = list(generate(lm, "the ", Sampling(max_new_chars=40, seed=5, stop=stop)))
        assert list(generate_batched(lm, "the ", Sampling(max_new_chars=40, seed=5, stop=stop))) == want
    assert list(generate_batched(lm, "the ", Sampling(max_new_chars=0, seed=5))) == []


@pytest.mark.parametrize("arch", ARCHS)
def test_batched_rows_get_the_same_next_character_probabilities(arch):
    """decode_step on 4 rows at different positions vs each row alone through the model's own forward."""
    model = tiny(arch).model
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(1, VOCAB.size, (n,), generator=g).tolist() for n in (1, 7, 20, 13)]
    feeds = torch.randint(1, VOCAB.size, (4, 10), generator=g)  # 20 + 10 > block 32 - 1? no: stays in the window
    with torch.inference_mode():
        alone = [model(torch.tensor([p + feeds[r].tolist()]), model.init_state(1))[0][0, len(p) :]
                 for r, p in enumerate(prompts)]  # fmt: skip
        if arch == "gpt":
            cache = model.init_state(4)
            for r, p in enumerate(prompts):  # pre-fill each row alone, then copy its cache into the batch
                st = model.init_state(1)
                model(torch.tensor([p]), st)
                cache.k[:, r, :, : len(p)] = st.k[:, 0, :, : len(p)]
                cache.v[:, r, :, : len(p)] = st.v[:, 0, :, : len(p)]
            pos = torch.tensor([len(p) for p in prompts])
            rows = [model.decode_step(feeds[:, j], cache, pos + j)[0] for j in range(feeds.shape[1])]
        else:
            states = [model(torch.tensor([p]))[1] for p in prompts]
            if arch == "lstm":
                state = tuple(torch.cat(s, 1) for s in zip(*states, strict=True))
            else:
                state = torch.cat(states, 1)
            rows = []
            for j in range(feeds.shape[1]):
                logits, state = model.decode_step(feeds[:, j], state, None)
                rows.append(logits)
    batched = torch.stack(rows, 1)  # (4 rows, 10 steps, vocab)
    for r in range(4):
        assert torch.allclose(batched[r].softmax(-1), alone[r].softmax(-1), atol=1e-5)


@pytest.mark.parametrize("arch,background", [("gpt", True), ("gru", True), ("gpt", False), ("lstm", False)])
def test_requests_decoded_together_match_their_texts_alone(arch, background):
    lm = tiny(arch)
    engine = DecodingEngine(lm.model, capacity=3, background=background)  # 5 requests, 3 rows: two wait
    prompts = ["", "a", "to be or not", "the king, the", "x" * 45]
    with engine._cond:  # all five are queued before the loop admits any: a fixed batch mix
        reqs = [engine.submit(VOCAB, p, Sampling(max_new_chars=30 + 7 * i, seed=i)) for i, p in enumerate(prompts)]
    got = [VOCAB.decode(list(r.ids())) for r in reqs]
    want = [VOCAB.decode(sample_ids(lm.model, VOCAB, p, Sampling(max_new_chars=30 + 7 * i, seed=i))) for i, p in
            enumerate(prompts)]  # fmt: skip
    assert got == want
    assert engine.rows_stepped > engine.steps  # rows really were stepped together


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_a_cancelled_request_leaves_the_batch_at_once(arch):
    lm = tiny(arch)
    engine = DecodingEngine(lm.model, capacity=4)
    with engine._cond:
        quitter = engine.submit(VOCAB, "the ", Sampling(max_new_chars=100_000, seed=1))
        stayer = engine.submit(VOCAB, "a ", Sampling(max_new_chars=300, seed=2))
    ids = quitter.ids()
    first = [next(ids) for _ in range(5)]
    ids.close()  # the caller stops listening (Stop button, closed tab)
    assert quitter.left.wait(10)
    assert quitter.generated < 100_000 and len(first) == 5
    # the other row moved or stayed, and its text is untouched by the leaving row
    alone = sample_ids(lm.model, VOCAB, "a ", Sampling(max_new_chars=300, seed=2))
    assert VOCAB.decode(list(stayer.ids())) == VOCAB.decode(alone)
    assert stayer.left.wait(10)


def test_shared_engine_per_model_and_errors_reach_the_caller():
    lm = tiny("gpt")
    assert engine_for(lm.model) is engine_for(lm.model)
    engine = DecodingEngine(lm.model)
    with pytest.raises(SamplingError, match="top-p"):
        engine.submit(VOCAB, "a", Sampling(top_p=0.0))
    bad = engine.submit(VOCAB, [VOCAB.size + 5], Sampling(max_new_chars=3))  # an id outside the vocabulary
    with pytest.raises(IndexError):
        list(bad.ids())
    assert "".join(generate_batched(lm, "to", Sampling(max_new_chars=5, seed=1))) == "".join(
        generate(lm, "to", Sampling(max_new_chars=5, seed=1))
    )  # the model's engine still serves after a failed request


@pytest.mark.slow
def test_shipped_gpt_alone_and_batched_matches_the_sampler():
    from charlm.storage.checkpoint import load_checkpoint
    from tests.helpers import REPO

    lm = load_checkpoint(REPO / "checkpoints" / "shakespeare-gpt")
    prompt = shakespeare_slice(2_000)[-300:]
    engine = DecodingEngine(lm.model, capacity=4)
    with engine._cond:
        reqs = [engine.submit(lm.vocab, prompt[: 100 * (i + 1)], Sampling(max_new_chars=150, seed=i)) for i in range(3)]
    for i, r in enumerate(reqs):
        want = "".join(generate(lm, prompt[: 100 * (i + 1)], Sampling(max_new_chars=150, seed=i)))
        assert lm.vocab.decode(list(r.ids())) == want


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_int8_request_alone_matches_the_int8_sampler(arch):
    """The app chats with int8 copies: decoded alone, a seeded reply is the text charlm.generation.sample gives."""
    from charlm.models.quantize import quantize_for_cpu

    lm = quantize_for_cpu(tiny(arch))
    for seed in (1, 2):
        want = "".join(generate(lm, "to be or not to be", Sampling(max_new_chars=80, seed=seed)))
        assert "".join(generate_batched(lm, "to be or not to be", Sampling(max_new_chars=80, seed=seed))) == want


def test_one_character_requests_beyond_capacity_all_finish():
    lm = tiny("gpt")
    engine = DecodingEngine(lm.model, capacity=2, background=False)  # joiners finish at once; others still wait
    reqs = [engine.submit(VOCAB, "ab", Sampling(max_new_chars=1, seed=i)) for i in range(5)]
    assert [len(list(r.ids())) for r in reqs] == [1] * 5


@pytest.mark.parametrize("arch,rows", [("gpt", 32), ("gpt", 64), ("lstm", 64), ("gru", 32)])
def test_a_full_class_of_rows_matches_each_text_alone(arch, rows):
    """Issue 22's batch sizes: 32 and 64 rows at once (plus 3 waiting), mixed settings (greedy, top-k, top-p rows
    drawn one by one beside the rows drawn together), GPT windows sliding mid-batch: every text is its own."""
    lm = tiny(arch)
    engine = DecodingEngine(lm.model, capacity=rows, background=False)
    kinds = [dict(), dict(temperature=0.0), dict(temperature=1.3), dict(top_k=4), dict(top_p=0.8), dict()]
    runs = [(("the king, " * 5)[: (7 * i) % 45], Sampling(max_new_chars=4 + (i * 5) % 19, seed=i, **kinds[i % 6]))
            for i in range(rows + 3)]  # fmt: skip
    reqs = [engine.submit(VOCAB, p, s) for p, s in runs]
    got = [VOCAB.decode(list(r.ids())) for r in reqs]
    assert got == [VOCAB.decode(sample_ids(lm.model, VOCAB, p, s)) for p, s in runs]
    assert engine.rows_stepped >= engine.steps * rows // 2  # most steps really carried a full class


def test_pick_many_draws_what_pick_next_draws_row_by_row():
    from charlm.generation.sample import pick_many, pick_next

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, VOCAB.size, generator=g) * 3
    settings = [Sampling(temperature=(0.0, 0.8, 1.7, 0.3)[i % 4]) for i in range(40)]
    one = [pick_next(logits[i].clone(), s, torch.Generator().manual_seed(i)) for i, s in enumerate(settings)]
    many = pick_many(logits.clone(), settings, [torch.Generator().manual_seed(i) for i in range(40)])
    assert many == one
    assert len(set(many)) > 5  # (not all greedy picks)


def test_streaming_in_chunks_reads_everything_that_came_and_keeps_the_text():
    lm = tiny("gpt")
    s = Sampling(max_new_chars=120, seed=4)
    req = DecodingEngine(lm.model, capacity=4).submit(VOCAB, "to be", s)
    chunks = req.chunks(every=0.01)
    first = next(chunks)
    assert req.left.wait(10)  # the whole reply is queued: the next read takes all of it at once
    rest = list(chunks)
    assert len(rest) == 1 and VOCAB.decode(first + rest[0]) == VOCAB.decode(sample_ids(lm.model, VOCAB, "to be", s))
    for stop in ((), ("e",), ("th", "\n")):  # time-paced pieces, stop strings held back across pieces: same text
        s = Sampling(max_new_chars=150, seed=2, stop=stop)
        assert "".join(generate_batched(lm, "the ", s, every=0.002)) == "".join(generate(lm, "the ", s))


def test_an_update_budget_spaces_every_live_replys_pieces_and_keeps_the_text(monkeypatch):
    """``chunks(every, updates_per_s)``: with 4 requests live and 20 updates a second for all of them, a reply is
    read every 4 / 20 = 0.2 s (not every ``every``), and its text is unchanged."""
    import time
    from types import SimpleNamespace

    import charlm.generation.batched as batched

    waits = []  # the engine's pauses, recorded instead of slept (in this module only: other threads still sleep)
    monkeypatch.setattr(batched, "time", SimpleNamespace(perf_counter=time.perf_counter, sleep=waits.append))
    lm = tiny("gpt")
    engine = DecodingEngine(lm.model, capacity=4)
    runs = [Sampling(max_new_chars=60, seed=i) for i in range(4)]
    with engine._cond:  # all four join before the first step
        reqs = [engine.submit(VOCAB, "to be", s) for s in runs]
    assert engine.live() == 4
    text = VOCAB.decode([i for chunk in reqs[0].chunks(every=0.001, updates_per_s=20) for i in chunk])
    assert text == VOCAB.decode(list(sample_ids(lm.model, VOCAB, "to be", runs[0])))
    assert waits and max(waits) > 0.1  # paced by the budget (0.2 s minus the time since the last read)
    for r in reqs[1:]:
        r.cancel()
        assert r.left.wait(10)
    waits.clear()
    one = engine.submit(VOCAB, "to be", runs[1])
    for _ in one.chunks(every=0.001, updates_per_s=20):
        pass
    assert all(w <= 0.05 + 1e-9 for w in waits)  # alone (1 / 20 s at most): close to ``every`` again


@pytest.mark.parametrize(
    "switches",
    [{}, {"qk_norm": True, "mlp": "relu2"}, {"value_embeds": True, "logit_cap": 15.0}, {"bias": True}],
)
@pytest.mark.parametrize("int8", [False, True])
def test_the_one_row_gpt_step_is_forward_bit_for_bit(switches, int8):
    """``GPT._decode_one`` (plain function calls) gives exactly ``forward``'s logits and cache, position by position,
    for every model switch, fp32 and int8: the speed-up changes no text."""
    from charlm.models.quantize import quantize_for_cpu

    torch.manual_seed(0)
    cfg = ModelConfig(arch="gpt", vocab_size=VOCAB.size, **(TINY["gpt"] | switches))
    lm = LoadedModel(model=build_model(cfg).eval(), vocab=VOCAB, config=cfg)
    model = (quantize_for_cpu(lm) if int8 else lm).model
    ids = VOCAB.encode("to be or not to be, that is the question").ids
    with torch.inference_mode():
        ref, fast = model.init_state(1), model.init_state(1)
        model(torch.tensor([ids[:5]]), ref)
        model(torch.tensor([ids[:5]]), fast)
        for p, nxt in enumerate(ids[5:20], start=5):
            want, _ = model(torch.tensor([[nxt]]), ref)
            got, _ = model.decode_step(torch.tensor([nxt]), fast, torch.tensor([p]))
            assert torch.equal(got, want[:, -1]), f"position {p}"
        assert torch.equal(fast.k[:, :, :, :20], ref.k[:, :, :, :20])


def test_linear_calls_the_modules_own_kernel():
    """``models.base.linear`` is ``module(x)`` exactly: float with and without a bias, dynamic int8, and any other
    module (a capped head) simply called."""
    from torch import nn

    from charlm.models.base import linear
    from charlm.models.gpt import CappedLinear
    from charlm.models.quantize import quantize_for_cpu

    torch.manual_seed(0)
    x = torch.randn(3, 16)
    mods = [nn.Linear(16, 8), nn.Linear(16, 8, bias=False), CappedLinear(16, 8, cap=2.0)]
    cfg = ModelConfig(arch="gpt", vocab_size=VOCAB.size, **TINY["gpt"])
    q = quantize_for_cpu(LoadedModel(model=build_model(cfg).eval(), vocab=VOCAB, config=cfg)).model
    mods.append(q.blocks[0].mlp.c_fc)
    assert type(mods[-1]).__name__ == "Linear" and type(mods[-1]) is not nn.Linear  # the int8 module
    x_q = torch.randn(3, mods[-1].in_features)
    with torch.inference_mode():
        for mod in mods:
            inp = x_q if mod is mods[-1] else x
            assert torch.equal(linear(mod, inp), mod(inp))
