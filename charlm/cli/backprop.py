"""``python -m charlm backprop``: one backprop step (or N training steps) from a JSON spec."""

from __future__ import annotations

import argparse
import json

from charlm.backprop import SpecError, parse_spec, step, train
from charlm.backprop.presets import PRESETS, preset
from charlm.backprop.trace import build_trace, fmt, trace_text
from charlm.errors import DataError
from charlm.text import read_text

MAX_SPEC_BYTES = 1_000_000  # a network small enough to print fits in far less


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``backprop`` sub-command."""
    p = subparsers.add_parser(
        "backprop",
        help="show every number of one backpropagation step for a small network",
        description="Forward pass, loss, backward pass and SGD update for a fully connected network given "
        'as a JSON spec: {"layers": [3, 2, 1], "activations": ["relu", "linear"], '
        '"weights": [W1, W2] (each [out, in]), "biases": [b1, b2], "input": [...], '
        '"target": [...], "loss": "half_sse"|"mse"|"softmax_ce", "lr": 0.1}.',
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec", metavar="FILE", help="JSON spec file ('-' reads stdin)")
    src.add_argument("--preset", metavar="NAME", help=f"a built-in network: {', '.join(PRESETS)}")
    p.add_argument("--json", action="store_true", help="print the computed quantities as JSON")
    p.add_argument(
        "--steps",
        type=int,
        default=0,
        metavar="N",
        help="train N SGD steps and print the loss curve (the trace is then of the trained net)",
    )
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> dict | str:
    if args.preset is not None:
        return preset(args.preset)
    if args.spec == "-":
        import sys

        return sys.stdin.read()
    try:  # charlm.text's reader: a UTF-16 or BOM-marked spec reads as any other text file does
        return read_text(args.spec, max_bytes=MAX_SPEC_BYTES)
    except DataError as exc:
        raise SpecError(f"cannot read the spec file: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """Print the trace (or JSON); training first when --steps is given."""
    spec = parse_spec(_load(args))
    curve: list[float] = []
    if args.steps:
        spec, curve = train(spec, args.steps)
    result = step(spec)
    if args.json:
        out = result.to_json()
        if args.steps:
            out["loss_curve"] = curve
            out["trained_spec"] = spec.to_dict()
        print(json.dumps(out, indent=1))
        return 0
    if curve:
        print(f"trained {args.steps} steps: loss {fmt(curve[0])} -> {fmt(curve[-1])}")
        every = max(1, len(curve) // 20)
        for i in range(0, len(curve), every):
            print(f"  step {i:6d}  loss {fmt(curve[i])}")
        print()
    print(trace_text(build_trace(result)))
    return 0
