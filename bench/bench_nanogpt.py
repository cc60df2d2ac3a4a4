"""Training throughput against nanoGPT's own train.py at its CPU-recipe configuration, in one run.

nanoGPT is not part of charlm and is never committed: bring it yourself, outside this repository, with its
shakespeare_char data prepared there (train.bin, val.bin, meta.pkl; its prepare.py downloads the text, so write
those files from ../shared/data/tinyshakespeare.txt the way prepare.py does). Then:

    python bench/bench_nanogpt.py /tmp/nanogpt                  # 200 iterations each, threads 1
    python bench/bench_nanogpt.py /tmp/nanogpt --threads 2 --rounds 2

Each round runs, one after another (never at the same time):
  1. nanoGPT: ``train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
     --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=200
     --lr_decay_iters=200 --dropout=0.0`` (its "time X ms" per iteration is parsed);
  2. charlm's trainer (``charlm.train.train``) at the same model and batch: precision fp32, bf16, and bf16 with
     ``compile=True`` (step times from its events; the compiling steps fall among the first 10, not counted);
  3. the recommended fast path, built in bench_training.py from the same GPT class: fused AdamW, and fused AdamW
     + ``torch.compile`` (compile time excluded from tokens/s and reported separately).
Medians over iterations after the first 10 (nanoGPT's first iteration also runs its evaluation).
Thread count: ``torch.set_num_threads`` here, ``OMP_NUM_THREADS`` for nanoGPT's process.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import CORPUS, header, median
from bench_training import GPT_RECIPE, Variant

from charlm.data import load_corpus
from charlm.models import ModelConfig
from charlm.train import TrainConfig, train

BATCH = 12
SKIP = 10


def nanogpt_ms(root: Path, iters: int, threads: int) -> tuple[float, str]:
    cmd = [
        sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
        "--eval_iters=20", "--log_interval=1", "--block_size=64", f"--batch_size={BATCH}", "--n_layer=4",
        "--n_head=4", "--n_embd=128", f"--max_iters={iters}", f"--lr_decay_iters={iters}", "--dropout=0.0",
        f"--out_dir={tempfile.gettempdir()}/nanogpt-bench-out",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"nanoGPT failed ({out.returncode}):\n{out.stderr[-3000:]}")
    times = [float(m.group(1)) for m in re.finditer(r"^iter \d+: loss [\d.]+, time ([\d.]+)ms", out.stdout, re.M)]
    losses = re.findall(r"^iter (\d+): loss ([\d.]+)", out.stdout, re.M)
    return median(times[SKIP:]), f"iter {losses[-1][0]} loss {losses[-1][1]}"


def charlm_trainer_ms(
    corpus, iters: int, threads: int, precision: str = "fp32", compile: bool = False
) -> tuple[float, str]:
    torch.set_num_threads(threads)
    cfg = ModelConfig(vocab_size=corpus.vocab.size, **GPT_RECIPE)
    tcfg = TrainConfig(
        batch_size=BATCH, max_steps=iters, lr=1e-3, warmup_steps=100, eval_interval=10**9, eval_chars=20_000,
        precision=precision, device="cpu", compile=compile,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        steps = [(e.elapsed, e.loss) for e in train(corpus, cfg, tcfg, out) if e.kind == "step"]
    dts = [b[0] - a[0] for a, b in zip(steps[:-1], steps[1:], strict=True)]
    return median(dts[SKIP:]) * 1e3, f"step {len(steps)} loss {steps[-1][1]:.4f}"


def fast_path_ms(ids, vocab_size: int, iters: int, threads: int, compile: bool) -> tuple[float, str]:
    v = Variant("fast", GPT_RECIPE, vocab_size, BATCH, opt="fused", compile=compile, threads=threads)
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    for _ in range(3):
        v.step(ids)
    warm = time.perf_counter() - t0
    v.run(ids, iters - 3)
    ms = median(v.times) * 1e3
    note = f"compile+warm-up {warm - 3 * ms / 1e3:.1f} s" if compile else ""
    return ms, note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("nanogpt", nargs="?", default="/tmp/nanogpt", help="a nanoGPT checkout with data prepared")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    root = Path(args.nanogpt)
    if not (root / "train.py").is_file() or not (root / "data/shakespeare_char/train.bin").is_file():
        print(f"skipped: no nanoGPT checkout with prepared shakespeare_char data at {root} (see --help)")
        return
    corpus = load_corpus(CORPUS)
    train_ids, _ = corpus.split(0.1)
    header(f"nanoGPT train.py vs charlm at 4L/4H/128d, block 64, batch {BATCH}, {args.threads} thread(s)")
    runs: dict[str, list] = {}
    for _ in range(args.rounds):
        runs.setdefault("nanoGPT train.py (fp32 eager)", []).append(nanogpt_ms(root, args.iters, args.threads))
        runs.setdefault("charlm trainer, precision fp32", []).append(
            charlm_trainer_ms(corpus, args.iters, args.threads)
        )
        runs.setdefault("charlm trainer, precision bf16", []).append(
            charlm_trainer_ms(corpus, args.iters, args.threads, "bf16")
        )
        if not args.no_compile:
            runs.setdefault("charlm trainer, bf16 + compile (`--precision bf16 --compile`)", []).append(
                charlm_trainer_ms(corpus, args.iters, args.threads, "bf16", compile=True)
            )
        runs.setdefault("fast path: fused AdamW (eager)", []).append(
            fast_path_ms(train_ids, corpus.vocab.size, args.iters, args.threads, False)
        )
        if not args.no_compile:
            runs.setdefault("fast path: fused AdamW + torch.compile", []).append(
                fast_path_ms(train_ids, corpus.vocab.size, args.iters, args.threads, True)
            )
    base = median([r[0] for r in runs["nanoGPT train.py (fp32 eager)"]])
    print("| run | ms/iter | tokens/s | vs nanoGPT | note |")
    print("|---|---|---|---|---|")
    for name, rs in runs.items():
        ms = median([r[0] for r in rs])
        print(f"| {name} | {ms:.1f} | {BATCH * 64 / ms * 1e3:,.0f} | {base / ms:.2f}x | {rs[-1][1]} |")
    header("done")


if __name__ == "__main__":
    main()
