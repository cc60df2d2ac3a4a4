"""Build charlm.recipes.RECIPES: train a few candidate recipes per time budget, keep the best per budget.

Each candidate trains with the core trainer (its schedule: warm-up, then cosine to the budget) on the first 90% of
tinyshakespeare, validation off during the run (the whole budget trains), then its final weights are scored on
the WHOLE validation split (nats/char). Candidates run one after another with the same thread count; the
machine's load is printed with each result. At the end the best candidate per budget is printed as the Python
rows to paste into ``charlm/recipes.py``.

    python bench/bench_recipes.py --budgets 30,90          # the table's 30-s and 90-s rows (~10 min)
    python bench/bench_recipes.py --budgets 300 --only gru  # one budget, some candidates

Issue 20's ablation (Muon and the GPT switches, one at a time and all together) is a set of candidates here too:

    python bench/bench_recipes.py --budgets 90 --only gpt-tiny,gru-tiny-b64 --threads 1
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
import time

import torch
from _common import CORPUS, header

from charlm.data import load_corpus
from charlm.models import preset_config
from charlm.score import score_ids
from charlm.storage.checkpoint import load_checkpoint
from charlm.train import TrainConfig, train

# name: (arch, size, block, batch, lr, weight decay, min-lr-ratio, warm-up[, optimizer[, model switches[, training
# settings]]]). The GRU
# rows come from the 90-s/5-min study in docs/benchmarks.md; the GPT and LSTM rows are the trainer's previous
# defaults, for comparison; the -muon rows and the GPT switch rows are issue 20's ablation (Muon's rates from
# bench_optimizers.py, the switches one at a time on the GPT tiny row, then all of them with Muon).
MUON_LR = {"gpt": 3e-2, "gru": 5e-2}
SWITCHES = {"relu2": {"mlp": "relu2"}, "qknorm": {"qk_norm": True}, "zeroinit": {"zero_init": True},
            "cap": {"logit_cap": 15.0}}  # fmt: skip
ALL_SWITCHES = {k: v for switch in SWITCHES.values() for k, v in switch.items()}
VE = {"value_embeds": True}
WSD = {"schedule": "wsd", "warmdown": 0.3}
AVG = {"average_last": 0.2}
NEW = {
    "ve": (VE, {}),
    "wsd": ({}, WSD),
    "avg": ({}, AVG),
    "wsd-avg": ({}, WSD | AVG),
    "ve-avg": (VE, AVG),
    "ve-wsd-avg": (VE, WSD | AVG),
}
CANDIDATES = {
    "gru-small-b64": ("gru", "small", 64, 64, 2e-2, 0.2, 0.01, 50),
    "gru-small-b32": ("gru", "small", 64, 32, 1.5e-2, 0.1, 0.1, 50),
    "gru-tiny-b64": ("gru", "tiny", 64, 64, 2e-2, 0.2, 0.01, 50),
    "lstm-small": ("lstm", "small", 64, 32, 1.5e-2, 0.1, 0.1, 50),
    "gpt-small": ("gpt", "small", 64, 32, 3e-3, 0.1, 0.1, 50),
    "gru-tiny-b64-muon": ("gru", "tiny", 64, 64, MUON_LR["gru"], 0.2, 0.01, 50, "muon"),
    "gru-small-b64-muon": ("gru", "small", 64, 64, MUON_LR["gru"], 0.2, 0.01, 50, "muon"),
    "gpt-tiny": ("gpt", "tiny", 64, 32, 3e-3, 0.1, 0.1, 50),
    "gpt-tiny-muon": ("gpt", "tiny", 64, 32, MUON_LR["gpt"], 0.1, 0.1, 50, "muon"),
    **{f"gpt-tiny-{k}": ("gpt", "tiny", 64, 32, 3e-3, 0.1, 0.1, 50, "adamw", v) for k, v in SWITCHES.items()},
    "gpt-tiny-muon-all": ("gpt", "tiny", 64, 32, MUON_LR["gpt"], 0.1, 0.1, 50, "muon", ALL_SWITCHES),
    **{
        f"gpt-tiny-muon+{k}": ("gpt", "tiny", 64, 32, MUON_LR["gpt"], 0.1, 0.1, 50, "muon", v)
        for k, v in SWITCHES.items()
    },
    # Issue 20, second part: value embeddings, the WSD warm-down and the average of the last weights, one at a
    # time and together, on the GPT and on the recipe's GRUs; Muon's rate for longer runs (the grid's 150 steps
    # favour high rates).
    "gpt-tiny-ve": ("gpt", "tiny", 64, 32, 3e-3, 0.1, 0.1, 50, "adamw", VE),
    **{
        f"gpt-tiny-muon+{k}": ("gpt", "tiny", 64, 32, MUON_LR["gpt"], 0.1, 0.1, 50, "muon", sw, tr)
        for k, (sw, tr) in NEW.items()
    },  # fmt: skip
    **{
        f"gru-tiny-b64-muon+{k}": ("gru", "tiny", 64, 64, MUON_LR["gru"], 0.2, 0.01, 50, "muon", {}, tr)
        for k, (sw, tr) in NEW.items()
        if not sw
    },  # fmt: skip
    **{
        f"gru-{size}-b64-muon-lr{lr:g}": ("gru", size, 64, 64, lr, 0.2, 0.01, 50, "muon")
        for size in ("tiny", "small")
        for lr in (1e-2, 2e-2, 3e-2)
    },  # fmt: skip
    **{
        f"gru-{size}-b64-muon-lr0.02+{k}": ("gru", size, 64, 64, 2e-2, 0.2, 0.01, 50, "muon", {}, tr)
        for size in ("tiny", "small")
        for k, (sw, tr) in NEW.items()
        if not sw
    },  # fmt: skip
    **{
        f"gru-small-b64+{k}": ("gru", "small", 64, 64, 2e-2, 0.2, 0.01, 50, "adamw", {}, tr)
        for k, (sw, tr) in NEW.items()
        if not sw
    },  # fmt: skip
}


def run(corpus, name: str, budget: float | None, threads: int, seed: int, steps: int | None = None) -> dict:
    """Train one candidate for ``budget`` seconds (or exactly ``steps`` steps) and score it on the whole split."""
    arch, size, block, batch, lr, wd, floor, warmup, *extra = CANDIDATES[name]
    optimizer = extra[0] if extra else "adamw"
    switches = extra[1] if len(extra) > 1 else {}
    settings = extra[2] if len(extra) > 2 else {}
    mcfg = preset_config(arch, size, corpus.vocab.size, block_size=block, **switches)
    cfg = TrainConfig(max_steps=steps, time_budget=None if steps else budget, eval_interval=10**9, lr=lr,
                      batch_size=batch,
                      weight_decay=wd, min_lr_ratio=floor, warmup_steps=warmup, seed=seed,
                      optimizer=optimizer, **settings)  # fmt: skip
    load_before, t0 = os.getloadavg()[0], time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        final = None
        for ev in train(corpus, mcfg, cfg, out):
            final = ev
        model = load_checkpoint(f"{out}/last").model
    seconds = time.perf_counter() - t0
    _, val_ids = corpus.split(0.1)
    loss = score_ids(model, val_ids)["loss"]
    return {"name": name, "budget": budget, "loss": loss, "steps": final.summary["steps"], "threads": threads,
            "seconds": seconds,
            "load": f"{load_before:.1f}-{os.getloadavg()[0]:.1f}",
            "row": (arch, size, block, batch, lr, wd, floor, warmup, optimizer, switches, settings)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", default="30,90", help="seconds, comma separated")
    ap.add_argument("--only", default="", help="candidates whose name contains this (comma separated)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: fair on a shared 2-core machine)")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--exact", action="store_true", help="--only names whole candidates, run in the order given")
    ap.add_argument("--steps", type=int, help="train each candidate for exactly this many steps instead (quality per "
                    "step, which the machine's load does not change; the seconds column shows the cost)")  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    corpus = load_corpus(CORPUS)
    wanted = args.only.split(",") if args.only else []
    if args.exact:  # these candidates, in this order (to run a pair in the other order)
        names = [n for n in wanted if n in CANDIDATES]
    else:
        names = [n for n in CANDIDATES if not wanted or any(o in n for o in wanted)]
    header("default recipes: validation loss after a time budget, per candidate")
    print("| budget (s) | candidate | steps | seconds | val loss (nats/char) | load (1-min, before-after) |")
    print("|---|---|---|---|---|---|")
    best = {}
    for budget in [float(b) for b in args.budgets.split(",")] if not args.steps else [0.0]:
        for name in names:
            r = run(corpus, name, budget, args.threads, args.seed, args.steps)
            print(f"| {budget:g} | {name} | {r['steps']:,} | {r['seconds']:.0f} | {r['loss']:.4f} | {r['load']} |",
                  flush=True)  # fmt: skip
            if budget not in best or r["loss"] < best[budget]["loss"]:
                best[budget] = r
    day = datetime.date.today().isoformat()
    print("\n# rows for charlm/recipes.py RECIPES:")
    for budget, r in sorted(best.items()):
        arch, size, block, batch, lr, wd, floor, warmup, optimizer, switches, settings = r["row"]
        extra = f', optimizer="{optimizer}"' + (f", switches={switches!r}" if switches else "")
        extra += "".join(f", {k}={v!r}" for k, v in settings.items())
        print(f'    Recipe({budget:g}, "{arch}", "{size}", {block}, {batch}, {lr:g}, {wd:g}, {floor:g}, {warmup}, '
              f'{r["threads"]}, {r["loss"]:.4f}, "{day}, load {r["load"]}"{extra}),')  # fmt: skip
    header("done")


if __name__ == "__main__":
    main()
