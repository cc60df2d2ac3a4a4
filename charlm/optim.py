"""The optimizers the trainer can update the weights with, and each one's default learning rate.

The textbook names SGD and Adam; the trainer offers four, from the simplest to the one modern LMs use:

- ``sgd``: w <- w - lr * g
- ``momentum``: SGD with heavy-ball momentum 0.9 (v <- 0.9 v + g; w <- w - lr * v)
- ``adam``: per-weight step sizes from running means of g and g^2 (Kingma & Ba, 2015)
- ``adamw``: Adam with *decoupled* weight decay (Loshchilov & Hutter, 2019), the trainer's default
- ``muon``: for each hidden weight matrix, momentum whose update is *orthogonalised* (Newton-Schulz iterations)
  before it is applied (Jordan et al., 2024); AdamW for the embeddings, the output layer, biases and norms

Weight decay touches matrices only (decaying biases and norm gains hurts more than it regularises). For ``adamw``
it is decoupled (w <- w - lr * wd * w); for the other three it is torch's classic L2 term added to the gradient,
and it is off by default, as in the textbook. Default learning rates are measured, not guessed:
``bench/bench_optimizers.py``, results in docs/benchmarks.md.

Why Muon: a gradient matrix is usually dominated by a few directions (a few large singular values); Adam and SGD
step mostly along those, so the rare directions a layer also needs to learn get a tiny share. Orthogonalising the
momentum (replacing U S V^T by U V^T: every singular value set to ~1) gives each direction of the update the same
size, which learns more per step (modded-nanogpt's record runs: ~35% fewer steps than AdamW to the same loss). The
update is scaled to AdamW's typical size (0.2 * sqrt(max(rows, cols)), Liu et al., 2025, "Muon is scalable"), so
Muon uses AdamW's learning rates and weight decay. All in fp32: a CPU has no fast bf16 matrix multiply to spare.
"""

from __future__ import annotations

import math

import torch
from torch import nn

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "muon")
MOMENTUM = 0.9
MUON_MOMENTUM = 0.95  # Muon's (Nesterov) momentum: Keller Jordan's reference value
NS_STEPS = 5  # Newton-Schulz iterations: enough to bring every singular value into ~[0.7, 1.2]
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # the quintic that pushes small singular values up fastest
BETAS = (0.9, 0.99)  # beta2 0.99 rather than 0.999: steadier on small, noisy character batches (nanoGPT's choice)

# Peak learning rates (with the trainer's warm-up, cosine decay and gradient clipping at 1.0): the best of a ~3x grid
# per optimizer and architecture, tiny presets, 150 steps on tinyshakespeare (bench/bench_optimizers.py; the two
# most aggressive picks re-checked at 600 steps; docs/benchmarks.md, "Optimizers"). With clipping, plain SGD
# wants rates of 1-30 on the recurrent nets (momentum 0.9 multiplies the step by up to 10, hence rates ~10x lower).
# adamw's come from issue 2's longer study (docs/benchmarks.md, "Quality per time"); muon's from issue 20's grid
# (docs/benchmarks.md, "Muon and the GPT switches"): ~10x AdamW's, the AdamW groups inside Muon included.
DEFAULT_LR: dict[str, dict[str, float]] = {
    "sgd": {"gpt": 0.3, "lstm": 30.0, "gru": 10.0, "rnn": 1.0},
    "momentum": {"gpt": 0.1, "lstm": 3.0, "gru": 3.0, "rnn": 0.3},
    "adam": {"gpt": 3e-3, "lstm": 0.1, "gru": 3e-2, "rnn": 3e-2},
    "adamw": {"gpt": 3e-3, "lstm": 1.5e-2, "gru": 1.5e-2, "rnn": 2e-3},
    "muon": {"gpt": 3e-2, "lstm": 0.15, "gru": 5e-2, "rnn": 5e-2},
}
DEFAULT_WEIGHT_DECAY = {"sgd": 0.0, "momentum": 0.0, "adam": 0.0, "adamw": 0.1, "muon": 0.1}


def check_optimizer(name: str) -> str:
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {name!r}")
    return name


def default_lr(optimizer: str, arch: str) -> float:
    """The measured peak learning rate for this optimizer and architecture."""
    return DEFAULT_LR[check_optimizer(optimizer)][arch]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, name: str = "adamw") -> torch.optim.Optimizer:
    """The named optimizer over two parameter groups: matrices (decayed) and everything else (never decayed);
    ``muon`` splits the matrices into the hidden ones (Muon) and the embeddings and output layer (AdamW)."""
    check_optimizer(name)
    if name == "muon":
        return Muon(muon_groups(model, weight_decay), lr=lr)
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


def muon_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Muon's three groups: hidden matrices (Muon, decayed), embedding and output matrices (AdamW, decayed), and
    vectors (AdamW, never decayed). Embeddings are lookup tables, not maps between hidden spaces, and the output
    layer's rows are one per character: orthogonalising those would tie together rows that should move alone."""
    tables = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    head = getattr(model, "output_head", None)
    outer = {id(p) for m in [*tables, *([head] if head is not None else [])] for p in m.parameters()}
    params = list(model.parameters())
    hidden = [p for p in params if p.dim() == 2 and id(p) not in outer]
    other = [p for p in params if p.dim() >= 2 and id(p) in outer or p.dim() > 2]
    vectors = [p for p in params if p.dim() < 2]
    groups = [{"params": hidden, "muon": True, "weight_decay": weight_decay},
              {"params": other, "muon": False, "weight_decay": weight_decay},
              {"params": vectors, "muon": False, "weight_decay": 0.0}]  # fmt: skip
    return [g for g in groups if g["params"]]


def orthogonalise(g: torch.Tensor, steps: int = NS_STEPS, eps: float = 1e-7) -> torch.Tensor:
    """~U V^T of g = U S V^T, by a quintic Newton-Schulz iteration (no SVD: a handful of matrix products).

    Dividing by the Frobenius norm puts every singular value in (0, 1]; each step maps s -> a s + b s^3 + c s^5,
    which sends them all towards ~1 (to within 0.7-1.2: close enough, and far cheaper than exactly 1). The product
    runs on the wide side (X X^T is the smaller square), in fp32."""
    a, b, c = NS_COEFFICIENTS
    x = g.float()
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / (x.norm() + eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.T if tall else x).to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Muon for the groups marked ``muon``, AdamW for the others: one optimizer, so the trainer's schedule, clipping,
    checkpoints and exact resume treat it like any other (its state: a momentum buffer per hidden matrix, Adam's
    two moments and step count per other parameter)."""

    def __init__(self, params, lr: float, momentum: float = MUON_MOMENTUM, betas: tuple[float, float] = BETAS,
                 eps: float = 1e-8, nesterov: bool = True) -> None:  # fmt: skip
        defaults = dict(lr=lr, weight_decay=0.0, muon=False, momentum=momentum, betas=betas, eps=eps,
                        nesterov=nesterov)  # fmt: skip
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    (self._muon if group["muon"] else self._adamw)(p, group)
        return loss

    def _muon(self, p: torch.Tensor, group: dict) -> None:
        """Nesterov momentum, orthogonalised, scaled to AdamW's update size, with decoupled weight decay."""
        state = self.state[p]
        if not state:
            state["momentum_buffer"] = torch.zeros_like(p)
        buf, beta = state["momentum_buffer"], group["momentum"]
        buf.lerp_(p.grad, 1 - beta)
        update = p.grad.lerp(buf, beta) if group["nesterov"] else buf
        scale = 0.2 * math.sqrt(max(p.shape))  # an orthogonal matrix's RMS is 1/sqrt(max side); AdamW's is ~0.2
        p.mul_(1 - group["lr"] * group["weight_decay"])
        p.add_(orthogonalise(update), alpha=-group["lr"] * scale)

    def _adamw(self, p: torch.Tensor, group: dict) -> None:
        """Textbook AdamW (the embeddings, output layer and vectors)."""
        state = self.state[p]
        if not state:
            state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        (b1, b2), lr = group["betas"], group["lr"]
        state["step"] += 1
        t = state["step"]
        state["exp_avg"].lerp_(p.grad, 1 - b1)
        state["exp_avg_sq"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
        denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - b2**t)).add_(group["eps"])
        p.mul_(1 - lr * group["weight_decay"])
        p.addcdiv_(state["exp_avg"], denom, value=-lr / (1 - b1**t))
