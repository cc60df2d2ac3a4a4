"""``python -m charlm search``: hyperparameter search with Optuna (sampler + pruner) within a time budget."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from charlm.cli.common import set_threads
from charlm.errors import CharlmError
from charlm.experiments.search import PRUNERS, SAMPLERS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="hyperparameter search (Optuna) over architecture, learning rate, width, depth and dropout",
        description="Trials of at most --trial-budget seconds until --time-budget seconds are spent; the pruner "
        "stops trials whose validation curve is worse than earlier ones at the same point. --json prints "
        "{trials: [{number, state, arch, optimizer, lr, width, depth, dropout, n_params, val_bpc, steps, "
        "seconds, checkpoint}], best: {...}}; only the best trial's checkpoint is kept. With --storage the trials "
        "join a shared study: run the same command in several processes or on several machines (README).",
    )
    p.add_argument("--data", required=True, help="text file to train on")
    p.add_argument("--time-budget", type=float, required=True, help="total seconds for the whole search")
    p.add_argument("--trial-budget", type=float, default=30.0, help="most seconds for one trial (default 30)")
    p.add_argument("--archs", default="gpt,lstm,gru", help="architectures to try (comma separated)")
    p.add_argument("--optimizers", default="adamw", help="optimizers to try (comma separated)")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    p.add_argument("--pruner", choices=PRUNERS, default="median")
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--out", required=True, help="folder for the trials (the best one's checkpoint is kept)")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="keep the study in shared storage: journal:PATH or PATH.journal (a journal file; several "
        "machines need it on a shared file system), sqlite:///search.db or any database URL Optuna "
        "supports (postgresql://user:pass@host/db); default: in memory, this process alone",
    )
    p.add_argument("--study", metavar="NAME", help="the study's name in --storage (default charlm); processes "
                   "given the same storage and name run trials of one study")  # fmt: skip
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run_search)


def run_search(args) -> int:
    from charlm.cli.compare import load_text_corpus
    from charlm.experiments.search import SearchSpace, search

    set_threads(args.threads)
    if args.study is not None and args.storage is None:
        raise CharlmError("--study names a study in shared storage: give --storage too")
    space = SearchSpace(archs=tuple(args.archs.split(",")), optimizers=tuple(args.optimizers.split(",")))
    corpus = load_text_corpus(args.data)
    reported = set()
    for ev in search(corpus, args.time_budget, args.trial_budget, args.out, space, sampler=args.sampler,
                     pruner=args.pruner, seed=args.seed, block_size=args.block_size, storage=args.storage,
                     study_name=args.study):  # fmt: skip
        for row in ev.rows:
            if row.state != "running" and row.number not in reported:
                reported.add(row.number)
                bpc = f"{row.val_bpc:.3f}" if row.val_bpc is not None else "-"
                print(f"trial {row.number}: {row.state}, {row.arch} width {row.width} depth {row.depth} lr "
                      f"{row.lr:.2g} dropout {row.dropout:.2f}: {bpc} bits/char", file=sys.stderr)  # fmt: skip
    result = {"trials": [asdict(r) for r in ev.rows], "best": asdict(ev.best) if ev.best else None}
    if args.storage is not None:
        result["study"] = {"storage": args.storage, "name": ev.study.study_name, "trials": len(ev.study.trials)}
    if args.json:
        print(json.dumps(result))
    elif ev.best is not None:
        b = ev.best
        print(f"best: trial {b.number} ({b.arch}, width {b.width}, depth {b.depth}, lr {b.lr:.2g}, dropout "
              f"{b.dropout:.2f}): {b.val_bpc:.3f} bits/char; checkpoint {b.checkpoint}")  # fmt: skip
    return 0
