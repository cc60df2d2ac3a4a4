"""Fast top-k/top-p: the same kept set and weights as the full-sort filter, on many random distributions."""

import itertools

import pytest
import torch

from charlm.generation.filtering import filter_dense, filter_top, sample_top


def reference_filter(logits, temperature, top_k, top_p):
    """The sampler's original ``_filter_logits`` as of commit 1edcb7e (copied, so this test outlives any rewrite)."""
    logits = logits.float() / temperature
    if top_k and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[..., -1, None]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0.0 < top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        drop = probs.cumsum(-1) - probs > top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def filter_logits(logits, temperature, top_k, top_p, candidates=None):
    """``filter_top``'s kept tokens scattered back to full size (-inf elsewhere), to compare with the references."""
    kw = {} if candidates is None else {"candidates": candidates}
    vals, ids = filter_top(logits, temperature, top_k, top_p, **kw)
    return torch.full(logits.shape, float("-inf")).scatter(-1, ids, vals)


def references():
    """The frozen copy, and the production full-sort filter (which must stay equal to it)."""
    return [reference_filter, lambda logits, T, k, p: filter_dense(logits.float() / T, k, p)]


SETTINGS = list(itertools.product((0.8, 1.0, 1.3), (0, 1, 40), (1.0, 0.99, 0.9, 0.5)))


@pytest.mark.parametrize("V", [66, 6258])
@pytest.mark.parametrize("seed", range(20))
def test_identical_nucleus_on_random_logits(V, seed):
    gen = torch.Generator().manual_seed(seed)
    scale = (0.3, 1.0, 3.0, 8.0)[seed % 4]  # flat to peaked: flat rows take the full-sort fallback
    logits = torch.randn(V, generator=gen) * scale
    logits[0] = float("-inf")  # as the sampler masks the unknown id
    for (T, k, p), ref in itertools.product(SETTINGS, references()):
        want = ref(logits, T, k, p)
        got = filter_logits(logits, T, k, p)
        assert torch.equal(got.isinf(), want.isinf()), (T, k, p)  # the same kept set
        assert torch.equal(got[~got.isinf()], want[~want.isinf()])  # with the same (scaled) logits
        vals, ids = filter_top(logits, T, k, p)
        kept = ~vals.isinf()
        assert set(ids[kept].tolist()) == set(torch.nonzero(~want.isinf()).flatten().tolist())


def test_batched_rows_mixing_the_fast_path_and_the_fallback():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 6258, generator=gen) * torch.tensor([[8.0], [0.05], [3.0], [1.0], [0.01], [5.0]])
    for T, k, p in SETTINGS:
        want = reference_filter(logits, T, k, p)
        got = filter_logits(logits, T, k, p)
        assert torch.equal(got.isinf(), want.isinf()) and torch.equal(got[~got.isinf()], want[~want.isinf()])
    vals, ids = filter_top(logits, 1.0, 0, 0.9)
    assert vals.shape[0] == 6 and vals.shape[1] > 1024  # the flat rows' nucleus is bigger than the candidates


def test_ties_at_the_k_th_value_are_all_kept():
    logits = torch.zeros(3000)
    logits[:5] = 2.0  # k = 3 cuts inside a tie of five
    logits[5:2000] = 1.0  # k = 10 cuts inside a tie running past the 1,024 candidates
    for k, p in ((3, 1.0), (10, 1.0), (10, 0.999), (2500, 1.0)):
        want = reference_filter(logits, 1.0, k, p)
        got = filter_logits(logits, 1.0, k, p)
        assert torch.equal(got.isinf(), want.isinf()), k


def test_unfiltered_and_forced_rows():
    logits = torch.randn(2, 100)
    vals, ids = filter_top(logits, 2.0)
    assert torch.equal(vals, logits / 2.0) and torch.equal(ids[1], torch.arange(100))
    only = torch.full((500,), float("-inf"))
    only[7] = 0.0  # a constrained position: one allowed id
    assert int(sample_top(only, 0.8, 40, 0.9)) == 7
    assert filter_top(only, 0.8, 0, 0.9)[1].tolist() == [7]
    with pytest.raises(ValueError, match="temperature"):
        filter_top(logits, 0.0)


def test_samples_follow_the_filtered_distribution(one_thread):
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(6258, generator=gen) * 3
    probs = torch.softmax(reference_filter(logits, 0.8, 0, 0.9), -1)
    draws = torch.stack([sample_top(logits, 0.8, 0, 0.9, generator=gen) for _ in range(4000)])
    counts = torch.bincount(draws, minlength=6258).float()
    assert bool((counts[probs == 0] == 0).all())  # never outside the nucleus
    top = probs.argsort(descending=True)[:5]  # the most likely tokens come up as often as they should
    torch.testing.assert_close(counts[top] / 4000, probs[top], atol=0.03, rtol=0)
    assert sample_top(logits.expand(3, -1), 0.0).tolist() == [int(logits.argmax())] * 3  # temperature 0: greedy
    probs_k = torch.softmax(reference_filter(logits, 0.8, 40, 0.9), -1)
    batch = sample_top(logits.expand(400, -1), 0.8, 40, 0.9, generator=gen)  # 400 rows at once
    assert batch.shape == (400,) and bool((probs_k[batch] > 0).all())
    assert len(set(batch.tolist())) > 5  # rows draw independently


def test_masked_rows_stay_on_the_fast_path_and_in_the_mask():
    """A decoding constraint leaves most of the row at -inf; top-k larger than what is allowed must still work."""
    gen = torch.Generator().manual_seed(3)
    logits = torch.full((6258,), float("-inf"))
    allowed = torch.randperm(6258, generator=gen)[:30]
    logits[allowed] = torch.randn(30, generator=gen)
    for k, p in ((40, 1.0), (40, 0.9), (0, 0.9), (10, 0.5)):
        want = reference_filter(logits, 0.8, k, p)
        got = filter_logits(logits, 0.8, k, p)
        assert torch.equal(got.isinf(), want.isinf())
        draws = sample_top(logits.expand(50, -1), 0.8, k, p, generator=gen)
        assert set(draws.tolist()) <= set(allowed.tolist())
