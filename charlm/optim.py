"""The optimizer and the learning-rate schedule: what the trainer updates the weights with, and how fast."""

from __future__ import annotations

import torch
from torch import nn


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW that decays matrices only: decaying biases and norm gains hurts more than it regularises."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel updates all parameters in one pass (measured 1.03-1.9x faster steps, docs/benchmarks.md).
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), fused=True)
    except (RuntimeError, TypeError):  # a device or dtype without the fused kernel
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), foreach=True)
