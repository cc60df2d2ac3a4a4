"""The output layer: from a hidden vector to a distribution over the vocabulary -- and what to do when it is big.

A character model's output layer is a matrix of hidden_size x vocab_size. For English (66 characters) it costs next
to nothing. For Chinese it dominates: on the built-in poems (6,258 ids) the plain head of a GRU "small" is 1.6 M of
its 2.65 M parameters and about 75% of each training step -- a 256 x 6,258 matmul forward, two more of the same
size backward, and a softmax over 6,258 classes for every token (measured in bench/bench_vocab.py). Two things fix
it, and this module holds both:

1. An adaptive softmax (Grave et al., 2017, "Efficient softmax approximation for GPUs"; torch ships it as
   ``nn.AdaptiveLogSoftmaxWithLoss``). Text is Zipfian: on the poems the 500 most frequent characters cover 76% of
   the text and the top 2,000 cover 95%. So the head scores only the frequent characters plus one entry per
   "cluster" of rarer ones, and a rare character's probability is P(its cluster) x P(it | cluster), where the
   in-cluster distributions come from smaller projections (hidden/4 for the middle cluster, hidden/16 for the rare
   one). For training, only the clusters that hold a batch's targets are computed: ~3x faster steps on the poems.
   For sampling and scoring, ``log_prob`` still gives the exact, normalised distribution over every id.

   It needs the ids sorted by frequency (the head's shortlist is ranks 0..c1-1). charlm's ids are sorted by code
   point and id 0 is the unknown character, so the head keeps a permutation: ``order[r]`` is the vocabulary id of
   frequency rank r (stored in the model's config, so a checkpoint can always rebuild it), and its inverse
   ``rank[id]``. Everything outside this module keeps speaking vocabulary ids.

2. Start the output at the unigram distribution (Karpathy, "A Recipe for Training Neural Networks": init well).
   A fresh head predicts the uniform distribution, ln(6,258) = 8.74 nats, while simply knowing which characters
   are common gives 6.45. Under Adam each bias moves about one learning rate per step, so a short run spends its
   whole budget learning the unigram and samples noise. Setting the output bias to log P(character) on the
   training text (``init_unigram_bias_``) starts the loss at 6.45: in the research's 2-minute GRU run this alone
   took the validation loss from 6.60 to 5.43 (the adaptive softmax on top: 5.04).

When to use which: ``use_adaptive(vocab_size)``. Below ~1,000 ids the plain head is cheap and exact, and an
adaptive one only adds approximation error.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ADAPTIVE_MIN_VOCAB = 1024  # above this many ids the plain head starts to dominate a training step
CLUSTER_SHARES = (0.75, 0.95)  # the shortlist holds ~75% of the text, the middle cluster the next ~20%
DIV_VALUE = 4.0  # each cluster's projection is 4x narrower than the previous one's
# Clusters an adaptive head may have: the trainer makes 1-2; each is its own small matmul per step, so thousands of
# them make every character slow (issue 19: 6,257 one-character clusters, 0.45 s per character).
MAX_CLUSTERS = 16


def use_adaptive(vocab_size: int) -> bool:
    """Whether a model over ``vocab_size`` ids should get the adaptive head (English: no; Chinese: yes)."""
    return vocab_size > ADAPTIVE_MIN_VOCAB


# --- statistics of the training text -------------------------------------------------------------------------------
def count_ids(train_ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """How often each id occurs in the training split (int64, one entry per id; the unknown id 0 counts 0)."""
    return np.bincount(np.asarray(train_ids, dtype=np.int64), minlength=vocab_size)[:vocab_size]


def unigram_log_prior(counts: np.ndarray, smoothing: float = 0.5) -> torch.Tensor:
    """log P(id) from counts, add-``smoothing`` so that characters never seen in training get a finite, small
    log-probability (float32, one entry per id)."""
    c = np.asarray(counts, dtype=np.float64) + smoothing
    return torch.from_numpy(np.log(c / c.sum())).float()


def frequency_order(counts: np.ndarray) -> list[int]:
    """Vocabulary ids from the most to the least frequent; ties keep id order, so the result is deterministic."""
    return np.argsort(-np.asarray(counts, dtype=np.int64), kind="stable").tolist()


def choose_cutoffs(counts: np.ndarray, shares: Sequence[float] = CLUSTER_SHARES) -> list[int]:
    """Cluster boundaries (in frequency ranks): the ranks where the text's cumulative share reaches ``shares``,
    rounded up to a multiple of 8 (matmul-friendly). On the poems: [488, 1960] (the research measured [500, 2000])."""
    c = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    cum = np.cumsum(c) / max(c.sum(), 1.0)
    V, out = len(c), []
    for share in shares:
        r = int(np.searchsorted(cum, share)) + 1
        r = min(-(-r // 8) * 8, V - 1)  # round up to 8, keep at least one id for the last cluster
        if r > (out[-1] if out else 0):
            out.append(r)
    return out or [max(1, V // 2)]


# --- the adaptive head -----------------------------------------------------------------------------------------------
def adaptive_problems(
    in_features: int, vocab_size: int, order: Sequence[int], cutoffs: Sequence[int], div_value: float = DIV_VALUE
) -> list[str]:
    """What is wrong with these settings (empty when they build): checked before building, for configs that come
    from a checkpoint or a user."""
    problems = []
    if len(cutoffs) > MAX_CLUSTERS:  # before anything else: div_value ** 1,199 overflows a float
        problems.append(f"an adaptive head has at most {MAX_CLUSTERS} clusters, not {len(cutoffs):,} cutoffs")
        return problems
    if sorted(order) != list(range(vocab_size)):
        problems.append(f"the head's frequency order must hold each id 0..{vocab_size - 1} exactly once")
    cut = list(cutoffs)
    if not cut or cut != sorted(set(cut)) or cut[0] < 1 or cut[-1] > vocab_size - 1:
        problems.append(f"cutoffs must increase strictly from 1 to at most {vocab_size - 1}, not {cut}")
    if div_value < 1 or int(in_features // div_value ** max(len(cut), 1)) < 1:
        problems.append(f"div_value {div_value} leaves the last cluster's projection of {in_features} with no width")
    return problems


def adaptive_parameters(in_features: int, vocab_size: int, cutoffs: Sequence[int], div_value: float = DIV_VALUE) -> int:
    """Parameters of an AdaptiveHead, in closed form (for size checks before building)."""
    bounds = [*cutoffs, vocab_size]
    head = (in_features + 1) * (bounds[0] + len(cutoffs))  # shortlist + one logit per cluster, with bias
    tails = 0
    for i in range(len(cutoffs)):
        width = int(in_features // div_value ** (i + 1))
        tails += in_features * width + width * (bounds[i + 1] - bounds[i])
    return head + tails


def _fp32(h: torch.Tensor) -> tuple[torch.Tensor, AbstractContextManager]:
    """``h`` as fp32 rows, and a context that turns autocast off: the head always runs in fp32, also inside a bf16
    autocast region. torch's ``AdaptiveLogSoftmaxWithLoss`` writes each cluster's bf16 output into an fp32 buffer
    with ``index_copy_`` and fails on mixed dtypes (issue 17); its matmuls are a small part of a step, and fp32
    keeps the log-probabilities of rare characters exact."""
    return h.reshape(-1, h.shape[-1]).float(), torch.autocast(h.device.type, enabled=False)


class AdaptiveHead(nn.Module):
    """Adaptive softmax over vocabulary ids: ``forward`` gives exact log-probabilities (for sampling and scoring),
    ``loss`` the fast training loss. Both take and give vocabulary ids; the frequency ranks stay inside. All three
    run in fp32 whatever the autocast around them (``_fp32``)."""

    def __init__(
        self,
        in_features: int,
        vocab_size: int,
        order: Sequence[int],
        cutoffs: Sequence[int],
        div_value: float = DIV_VALUE,
    ) -> None:
        super().__init__()
        problems = adaptive_problems(in_features, vocab_size, order, cutoffs, div_value)
        if problems:
            raise ValueError("; ".join(problems))
        self.vocab_size = vocab_size
        self.asm = nn.AdaptiveLogSoftmaxWithLoss(in_features, vocab_size, list(cutoffs), div_value, head_bias=True)
        order_t = torch.tensor(list(order), dtype=torch.long)
        # Not persistent: they are rebuilt from the config, so the checkpoint's tensors are only weights.
        self.register_buffer("order", order_t, persistent=False)  # rank -> vocabulary id
        self.register_buffer("rank", torch.argsort(order_t), persistent=False)  # vocabulary id -> rank

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(..., in_features) -> (..., vocab_size) log-probabilities in vocabulary order. They are normalised, so
        they work wherever logits do: softmax, top-k/top-p, ``F.cross_entropy`` (log_softmax leaves them as is)."""
        x, fp32 = _fp32(h)
        with fp32:
            logp = self.asm.log_prob(x)  # columns in frequency-rank order
        return logp.index_select(1, self.rank).view(*h.shape[:-1], self.vocab_size)

    def loss(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of ``targets`` (vocabulary ids), computing only the clusters that hold
        them: this is where the speed-up comes from. Equals ``-forward(h).gather(targets).mean()``."""
        x, fp32 = _fp32(h)
        with fp32:
            return self.asm(x, self.rank[targets.reshape(-1)]).loss

    @torch.no_grad()
    def score(self, h: torch.Tensor, targets: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
        """What a scorer needs without the full distribution: per-token negative log-likelihood of ``targets`` and
        the ``k`` most likely ids (most likely first), both exact. (N, ...) flattened to N rows; ``k`` 0 skips
        the top-k (loss only: 3-6x cheaper than a plain head's logits, see docs/benchmarks.md).

        Materialising all 6,258 log-probabilities is slower than the plain head (the rare cluster's 16-wide
        projection to 4,298 outputs runs at a low matmul efficiency), so: the NLL comes from the fast loss path,
        and a cluster is expanded for the top-k only in rows where it could hold one -- a member's log-probability
        is at most its cluster's, so a cluster below the shortlist's k-th best cannot enter. (In a trained model
        both clusters usually can: then this costs about what the plain head does.)"""
        x, fp32 = _fp32(h)
        with fp32:
            return self._score(x, targets, k)

    def _score(self, x: torch.Tensor, targets: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        nll = -self.asm(x, self.rank[targets.reshape(-1)]).output
        if k == 0:
            return nll, torch.empty(len(x), 0, dtype=torch.long, device=x.device)
        head = F.log_softmax(self.asm.head(x), dim=-1)
        bounds = self.asm.cutoffs  # [c1, c2, ..., vocab_size]
        k = min(k, bounds[0])
        vals, ranks = head[:, : bounds[0]].topk(k, dim=-1)
        for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            cluster = head[:, bounds[0] + i]
            rows = (cluster > vals[:, -1]).nonzero().flatten()
            if rows.numel() == 0:
                continue
            inside = F.log_softmax(self.asm.tail[i](x[rows]), dim=-1) + cluster[rows, None]
            top_in, at_in = inside.topk(min(k, hi - lo), dim=-1)
            merged_vals, pos = torch.cat([vals[rows], top_in], -1).topk(k, dim=-1)
            vals[rows] = merged_vals
            ranks[rows] = torch.cat([ranks[rows], at_in + lo], -1).gather(-1, pos)
        return nll, self.order[ranks]


# --- the output layer, whichever it is -------------------------------------------------------------------------------
def head_loss(head: nn.Module, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-character loss for either head: the adaptive head's fast loss, or cross-entropy of a plain
    linear head's logits (what the trainer computes today)."""
    if isinstance(head, AdaptiveHead):
        return head.loss(h, targets)
    logits = head(h)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))


@torch.no_grad()
def init_unigram_bias_(head: nn.Module, counts: np.ndarray) -> None:
    """Start ``head`` at the training text's unigram distribution (module docstring, point 2).

    A plain ``nn.Linear`` gets bias = log P(id). The adaptive head gets its shortlist's log P(id) and, for each
    cluster, log P(cluster) = logsumexp of its members; the in-cluster projections have no bias and start near
    uniform. Only for new models: a resumed or loaded model keeps its trained bias."""
    logp = unigram_log_prior(counts)
    if isinstance(head, AdaptiveHead):
        asm, order = head.asm, head.order
        bounds = asm.cutoffs  # [c1, c2, ..., vocab_size]
        by_rank = logp[order]
        cluster = [torch.logsumexp(by_rank[a:b], 0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        asm.head.bias.copy_(torch.cat([by_rank[: bounds[0]], torch.stack(cluster)]))
    elif isinstance(head, nn.Linear) and head.bias is not None:
        head.bias.copy_(logp)
    else:
        raise ValueError(f"{type(head).__name__} has no output bias to initialise")
