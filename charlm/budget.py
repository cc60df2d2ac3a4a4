"""What a request will cost, estimated before any work starts, so a shared server can refuse what it cannot afford.

One cost model for every request and every model a user can bring (issue 19). The estimates count multiply-adds
the way the field does (Kaplan et al. 2020: about 2 FLOPs per weight per token forward, 6 for a training step) plus
what the weights do not show:

- attention over the context: the GPT's cost per character grows with the context (layers x T x width), and
  inspecting attention computes layers x heads x T² weights;
- the vocabulary: every predicted character costs work over all V entries beyond the matmul (softmax or
  log-softmax, top-k, the sampler's filter and, for a nearly flat distribution, a full sort: V log V), counted as
  ``VOCAB_FLOPS`` + ``SORT_FLOPS`` x log2 V FLOP-equivalents per entry. An RNN of width 1 over a million characters
  has few weights but 2,000 scored characters cost 2·10⁹ vocabulary entries;
- an adaptive head's clusters: each one is its own small matmul and softmax, a fixed cost per cluster and step
  (``CLUSTER_FLOPS``) that its weights do not show: 6,257 one-character clusters made a GRU of hidden size 8 chat
  at 0.45 s per character;
- the embedding lookup is not a matmul: an input table costs nothing per character (its weights are counted as
  memory, not work).

Memory counts what a request holds at its peak: activations kept for backward (training), the block of logits a
scorer materialises at once (``LOGIT_BLOCK`` entries: scoring and inspection never build T x V logits), the
GPT's key/value cache, the attention weights of one layer (inspection), a recurrent model's hidden states.

The estimates are deliberately simple and a little pessimistic; what matters is that a request asking for 100x the
server's budget is refused in a millisecond with a message that says which limit it hit, instead of holding the
server for minutes. ``tests/test_budget_bounds.py`` draws random accepted configurations (hypothesis) and checks
that measured time and peak memory stay within these estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from charlm.errors import BudgetError
from charlm.models import ModelConfig, config_parameters, estimated_cutoffs
from charlm.models.output import use_adaptive

FLOAT_BYTES = 4
MB = 2**20
# FLOP-equivalents per vocabulary entry and predicted character, beyond the output matmul: a log-softmax, a top-k
# pass and the sampler's filter are each elementwise passes over V, memory-bound and far slower per entry than a
# matmul's multiply-add. Measured (docs/reliability.md, "Issue 19 A"): scoring 2,000 characters under a vocabulary
# of 1,000,002 took 23 s of CPU time, ~11.5 ns per entry, ~290 FLOP at the ~25 GFLOP/s the matmul estimates assume.
VOCAB_FLOPS = 250.0
TRAIN_VOCAB_FLOPS = 8.0  # a training step's fused cross-entropy and its gradient: no top-k, no sampling
SORT_FLOPS = 2.0  # x log2 V: the full sort of a flat distribution in top-p sampling (charlm.generation.filtering)
CLUSTER_FLOPS = 200_000.0  # an adaptive cluster's fixed cost per step: its own small matmul, softmax and indexing
LOGIT_BLOCK = 2**20  # logits materialised at once by scoring and inspection (4 MB in fp32), whatever T x V is
ATTENTION_CHARS = 256  # inspection records attention over at most this many characters (the picture: T² cells)
NEIGHBOUR_CHARS = 2000  # inspection lists neighbours and draws vectors for at most this many characters
NEIGHBOURS = 5


@dataclass(frozen=True)
class Cost:
    gflop: float  # 1e9 floating-point operations (FLOP-equivalents for the vocabulary and cluster work)
    mb: float = 0.0  # peak extra memory in MB (activations, logits)


def _head(config: ModelConfig) -> str:
    return config.head if config.head != "auto" else ("adaptive" if use_adaptive(config.vocab_size) else "linear")


def n_clusters(config: ModelConfig) -> int:
    """Clusters of the adaptive head (0 for a linear one): the known cutoffs, or an estimate before training."""
    if _head(config) != "adaptive":
        return 0
    return len(config.head_cutoffs or estimated_cutoffs(config.vocab_size))


def matmul_params(config: ModelConfig, n_params: int | None = None) -> int:
    """Weights that are multiplied per character: all of them but the input tables (a lookup, not a matmul). A
    GPT's linear head is its token table (tied), so there the token table does count."""
    n_params = config_parameters(config) if n_params is None else n_params
    lookup = config.vocab_size * config.n_embd
    if config.arch == "gpt":
        lookup = config.block_size * config.n_embd + (lookup if _head(config) == "adaptive" else 0)
    return max(0, n_params - lookup)


def vocab_flops(config: ModelConfig, sort: bool = False, per_entry: float = VOCAB_FLOPS) -> float:
    """FLOP-equivalents over the vocabulary for one predicted character (``sort``: the sampler's worst case)."""
    v = config.vocab_size
    per_entry += SORT_FLOPS * math.log2(max(v, 2)) if sort else 0.0
    return v * per_entry + n_clusters(config) * CLUSTER_FLOPS


def forward_gflop_per_token(
    config: ModelConfig, n_params: int | None = None, context: int | None = None, per_entry: float = VOCAB_FLOPS
) -> float:
    """Forward FLOPs for one character: 2 per multiplied weight, the GPT's attention over ``context`` positions,
    and the work over the vocabulary (``per_entry`` FLOP-equivalents each) and the adaptive clusters."""
    flops = 2.0 * matmul_params(config, n_params) + vocab_flops(config, per_entry=per_entry)
    if config.arch == "gpt":
        t = context or config.block_size
        flops += 4.0 * config.n_layer * t * config.n_embd  # q·k for every key, then the weighted sum of values
    return flops / 1e9


def char_cost(config: ModelConfig, n_params: int | None = None) -> Cost:
    """One chat character at full context: the decoding step, the sampler's worst case over the vocabulary, and
    the memory of one row's state (the GPT's key/value cache) and logits."""
    flops = 2.0 * matmul_params(config, n_params) + vocab_flops(config, sort=True)
    if config.arch == "gpt":
        flops += 4.0 * config.n_layer * config.block_size * config.n_embd
        state = 2.0 * config.n_layer * config.block_size * config.n_embd
    else:
        state = 2.0 * config.n_layer * config.hidden_size
    return Cost(flops / 1e9, (state + 4.0 * config.vocab_size) * FLOAT_BYTES / MB)


def check_char_cost(config: ModelConfig, max_mflop: float, n_params: int | None = None) -> None:
    """Refuse a model whose every chat character would cost more than ``max_mflop`` MFLOP (CHARLM_MAX_CHAR_MFLOP):
    at upload and before training, as too many parameters are refused."""
    mflop = char_cost(config, n_params).gflop * 1e3
    if mflop > max_mflop:
        raise BudgetError(
            f"this model would cost about {mflop:,.1f} MFLOP per generated character (vocabulary "
            f"{config.vocab_size:,}, {n_clusters(config):,} clusters); this server allows {max_mflop:,.1f} "
            "(CHARLM_MAX_CHAR_MFLOP)"
        )


def training_step_cost(config: ModelConfig, batch_size: int) -> Cost:
    """One optimizer step: forward + backward (3x forward) over ``batch_size`` windows of ``block_size``."""
    b, t = batch_size, config.block_size
    gflop = 3.0 * forward_gflop_per_token(config, per_entry=TRAIN_VOCAB_FLOPS) * b * t
    if config.arch == "gpt":
        # per layer: ~16 floats per position and channel kept for backward, plus the attention matrix per head
        acts = config.n_layer * (16.0 * b * t * config.n_embd + 2.0 * b * config.n_head * t * t)
    else:
        gates = {"lstm": 4, "gru": 3, "rnn": 1}[config.arch]
        acts = config.n_layer * b * t * config.hidden_size * (2 * gates + 2) + b * t * config.n_embd
    acts += 3.0 * b * t * config.vocab_size  # logits, their softmax and its gradient
    return Cost(gflop, acts * FLOAT_BYTES / MB)


def _read_mb(config: ModelConfig, rows: int, width: int) -> float:
    """Peak memory of one forward over ``rows`` x ``width`` positions (scoring's chunk), in MB: the layers'
    activations plus one block of logits (with its softmax and top-k)."""
    if config.arch == "gpt":
        acts = rows * width * config.n_embd * 16.0 + config.n_head * rows * width * width  # SDPA may keep T² scores
    else:
        gates = {"lstm": 4, "gru": 3, "rnn": 1}[config.arch]
        acts = rows * width * (config.hidden_size * (gates + 2) * 2 + config.n_embd)
    logits = 4.0 * min(LOGIT_BLOCK, rows * width * config.vocab_size) + 2.0 * config.vocab_size
    return (acts + logits) * FLOAT_BYTES / MB


def score_batch(config: ModelConfig) -> int:
    """GPT windows read at once when scoring (at most 32): fewer for a long context, so activations stay small."""
    per_window = config.block_size * config.n_embd * 16.0 + config.n_head * config.block_size**2
    return int(max(1, min(32, LOGIT_BLOCK * 8 // max(1.0, per_window))))


def scoring_cost(config: ModelConfig, n_params: int, n_chars: int) -> Cost:
    """Scoring a text: the GPT reads overlapping windows (each character about twice), recurrent models once."""
    reads = 2.0 if config.arch == "gpt" else 1.0
    gflop = reads * n_chars * forward_gflop_per_token(config, n_params)
    if config.arch == "gpt":
        mb = _read_mb(config, score_batch(config), min(config.block_size, max(n_chars, 1)))
    else:
        mb = _read_mb(config, max(1, min(16, n_chars // 512)), min(256, max(n_chars, 1)))
    return Cost(gflop, mb)


def generation_cost(config: ModelConfig, n_params: int, n_prompts: int, prompt_chars: int, new_chars: int) -> Cost:
    """Generating ``new_chars`` after each of ``n_prompts`` prompts (the prompts are read once each)."""
    per_char = forward_gflop_per_token(config, n_params)
    per_new = char_cost(config, n_params)
    return Cost(per_char * prompt_chars + per_new.gflop * n_prompts * new_chars, per_new.mb)


def inspection_cost(config: ModelConfig, n_params: int, n_chars: int) -> Cost:
    """``charlm.inspection.inspect_text`` on ``n_chars`` characters: the surprise pass (a scoring), the attention
    weights (GPT: every layer and head over at most ``ATTENTION_CHARS``; one layer's are held at a time) or the
    hidden states (recurrent), and the character vectors (2-D projection and neighbours of at most
    ``NEIGHBOUR_CHARS`` characters against the whole table, in blocks)."""
    score = scoring_cost(config, n_params, n_chars)
    gflop, mb = score.gflop, score.mb
    if config.arch == "gpt":
        t = min(config.block_size, ATTENTION_CHARS, n_chars)
        c, h = config.n_embd, config.n_head
        gflop += config.n_layer * (h * t * t * (4.0 * c / h + 8.0) + 6.0 * t * c * c) / 1e9  # recompute, softmax
        mb += (3.0 * h * t * t + t * t) * FLOAT_BYTES / MB  # one layer's scores, weights, mask; one head kept
    else:
        kept = n_chars * config.hidden_size * 3.0  # the states, their float64 copy for the correlations
        gflop += n_chars * config.hidden_size * 40.0 / 1e9  # correlations with a few features
        mb += kept * FLOAT_BYTES / MB
    q = min(NEIGHBOUR_CHARS, config.vocab_size)
    v, w = config.vocab_size, config.n_embd
    gflop += (2.0 * q * v * w + q * v * VOCAB_FLOPS + 8.0 * q * w * w) / 1e9  # cosine blocks + top-k, PCA
    mb += (min(LOGIT_BLOCK, q * v) * 2.0 + v * w * 3.0 + q * w * 4.0) * FLOAT_BYTES / MB
    return Cost(gflop, mb)


def check(cost: Cost, max_gflop: float, max_mb: float | None, what: str, gflop_var: str, mb_var: str = "") -> None:
    """Raise a ``BudgetError`` naming the limit (its environment variable) and the estimate, or return."""
    if cost.gflop > max_gflop:
        raise BudgetError(
            f"{what} would cost about {cost.gflop:,.0f} GFLOP; this server allows {max_gflop:,.0f} ({gflop_var})"
        )
    if max_mb is not None and cost.mb > max_mb:
        raise BudgetError(
            f"{what} would need about {cost.mb:,.0f} MB of memory; this server allows {max_mb:,.0f} MB ({mb_var})"
        )
