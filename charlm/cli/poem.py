"""``python -m charlm poem``: one five-character quatrain for a title (or a first line), with its form check."""

from __future__ import annotations

import argparse
import json
import sys

from charlm.cli.common import add_inference_flags, load_for_inference


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("poem", help="write a five-character quatrain (五言绝句) for a title",
                       description="Write one quatrain with a model trained on the built-in Chinese poems. Titles "
                       "may be typed in simplified characters (converted with OpenCC).")  # fmt: skip
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (e.g. checkpoints/tang-poems-gru)")
    p.add_argument("--title", default="", help="the poem's title, simplified or traditional")
    p.add_argument("--first-line", default="", help="the poem's first line (five characters), optional")
    p.add_argument("--constrained", action="store_true",
                   help="sample under the form: only Han characters at the five positions of each line, the "
                   "right punctuation after them, and the end after the fourth line")  # fmt: skip
    p.add_argument("--script", choices=["traditional", "simplified"], default="traditional",
                   help="the script of the poem shown (the model writes traditional characters)")  # fmt: skip
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    p.add_argument("--top-k", type=int, default=0, help="0 = off")
    p.add_argument("--top-p", type=float, default=1.0, help="1 = off")
    p.add_argument("--seed", type=int, help="same seed, same poem")
    p.add_argument("--json", action="store_true", help="print one JSON object (poem, form check, notices)")
    add_inference_flags(p, int8_default=True)
    p.set_defaults(func=run_poem)


def run_poem(args) -> int:
    from charlm.generation.settings import Sampling
    from charlm.poetry import write_poem

    loaded = load_for_inference(args, work="decode")
    result = write_poem(loaded, args.title, args.first_line, constrained=args.constrained, script=args.script,
                        sampling=Sampling(args.temperature, args.top_k, args.top_p, seed=args.seed))  # fmt: skip
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    print(f"{result.title}:{result.poem}")
    print(f"form check: {result.form.summary()}", file=sys.stderr)
    return 0
