"""What a request will cost, estimated before any work starts, so a shared server can refuse what it cannot afford.

The estimates count multiply-adds the way the field does (Kaplan et al. 2020: about 2 FLOPs per parameter per
token forward, 6 for a training step) plus what parameters do not show: attention over the context (the GPT's
cost grows with the square of the context) and the output layer over the vocabulary. Memory counts the
activations a training step keeps for backward. They are deliberately simple and a little pessimistic; what
matters is that a request asking for 100x the server's budget is refused in a millisecond with a message that says
which limit it hit, instead of holding the server for minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from charlm.errors import BudgetError
from charlm.models import ModelConfig, config_parameters

FLOAT_BYTES = 4


@dataclass(frozen=True)
class Cost:
    gflop: float  # 1e9 floating-point operations
    mb: float = 0.0  # peak extra memory in MB (activations, logits)


def forward_gflop_per_token(config: ModelConfig, n_params: int | None = None, context: int | None = None) -> float:
    """Forward FLOPs for one character: 2 per weight, plus the GPT's attention over ``context`` positions."""
    n_params = config_parameters(config) if n_params is None else n_params
    flops = 2.0 * n_params
    if config.arch == "gpt":
        t = context or config.block_size
        flops += 4.0 * config.n_layer * t * config.n_embd  # q·k for every key, then the weighted sum of values
    return flops / 1e9


def training_step_cost(config: ModelConfig, batch_size: int) -> Cost:
    """One optimizer step: forward + backward (3x forward) over ``batch_size`` windows of ``block_size``."""
    b, t = batch_size, config.block_size
    gflop = 3.0 * forward_gflop_per_token(config) * b * t
    if config.arch == "gpt":
        # per layer: ~16 floats per position and channel kept for backward, plus the attention matrix per head
        acts = config.n_layer * (16.0 * b * t * config.n_embd + 2.0 * b * config.n_head * t * t)
    else:
        gates = {"lstm": 4, "gru": 3, "rnn": 1}[config.arch]
        acts = config.n_layer * b * t * config.hidden_size * (2 * gates + 2) + b * t * config.n_embd
    acts += 3.0 * b * t * config.vocab_size  # logits, their softmax and its gradient
    return Cost(gflop, acts * FLOAT_BYTES / 2**20)


def scoring_cost(config: ModelConfig, n_params: int, n_chars: int) -> Cost:
    """Scoring a text: the GPT reads overlapping windows (each character about twice), recurrent models once."""
    reads = 2.0 if config.arch == "gpt" else 1.0
    return Cost(reads * n_chars * forward_gflop_per_token(config, n_params))


def generation_cost(config: ModelConfig, n_params: int, n_prompts: int, prompt_chars: int, new_chars: int) -> Cost:
    """Generating ``new_chars`` after each of ``n_prompts`` prompts (the prompts are read once each)."""
    per_char = forward_gflop_per_token(config, n_params)
    return Cost(per_char * (prompt_chars + n_prompts * new_chars))


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
