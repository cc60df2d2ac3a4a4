"""Quality per time: validation loss on tinyshakespeare after a wall-clock training budget.

Trains with the core trainer (``charlm.train.train``, its own schedule: warm-up then cosine to the time budget)
on the first 90% of tinyshakespeare, then scores the final weights on the WHOLE validation split (the last 10%,
nanoGPT's split) with ``charlm.score.score_ids``: mean loss per character, nats (and bits). Periodic evaluation
is off by default so the budget is spent training (--eval-interval to turn it on); the final scoring is not
counted in the budget.

    python bench/bench_quality.py --budget 90 --arch lstm --size small
    python bench/bench_quality.py --budget 90,300 --arch gpt --size small --lr 3e-3 --batch-size 32
    python bench/bench_quality.py --budget 90 --arch lstm --size small --block-size 64 --lr 3e-3 --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from _common import CORPUS, header

from charlm.data import load_corpus
from charlm.models import ARCHS, count_parameters, preset_config
from charlm.score import score_ids
from charlm.storage.checkpoint import load_checkpoint
from charlm.train import TrainConfig, train


def run(corpus, args, budget: float) -> dict:
    overrides = dict(
        block_size=args.block_size, n_layer=args.n_layer, n_embd=args.n_embd, n_head=args.n_head,
        hidden_size=args.hidden_size, dropout=args.dropout,
    )  # fmt: skip
    mcfg = preset_config(args.arch, args.size, corpus.vocab.size, **overrides)
    kw = dict(lr=args.lr, warmup_steps=args.warmup, batch_size=args.batch_size, weight_decay=args.weight_decay,
              min_lr_ratio=args.min_lr_ratio)  # fmt: skip
    kw = {k: v for k, v in kw.items() if v is not None}
    tcfg = TrainConfig(
        max_steps=None, time_budget=budget, eval_interval=args.eval_interval, eval_chars=20_000,
        precision=args.precision, seed=args.seed, device=args.device, **kw,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        final = None
        for ev in train(corpus, mcfg, tcfg, out):
            final = ev
        summary = final.summary
        loaded = load_checkpoint(f"{out}/last")
        _, val_ids = corpus.split(0.1)
        t0 = time.perf_counter()
        res = score_ids(loaded.model, val_ids)
        score_s = time.perf_counter() - t0
    return {
        "config": mcfg,
        "train": tcfg,
        "params": count_parameters(loaded.model),
        "steps": summary["steps"],
        "elapsed": summary["elapsed_sec"],
        "tokens_per_sec": summary.get("tokens_per_sec"),
        "precision": summary["precision"],
        "val": res,
        "score_s": score_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", default="90", help="seconds of training; comma-separated for several runs")
    ap.add_argument("--arch", choices=ARCHS, default="lstm")
    ap.add_argument("--size", default="small", help="preset: tiny, small, medium")
    ap.add_argument("--lr", type=float, default=None, help="default: the trainer's")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--weight-decay", type=float, default=None, help="default: the trainer's")
    ap.add_argument("--min-lr-ratio", type=float, default=None, help="cosine floor / peak; default: the trainer's")
    ap.add_argument("--block-size", type=int, default=None)
    ap.add_argument("--n-layer", type=int, default=None)
    ap.add_argument("--n-embd", type=int, default=None)
    ap.add_argument("--n-head", type=int, default=None)
    ap.add_argument("--hidden-size", type=int, default=None)
    ap.add_argument("--dropout", type=float, default=None)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--eval-interval", type=int, default=10**9)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = load_corpus(CORPUS)
    header("quality per time: whole-validation-split loss after a training budget")
    print("| budget (s) | arch/preset | params | precision | steps | tokens/s | val loss (nats/char) | val bpc |")
    print("|---|---|---|---|---|---|---|---|")
    for budget in [float(b) for b in args.budget.split(",")]:
        r = run(corpus, args, budget)
        c, t = r["config"], r["train"]
        desc = (
            f"{c.arch} {args.size} ({c.n_layer}L, {c.n_embd if c.arch == 'gpt' else c.hidden_size} wide, "
            f"block {c.block_size}, batch {t.batch_size}, lr {t.lr:g}, wd {t.weight_decay:g}, "
            f"floor {t.min_lr_ratio:g}, "
            f"dropout {c.dropout:g})"
        )
        tps = f"{r['tokens_per_sec']:,.0f}" if r["tokens_per_sec"] else ""
        print(
            f"| {budget:g} | {desc} | {r['params'] / 1e6:.2f}M | {r['precision']} | {r['steps']:,} | {tps} | "
            f"**{r['val']['loss']:.4f}** | {r['val']['bpc']:.4f} |"
        )
        print(f"# scored {r['val']['n_chars']:,} validation chars in {r['score_s']:.1f} s")
    header("done")


if __name__ == "__main__":
    main()
