"""``python -m charlm compare``: several architectures/optimizers on one text and one time budget each."""

from __future__ import annotations

import argparse
import json
import sys

from charlm.cli.common import set_threads
from charlm.models import PRESETS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="train several architectures/optimizers one after another on the same text and time budget",
        description="Each --run (arch[:optimizer[:lr]], e.g. gpt, lstm:sgd, gru:adam:0.01) trains for --time-budget "
        "seconds from the same seed, validating every tenth of its budget. --json prints {runs: [{label, arch, "
        "optimizer, lr, n_params, steps, elapsed, tokens_per_sec, best_val_bpc, curve: [[seconds, bpc], ...], "
        "sample, checkpoint}], best}.",
    )
    p.add_argument("--data", required=True, help="text file to train on")
    p.add_argument("--run", action="append", required=True, metavar="ARCH[:OPT[:LR]]", help="a run; repeat it")
    p.add_argument("--time-budget", type=float, required=True, help="seconds of training for each run")
    p.add_argument("--size", choices=list(PRESETS["gpt"]), default="tiny", help="size preset for every run")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--out", required=True, help="folder for the runs' checkpoints (one subfolder per run)")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run_compare)


def load_text_corpus(path: str):
    from pathlib import Path

    from charlm.data import build_corpus
    from charlm.text import read_text

    return build_corpus(read_text(path), name=Path(path).name)


def run_compare(args) -> int:
    from charlm.experiments.compare import RunSpec, compare, summary

    set_threads(args.threads)
    specs = [RunSpec.parse(r) for r in args.run]
    corpus = load_text_corpus(args.data)
    for ev in compare(corpus, specs, args.time_budget, args.out, size=args.size, batch_size=args.batch_size,
                      seed=args.seed):  # fmt: skip
        if ev.kind == "run_done":
            r = ev.results[ev.index]
            bpc = f"{r.best_val_bpc:.3f}" if r.best_val_bpc is not None else "-"
            print(f"{r.label}: {r.steps} steps, {r.n_params:,} params, {r.tokens_per_sec or 0:,.0f} tokens/s, best "
                  f"validation {bpc} bits/char", file=sys.stderr)  # fmt: skip
    result = summary(ev.results)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{'run':<24} {'params':>9} {'tokens/s':>9} {'best bpc':>9}  sample")
        for r in result["runs"]:
            bpc = f"{r['best_val_bpc']:.3f}" if r["best_val_bpc"] is not None else "-"
            sample = r["sample"][:40].replace("\n", "⏎")
            print(f"{r['label']:<24} {r['n_params']:>9,} {r['tokens_per_sec'] or 0:>9,.0f} {bpc:>9}  {sample}")
        print(f"best: {result['best']}")
    return 0
