"""Cost estimates (charlm.budget): the textbook counts, and a refusal that names the limit."""

import pytest

from charlm.budget import (
    VOCAB_FLOPS,
    Cost,
    check,
    forward_gflop_per_token,
    generation_cost,
    scoring_cost,
    training_step_cost,
)
from charlm.errors import BudgetError
from charlm.models import ModelConfig, config_parameters
from tests.helpers import TINY


def test_a_forward_costs_two_flops_per_multiplied_weight_plus_attention_and_the_vocabulary():
    rnn = ModelConfig(arch="lstm", vocab_size=40, **TINY["lstm"])
    lookup = rnn.vocab_size * rnn.n_embd  # the input table is a lookup, not a matmul
    vocab = rnn.vocab_size * VOCAB_FLOPS
    assert forward_gflop_per_token(rnn) == pytest.approx((2 * (config_parameters(rnn) - lookup) + vocab) / 1e9)
    gpt = ModelConfig(arch="gpt", vocab_size=40, **TINY["gpt"])
    attention = 4.0 * gpt.n_layer * gpt.block_size * gpt.n_embd
    positions = gpt.block_size * gpt.n_embd  # wpe: a lookup; wte is also the (tied) output layer: counted
    expected = 2 * (config_parameters(gpt) - positions) + attention + gpt.vocab_size * VOCAB_FLOPS
    assert forward_gflop_per_token(gpt) == pytest.approx(expected / 1e9)
    assert forward_gflop_per_token(gpt, context=1) < forward_gflop_per_token(gpt)


def test_scoring_generation_and_training_scale_with_the_work():
    gpt = ModelConfig(arch="gpt", vocab_size=40, **TINY["gpt"])
    n = config_parameters(gpt)
    assert scoring_cost(gpt, n, 2000).gflop == pytest.approx(2 * scoring_cost(gpt, n, 1000).gflop)
    one = generation_cost(gpt, n, 1, 10, 100).gflop
    assert generation_cost(gpt, n, 2, 20, 100).gflop == pytest.approx(2 * one)
    small, big = training_step_cost(gpt, 4), training_step_cost(gpt, 8)
    assert big.gflop == pytest.approx(2 * small.gflop) and big.mb == pytest.approx(2 * small.mb) and small.mb > 0


def test_check_names_the_limit_it_would_break():
    check(Cost(9.0, 90.0), 10.0, 100.0, "this", "G_VAR", "M_VAR")  # within both limits
    with pytest.raises(BudgetError, match=r"about 11 GFLOP; this server allows 10 \(G_VAR\)"):
        check(Cost(11.0), 10.0, None, "this", "G_VAR")
    with pytest.raises(BudgetError, match=r"about 101 MB of memory; this server allows 100 MB \(M_VAR\)"):
        check(Cost(1.0, 101.0), 10.0, 100.0, "this", "G_VAR", "M_VAR")
