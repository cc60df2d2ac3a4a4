"""Default learning rate per optimizer and architecture: a small grid, side by side, on the same batches.

Every run trains a ``tiny`` preset (the Train tab's default size) on the first 90% of tinyshakespeare with the
core trainer (warm-up, cosine decay, gradient clipping at 1.0, the optimizer's default weight decay) for the same
number of steps and the same seed, so each (optimizer, lr) sees exactly the same batches; then scores the final
weights on the first ``--val-chars`` characters of the validation split (nats/char). The best rate of each grid is
printed; a best rate at the edge of its grid is flagged (widen the grid and run again).

    python bench/bench_optimizers.py                              # the whole grid (4 archs x 4 optimizers)
    python bench/bench_optimizers.py --arch gru --optimizer sgd --lrs 1,3,10
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

import torch
from _common import CORPUS, header

from charlm.data import load_corpus
from charlm.models import preset_config
from charlm.optim import DEFAULT_LR, OPTIMIZERS
from charlm.score import score_ids
from charlm.storage.checkpoint import load_checkpoint
from charlm.train import TrainConfig, train

# Grids spaced by ~3x. A first pass with the GPT's grids for every architecture put the recurrent nets' best rates
# at the top edge, so theirs reach ~10x higher (docs/benchmarks.md lists both passes).
GPT_GRIDS = {"sgd": [0.1, 0.3, 1.0, 3.0], "momentum": [0.01, 0.03, 0.1, 0.3], "adam": [1e-3, 3e-3, 1e-2, 3e-2],
             "muon": [1e-3, 3e-3, 1e-2, 3e-2]}  # fmt: skip
RECURRENT_GRIDS = {"sgd": [3.0, 10.0, 30.0, 100.0], "momentum": [0.3, 1.0, 3.0], "adam": [1e-2, 3e-2, 0.1],
                   "muon": [5e-3, 1.5e-2, 5e-2]}  # fmt: skip


def grid(optimizer: str, arch: str) -> list[float]:
    """The rates to try; adamw: its existing (measured) default only, as the reference row."""
    if optimizer == "adamw":
        return [DEFAULT_LR["adamw"][arch]]
    return (GPT_GRIDS if arch == "gpt" else RECURRENT_GRIDS)[optimizer]


def run_one(corpus, val_ids, arch: str, optimizer: str, lr: float, args) -> dict:
    mcfg = preset_config(arch, args.size, corpus.vocab.size, block_size=args.block_size)
    cfg = TrainConfig(max_steps=args.steps, lr=lr, optimizer=optimizer, batch_size=args.batch_size,
                      warmup_steps=args.steps // 10, eval_interval=10**9, eval_chars=2000, seed=args.seed,
                      precision="auto", device="cpu")  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        final = None
        for event in train(corpus, mcfg, cfg, out):
            final = event
        seconds = time.perf_counter() - t0
        loaded = load_checkpoint(f"{out}/last")
        loss = score_ids(loaded.model, val_ids)["loss"]
    return {"loss": loss, "seconds": seconds, "steps": final.step}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="gpt,gru,lstm,rnn", help="comma-separated architectures")
    p.add_argument("--optimizer", default=",".join(OPTIMIZERS), help="comma-separated optimizers")
    p.add_argument("--lrs", help="comma-separated learning rates (default: each optimizer's grid)")
    p.add_argument("--size", default="tiny")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--val-chars", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    header("optimizer x learning rate: validation loss after a fixed number of steps")
    corpus = load_corpus(CORPUS)
    _, val_ids = corpus.split(0.1)
    val_ids = val_ids[: args.val_chars]
    print(f"# {args.size} preset, block {args.block_size}, batch {args.batch_size}, {args.steps} steps, seed "
          f"{args.seed}; val loss (nats/char) on the first {len(val_ids):,} validation characters")  # fmt: skip
    print("arch  optimizer  lr        val_loss  seconds")
    for arch in args.arch.split(","):
        for opt in args.optimizer.split(","):
            lrs = [float(x) for x in args.lrs.split(",")] if args.lrs else grid(opt, arch)
            results = {}
            for lr in lrs:
                r = run_one(corpus, val_ids, arch, opt, lr, args)
                results[lr] = r["loss"]
                print(f"{arch:<5} {opt:<9}  {lr:<8g}  {r['loss']:.4f}    {r['seconds']:.1f}  load "
                      f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
            best = min(results, key=lambda k: results[k] if math.isfinite(results[k]) else math.inf)
            edge = len(lrs) > 1 and best in (lrs[0], lrs[-1])
            print(f"BEST {arch} {opt}: lr {best:g} -> {results[best]:.4f}" + ("  (at the grid's edge)" if edge else ""))


if __name__ == "__main__":
    main()
