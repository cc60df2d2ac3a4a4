"""The large-vocabulary output layer: exact log-probabilities, the fast loss, the unigram start, the threshold."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from charlm.corpora import POEMS, builtin_text
from charlm.data import build_corpus, get_batch
from charlm.models import ModelConfig, build_model
from charlm.models.output import (
    AdaptiveHead,
    adaptive_parameters,
    adaptive_problems,
    choose_cutoffs,
    count_ids,
    frequency_order,
    head_loss,
    init_unigram_bias_,
    unigram_log_prior,
    use_adaptive,
)
from charlm.optim import make_optimizer
from tests.helpers import TINY


@pytest.fixture(scope="module")
def poems():
    corpus = build_corpus(builtin_text(POEMS), name=POEMS)
    train_ids, _ = corpus.split()
    return corpus, train_ids, count_ids(train_ids, corpus.vocab.size)


def small_head(seed=0, V=300, H=32):
    """A head over V ids whose frequency order is a random permutation (so a wrong mapping cannot pass)."""
    gen = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, 1000, (V,), generator=gen).numpy() ** 2
    torch.manual_seed(seed)
    return AdaptiveHead(H, V, frequency_order(counts), [20, 100], div_value=2.0), counts


@pytest.mark.parametrize("seed", range(5))
def test_log_probs_are_normalised_in_vocabulary_order(seed):
    head, _ = small_head(seed)
    h = torch.randn(3, 5, 32) * 3
    logp = head(h)
    assert logp.shape == (3, 5, 300)
    torch.testing.assert_close(logp.logsumexp(-1), torch.zeros(3, 5), atol=1e-5, rtol=0)
    # vocabulary id v holds the adaptive softmax's column rank[v]
    by_rank = head.asm.log_prob(h.reshape(-1, 32))
    for v in (0, 7, 150, 299):
        torch.testing.assert_close(logp.reshape(-1, 300)[:, v], by_rank[:, int(head.rank[v])])
    # F.cross_entropy over log-probs is the plain NLL: scoring code can treat them as logits
    t = torch.randint(0, 300, (15,))
    torch.testing.assert_close(F.cross_entropy(logp.reshape(-1, 300), t), F.nll_loss(logp.reshape(-1, 300), t))


@pytest.mark.parametrize("seed", range(5))
def test_loss_equals_minus_log_prob_of_the_targets(seed):
    head, _ = small_head(seed)
    h = torch.randn(4, 9, 32, requires_grad=True)
    targets = torch.randint(0, 300, (4, 9), generator=torch.Generator().manual_seed(seed))
    fast = head.loss(h, targets)
    exact = -head(h).gather(-1, targets[..., None]).mean()
    torch.testing.assert_close(fast, exact, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(head_loss(head, h, targets), fast)
    g_fast = torch.autograd.grad(fast, h)[0]
    g_exact = torch.autograd.grad(exact, h)[0]
    torch.testing.assert_close(g_fast, g_exact, atol=1e-5, rtol=1e-4)  # the same gradient, computed cheaper


@pytest.mark.parametrize("seed", range(4))
def test_score_gives_the_exact_nll_and_top_k_without_the_full_distribution(seed):
    head, counts = small_head(seed)
    if seed % 2:  # a unigram start makes the clusters likely: the top-k must expand them
        init_unigram_bias_(head, counts)
    h = torch.randn(64, 32) * (1 + seed)
    targets = torch.randint(0, 300, (64,), generator=torch.Generator().manual_seed(seed))
    nll, top = head.score(h, targets, k=5)
    logp = head(h)
    torch.testing.assert_close(nll, -logp.gather(-1, targets[:, None]).squeeze(1), atol=1e-5, rtol=1e-5)
    want = logp.topk(5, dim=-1)
    torch.testing.assert_close(logp.gather(-1, top), want.values)  # the same 5 (ties aside), most likely first
    assert head.score(h, targets, k=0)[1].shape == (64, 0)


def test_plain_head_loss_is_the_trainers_cross_entropy():
    torch.manual_seed(0)
    head, h, t = nn.Linear(16, 50), torch.randn(2, 6, 16), torch.randint(0, 50, (2, 6))
    torch.testing.assert_close(head_loss(head, h, t), F.cross_entropy(head(h).reshape(-1, 50), t.reshape(-1)))


def test_unigram_bias_starts_both_heads_at_the_unigram():
    head, counts = small_head(1)
    logp = unigram_log_prior(counts)
    assert math.isclose(float(logp.exp().sum()), 1.0, rel_tol=1e-5) and torch.isfinite(logp).all()
    init_unigram_bias_(head, counts)
    for p in head.asm.parameters():  # weights zero: only the bias speaks
        if p.dim() == 2:
            p.data.zero_()
    out = head(torch.randn(2, 32))[0]
    shortlist = head.order[:20]
    torch.testing.assert_close(out[shortlist], logp[shortlist])  # frequent ids: exactly the unigram
    for a, b in ((20, 100), (100, 300)):  # rarer ids: their cluster's total mass, spread evenly inside it
        members = head.order[a:b]
        torch.testing.assert_close(out[members].logsumexp(0), logp[members].logsumexp(0), atol=1e-5, rtol=0)
    linear = nn.Linear(32, 300)
    init_unigram_bias_(linear, counts)
    torch.testing.assert_close(F.log_softmax(linear.bias, -1), logp)
    with pytest.raises(ValueError, match="no output bias"):
        init_unigram_bias_(nn.Linear(32, 300, bias=False), counts)


def test_frequency_order_and_cutoffs_on_the_poems(poems):
    corpus, _, counts = poems
    order = frequency_order(counts)
    assert corpus.vocab.decode(order[:2]) == "，。" and sorted(order) == list(range(corpus.vocab.size))
    assert counts[0] == 0  # the unknown id never occurs in training
    cut = choose_cutoffs(counts)
    assert len(cut) == 2 and 400 < cut[0] < 600 and 1500 < cut[1] < 2500 and all(c % 8 == 0 for c in cut)
    ranked = np.sort(counts)[::-1]
    assert ranked[: cut[0]].sum() / ranked.sum() >= 0.75 and ranked[: cut[1]].sum() / ranked.sum() >= 0.95


def test_threshold_settings_checks_and_parameter_count():
    assert not use_adaptive(66) and not use_adaptive(1024) and use_adaptive(6258)
    order = list(range(100))
    assert adaptive_problems(32, 100, order, [10, 50]) == []
    assert "exactly once" in adaptive_problems(32, 100, [0] * 100, [10, 50])[0]
    assert "cutoffs" in adaptive_problems(32, 100, order, [50, 10])[0]
    assert "cutoffs" in adaptive_problems(32, 100, order, [10, 100])[0]
    assert "width" in adaptive_problems(8, 100, order, [10, 50], div_value=4.0)[0]
    with pytest.raises(ValueError, match="exactly once"):
        AdaptiveHead(32, 100, list(range(99)) + [0], [10, 50])
    for H, V, cut in ((32, 100, [10, 50]), (256, 6258, [488, 1960]), (128, 3000, [100])):
        head = AdaptiveHead(H, V, list(range(V)), cut)
        assert adaptive_parameters(H, V, cut) == sum(p.numel() for p in head.parameters())
    assert list(AdaptiveHead(32, 100, order, [10, 50]).state_dict()) == [
        "asm.head.weight", "asm.head.bias", "asm.tail.0.0.weight", "asm.tail.0.1.weight", "asm.tail.1.0.weight",
        "asm.tail.1.1.weight"]  # fmt: skip  # only weights: the order lives in the config


def test_int8_dynamic_quantization_keeps_the_distribution():
    head, _ = small_head(2, V=2000, H=64)
    head.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        q = quantize_dynamic(head, {nn.Linear}, dtype=torch.qint8)
    h = torch.randn(8, 64)
    with torch.no_grad():
        p, pq = head(h).exp(), q(h).exp()
    assert float((p - pq).abs().sum(-1).max()) < 0.05  # total variation, per row


@pytest.mark.parametrize("arch", ["gru", "gpt"])
def test_a_body_with_the_adaptive_head_trains_from_the_unigram(poems, arch, one_thread):
    """What phase 2 wires into the models: the body's hidden states -> AdaptiveHead, fast loss, unigram start."""
    corpus, train_ids, counts = poems
    V = corpus.vocab.size
    config = ModelConfig(arch=arch, vocab_size=V, **TINY[arch])
    torch.manual_seed(0)
    body = build_model(config)
    width = config.n_embd if arch == "gpt" else config.hidden_size
    if arch == "gpt":
        body.lm_head = nn.Identity()  # the model now returns its final hidden states
    else:
        body.head = nn.Identity()
    head = AdaptiveHead(width, V, frequency_order(counts), choose_cutoffs(counts))
    init_unigram_bias_(head, counts)
    model = nn.ModuleDict({"body": body, "head": head})
    opt = make_optimizer(model, 1e-2, 0.1)
    gen = torch.Generator().manual_seed(0)
    unigram = float(-(unigram_log_prior(counts) * torch.from_numpy(counts / counts.sum())).sum())
    losses = []
    for _ in range(30):
        x, y = get_batch(train_ids, 8, config.block_size, gen)
        loss = head.loss(body(x)[0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert abs(losses[0] - unigram) < 0.5 < math.log(V) - losses[0]  # starts at the unigram (6.45), not 8.74
    assert np.mean(losses[-5:]) < losses[0] - 0.2
