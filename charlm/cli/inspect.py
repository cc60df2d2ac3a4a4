"""``python -m charlm inspect``: per-character surprise, attention or hidden state, and character vectors."""

from __future__ import annotations

import argparse
import json
import sys

from charlm.cli.common import add_inference_flags, load_for_inference
from charlm.inspection import MAX_CHARS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="see inside a model: surprise per character, attention (GPT) or hidden state (RNNs), char vectors",
        description=f"Inspect a model on a short text (at most {MAX_CHARS:,} characters). --json prints one object: "
        "bpc; chars (one entry per predicted character: char, prob, top5); attention[layer][head][query][key] "
        "for a GPT (the first block_size characters) or hidden[position][unit] for a recurrent model (last "
        "layer) with the units that track simple features; embedding (chars, xy, explained_variance, classes, "
        "neighbours).",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (or a training --out folder)")
    p.add_argument("--text", required=True, metavar="FILE", help="text file to inspect ('-' reads stdin)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_inference_flags(p)
    p.set_defaults(func=run_inspect)


def _read(path: str) -> str:
    from charlm.text import check_text, read_text

    if path == "-":
        return check_text(sys.stdin.read(), "standard input")
    return read_text(path)


def _print_summary(report) -> None:
    s = report.surprise
    print(f"{len(s.chars)} characters predicted: {s.bpc:.4f} bits/char")
    print("most surprising (position, character, probability, the model's top 3):")
    for row in report.most_surprising():
        guesses = ", ".join(f"{c!r} {p:.2f}" for c, p in row["top5"][:3])
        print(f"  {row['position']:5d}  {row['char']!r:6} {row['prob']:.4f}   {guesses}")
    if report.attention is not None:
        w = report.attention.weights
        print(f"attention: {w.shape[0]} layers x {w.shape[1]} heads over {w.shape[2]} characters "
              f"(recorded weights reproduce the forward pass to {report.attention.max_error:.1e})")  # fmt: skip
    for row in report.units[:8]:
        print(f"  unit {row['unit']:4d}  r = {row['correlation']:+.3f}  {row['feature']}")
    ev = report.embedding["explained_variance_ratio"]
    tied = " (the GPT's output layer is the same table)" if report.embedding["tied"] else ""
    print(f"character vectors: PCA explains {ev[0]:.1%} + {ev[1]:.1%} of the variance{tied}")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)


def run_inspect(args) -> int:
    from charlm.inspection import inspect_text

    loaded = load_for_inference(args)
    report = inspect_text(loaded, _read(args.text))
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        _print_summary(report)
    return 0
