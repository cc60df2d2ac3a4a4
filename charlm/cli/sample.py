"""``python -m charlm sample``: stream text from a checkpoint."""

from __future__ import annotations

import argparse
import sys

from charlm.cli.common import add_inference_flags, load_models
from charlm.errors import CharlmError


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sample", help="stream text from a checkpoint")
    s.add_argument("--checkpoint", required=True, action="append",
                   help="checkpoint folder (or a training --out folder); repeat it to sample from the ensemble "
                   "(the mean of the models' next-character distributions)")  # fmt: skip
    s.add_argument("--prompt", default="", help="text to continue ('' starts fresh)")
    s.add_argument("--prompt-file", help="read the prompt from a file instead")
    s.add_argument("--max-new-chars", type=int, default=500)
    s.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    s.add_argument("--top-k", type=int, default=0, help="0 = off")
    s.add_argument("--top-p", type=float, default=1.0, help="1 = off")
    s.add_argument("--seed", type=int, help="same seed, same text")
    s.add_argument(
        "--stop", action="append", default=[], help="stop before this string (repeatable; \\n, \\t are escapes)"
    )
    add_inference_flags(s)
    s.set_defaults(func=run_sample)


def run_sample(args) -> int:
    from charlm.sample import check_sampling, generate
    from charlm.text import read_text
    from charlm.vocab import describe_chars

    try:
        check_sampling(args.temperature, args.top_k, args.top_p, args.max_new_chars)
    except ValueError as exc:
        raise CharlmError(str(exc)) from None
    loaded, _ = load_models(args)
    prompt = read_text(args.prompt_file) if args.prompt_file else args.prompt
    unknown = loaded.vocab.encode(prompt).unknown
    if unknown:
        print(
            f"note: the model does not know {describe_chars(unknown)}; they are read as 'unknown'",
            file=sys.stderr,
        )
    for piece in generate(
        loaded,
        prompt,
        max_new_chars=args.max_new_chars,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        stop=[s.replace("\\n", "\n").replace("\\t", "\t") for s in args.stop],
    ):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
