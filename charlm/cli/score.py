"""``python -m charlm score``: loss, bits per char and perplexity of a text under a model."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from charlm.cli.common import MAX_CHARS_ENV, add_inference_flags, env_cap, load_models
from charlm.errors import DataError


def add_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("score", help="loss, bits per char and perplexity of a text under a model")
    c.add_argument("--checkpoint", required=True, action="append",
                   help="checkpoint folder; repeat it to score the ensemble (the mean of the models' next-character "
                   "distributions) and each member (under 'members')")  # fmt: skip
    c.add_argument("--text", required=True, help="text file to score")
    c.add_argument("--val-split", action="store_true", help="score only the last 10%% (the validation split)")
    c.add_argument("--json", action="store_true")
    add_inference_flags(c)
    c.set_defaults(func=run_score)


def run_score(args) -> int:
    from charlm.data import val_start
    from charlm.score import score_text
    from charlm.text import read_text

    loaded, members = load_models(args, work="score")
    text = read_text(args.text)
    if args.val_split:  # the last 10%, exactly as the trainer's split cuts it
        text = text[val_start(len(text)) :]
    if len(text) < 2:
        raise DataError(f"{Path(args.text).name} is too short to score")
    res = score_text(loaded, text, max_chars=env_cap(MAX_CHARS_ENV))
    if members:
        res["members"] = [{"checkpoint": path, "name": m.name} | score_text(m, text, max_chars=env_cap(MAX_CHARS_ENV))
                          for path, m in zip(args.checkpoint, members, strict=True)]  # fmt: skip
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
    else:
        for label, r in [("ensemble" if members else "", res)] + [(m["name"], m) for m in res.get("members", [])]:
            print(
                (f"{label}: " if label else "")
                + f"{r['n_chars']} characters: loss {r['loss']:.4f} nats/char, {r['bpc']:.4f} bits/char, "
                f"perplexity {r['perplexity']:.3f}, top-1 {r['top1']:.1%}, top-5 {r['top5']:.1%}"
            )
        if unknown := res["unknown_chars"]:
            print(f"{len(unknown)} distinct characters unknown to the model were not scored", file=sys.stderr)
    if not math.isfinite(res["loss"]):
        raise DataError("nothing could be scored (no known characters)")
    return 0
