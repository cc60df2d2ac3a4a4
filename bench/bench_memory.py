"""Peak memory (RSS) to load a 100 MB text and train a few steps on it, measured in subprocesses.

The text is tinyshakespeare repeated to --mb megabytes in a temporary file (deleted afterwards). Three child
processes, run one after another, smallest first, each reporting its own peak and read back by the parent with
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the largest peak of any finished child):

1. import torch and charlm only (the floor);
2. ``load_corpus`` of the 100 MB text (read, count characters, encode to uint16 ids, split);
3. the same, then the core trainer (``charlm.train.train``) for --steps steps of a GPT (--arch, --size preset),
   with one periodic evaluation capped at 20,000 characters, saving its checkpoints to a temp folder.

    python bench/bench_memory.py
    python bench/bench_memory.py --mb 100 --arch lstm --size medium --steps 10
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

from _common import CORPUS, REPO, header

CHILD = r"""
import resource, sys, tempfile, time
sys.path.insert(0, {repo!r})
import torch
from charlm.data import load_corpus
from charlm.models import preset_config
from charlm.train import TrainConfig, train
stage, path, arch, size, steps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
t0 = time.perf_counter()
if stage != "import":
    corpus = load_corpus(path)
    train_ids, val_ids = corpus.split(0.1)
    print(f"loaded {{corpus.n_chars:,}} chars ({{corpus.ids.nbytes / 1e6:.0f}} MB of ids) in "
          f"{{time.perf_counter() - t0:.1f}} s", flush=True)
if stage == "train":
    cfg = preset_config(arch, size, corpus.vocab.size)
    tcfg = TrainConfig(max_steps=steps, eval_interval=steps, eval_chars=20_000, device="cpu")
    with tempfile.TemporaryDirectory() as out:
        for e in train(corpus, cfg, tcfg, out):
            if e.kind == "done":
                print(f"trained {{e.step}} steps, loss {{e.val_loss:.3f}}, {{e.tokens_per_sec:,.0f}} tokens/s")
print(f"self peak {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}} MB")
"""


def make_text(path: str, mb: float) -> int:
    base = CORPUS.read_text(encoding="utf-8")
    target = int(mb * 1e6)
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < target:
            piece = base[: target - written]
            f.write(piece)
            written += len(piece.encode("utf-8"))
    return os.path.getsize(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--arch", default="gpt")
    ap.add_argument("--size", default="small")
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    header(f"peak RSS: load a {args.mb:.0f} MB text and train {args.steps} steps ({args.arch} {args.size})")
    fd, path = tempfile.mkstemp(suffix=".txt", prefix="charlm-mem-")
    os.close(fd)
    try:
        size = make_text(path, args.mb)
        print(f"# text: {size / 1e6:.1f} MB (tinyshakespeare repeated), {path}")
        print("| stage | peak RSS (MB, RUSAGE_CHILDREN) | wall (s) | child output |")
        print("|---|---|---|---|")
        code = CHILD.format(repo=str(REPO))
        for stage in ("import", "load", "train"):
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", code, stage, path, args.arch, args.size, str(args.steps)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            wall = time.perf_counter() - t0
            if out.returncode != 0:
                raise SystemExit(f"{stage} failed:\n{out.stderr[-3000:]}")
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
            lines = "; ".join(line for line in out.stdout.splitlines() if line.strip())
            print(f"| {stage} | {peak:,.0f} | {wall:.1f} | {lines} |")
    finally:
        os.unlink(path)
    header("done")


if __name__ == "__main__":
    main()
