"""The optimizers the trainer can update the weights with, and each one's default learning rate.

The textbook names SGD and Adam; the trainer offers four, from the simplest to the one modern LMs use:

- ``sgd``: w <- w - lr * g
- ``momentum``: SGD with heavy-ball momentum 0.9 (v <- 0.9 v + g; w <- w - lr * v)
- ``adam``: per-weight step sizes from running means of g and g^2 (Kingma & Ba, 2015)
- ``adamw``: Adam with *decoupled* weight decay (Loshchilov & Hutter, 2019), the trainer's default

Weight decay touches matrices only (decaying biases and norm gains hurts more than it regularises). For ``adamw``
it is decoupled (w <- w - lr * wd * w); for the other three it is torch's classic L2 term added to the gradient,
and it is off by default, as in the textbook. Default learning rates are measured, not guessed:
``bench/bench_optimizers.py``, results in docs/benchmarks.md.
"""

from __future__ import annotations

import torch
from torch import nn

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
MOMENTUM = 0.9
BETAS = (0.9, 0.99)  # beta2 0.99 rather than 0.999: steadier on small, noisy character batches (nanoGPT's choice)

# Peak learning rates (with the trainer's warm-up, cosine decay and gradient clipping at 1.0): the best of a ~3x grid
# per optimizer and architecture, tiny presets, 150 steps on tinyshakespeare (bench/bench_optimizers.py; the two
# most aggressive picks re-checked at 600 steps; docs/benchmarks.md, "Optimizers"). With clipping, plain SGD
# wants rates of 1-30 on the recurrent nets (momentum 0.9 multiplies the step by up to 10, hence rates ~10x lower).
# adamw's come from issue 2's longer study (docs/benchmarks.md, "Quality per time").
DEFAULT_LR: dict[str, dict[str, float]] = {
    "sgd": {"gpt": 0.3, "lstm": 30.0, "gru": 10.0, "rnn": 1.0},
    "momentum": {"gpt": 0.1, "lstm": 3.0, "gru": 3.0, "rnn": 0.3},
    "adam": {"gpt": 3e-3, "lstm": 0.1, "gru": 3e-2, "rnn": 3e-2},
    "adamw": {"gpt": 3e-3, "lstm": 1.5e-2, "gru": 1.5e-2, "rnn": 2e-3},
}
DEFAULT_WEIGHT_DECAY = {"sgd": 0.0, "momentum": 0.0, "adam": 0.0, "adamw": 0.1}


def check_optimizer(name: str) -> str:
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {name!r}")
    return name


def default_lr(optimizer: str, arch: str) -> float:
    """The measured peak learning rate for this optimizer and architecture."""
    return DEFAULT_LR[check_optimizer(optimizer)][arch]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, name: str = "adamw") -> torch.optim.Optimizer:
    """The named optimizer over two parameter groups: matrices (decayed) and everything else (never decayed)."""
    check_optimizer(name)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if name in ("sgd", "momentum"):
        cls, kw = torch.optim.SGD, {"momentum": MOMENTUM if name == "momentum" else 0.0}
    else:
        cls, kw = (torch.optim.AdamW if name == "adamw" else torch.optim.Adam), {"betas": BETAS}
    # The fused kernel updates all parameters in one pass (measured 1.03-1.9x faster steps, docs/benchmarks.md).
    try:
        return cls(groups, lr=lr, fused=True, **kw)
    except (RuntimeError, TypeError):  # a device or dtype without the fused kernel
        return cls(groups, lr=lr, foreach=True, **kw)
