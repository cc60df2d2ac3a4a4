"""Threads for one training job: 1 vs every core, with the other cores idle or busy (issue 17, point 3).

``charlm.device.pick_threads`` decides from the 1-minute load average how many cores a job may use. This measures
what that choice costs or buys on the machine at hand: training tokens/s of the README's quick check (GPT small,
batch 32) and of the recipe's GRU small, at 1 thread and at every core, while 0 or 1 other cores are kept busy by a
spinning process. Rounds alternate the order, so a change of load hits both arms alike.

    python bench/bench_threads.py --rounds 3
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

import torch
from _common import CORPUS, header


def _spin(stop) -> None:  # pragma: no cover - runs in a child process
    while not stop.is_set():
        pass


def tokens_per_second(arch: str, threads: int, steps: int, corpus) -> float:
    from charlm.data import get_batch
    from charlm.models import build_model, preset_config
    from charlm.optim import make_optimizer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(preset_config(arch, "small", corpus.vocab.size)).train()
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.1)
    train_ids, _ = corpus.split()
    gen = torch.Generator().manual_seed(0)
    block = 64
    t0 = 0.0
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        x, y = get_batch(train_ids, 32, block, gen)
        loss, _ = model(x, None, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * 32 * block / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--archs", default="gpt,gru")
    args = p.parse_args()
    header("training tokens/s: 1 thread vs every core, other cores idle or busy")
    from charlm.data import build_corpus

    corpus = build_corpus(CORPUS.read_text(encoding="utf-8")[:200_000], name="shakespeare-200k")
    cores = len(os.sched_getaffinity(0))
    print("| arch | other cores busy | threads | tokens/s (median) | each round | load average |")
    print("|---|---|---|---|---|---|")
    for busy in (0, 1):
        stop = mp.Event()
        hogs = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(busy)]
        for h in hogs:
            h.start()
        time.sleep(1.0)
        for arch in args.archs.split(","):
            runs: dict[int, list[float]] = {1: [], cores: []}
            for r in range(args.rounds):
                for t in (1, cores) if r % 2 == 0 else (cores, 1):
                    runs[t].append(tokens_per_second(arch, t, args.steps, corpus))
            for t, xs in runs.items():
                each = ", ".join(f"{x:,.0f}" for x in xs)
                print(f"| {arch} | {busy} | {t} | {sorted(xs)[len(xs) // 2]:,.0f} | {each} | "
                      f"{os.getloadavg()[0]:.2f} |")  # fmt: skip
        stop.set()
        for h in hogs:
            h.join()


if __name__ == "__main__":
    main()
