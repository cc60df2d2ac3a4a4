"""How well charlm.budget's estimates predict a training step's time and memory on this machine.

For a spread of configurations (small to the largest a server might accept), time one optimizer step (median of a
few, 1 thread) and measure its peak extra memory; print the estimate beside it. The ratio seconds per estimated
GFLOP sets the server's CHARLM_MAX_STEP_GFLOP so that no accepted step takes more than about a second.

    python bench/bench_budget.py
"""

from __future__ import annotations

import resource
import time

import torch
import torch.nn.functional as F
from _common import header, median

from charlm.budget import training_step_cost
from charlm.models import build_model, preset_config
from charlm.optim import make_optimizer

CASES = [("gpt", "tiny", 32, 64), ("gpt", "small", 32, 64), ("gpt", "small", 8, 512), ("gpt", "tiny", 1, 2048),
         ("gpt", "medium", 8, 256), ("gpt", "tiny", 512, 64), ("lstm", "small", 32, 64), ("gru", "small", 64, 64),
         ("lstm", "medium", 32, 128), ("rnn", "small", 128, 128)]  # fmt: skip


def step_time(arch: str, size: str, batch: int, block: int, vocab: int = 66) -> tuple[float, float]:
    cfg = preset_config(arch, size, vocab, block_size=block)
    model = build_model(cfg)
    opt = make_optimizer(model, 1e-3, 0.1)
    x = torch.randint(1, vocab, (batch, block))
    times = []
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(4):
        t0 = time.perf_counter()
        logits, _ = model(x)
        loss = F.cross_entropy(logits.view(-1, vocab), x.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return median(times[1:]), peak


def main() -> None:
    torch.set_num_threads(1)
    header("training step: measured vs charlm.budget's estimate (1 thread)")
    print("| arch | size | batch | block | est. GFLOP | est. MB | step (s) | s per GFLOP | peak RSS growth (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for arch, size, batch, block in CASES:
        cost = training_step_cost(preset_config(arch, size, 66, block_size=block), batch)
        sec, peak = step_time(arch, size, batch, block)
        print(f"| {arch} | {size} | {batch} | {block} | {cost.gflop:.1f} | {cost.mb:.0f} | {sec:.3f} | "
              f"{sec / cost.gflop:.4f} | {peak:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
