"""``python -m charlm sample``: stream text from a checkpoint (one text, or several decoded as one batch)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from charlm.cli.common import add_inference_flags, load_models
from charlm.errors import CharlmError

MAX_SAMPLES = 256  # rows of one batch: each holds a key/value cache (GPT) or a state


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
    s.add_argument("--seed", type=int, help="same seed, same text (sample i of --num-samples uses seed + i)")
    s.add_argument("--num-samples", type=int, default=1, metavar="N",
                   help=f"N continuations, decoded together in one batch (at most {MAX_SAMPLES})")  # fmt: skip
    s.add_argument("--beam", type=int, default=0, metavar="N",
                   help="beam search with N beams: the N most probable continuations (1 = greedy; ignores the "
                   "temperature, top-k, top-p and seed)")  # fmt: skip
    s.add_argument(
        "--stop", action="append", default=[], help="stop before this string (repeatable; \\n, \\t are escapes)"
    )
    add_inference_flags(s, int8_default=True)
    s.set_defaults(func=run_sample)


def run_sample(args) -> int:
    from charlm.generation.batched import DecodingEngine
    from charlm.generation.sample import generate, text_until_stop
    from charlm.generation.settings import Sampling
    from charlm.text import read_text
    from charlm.vocab import describe_chars

    stop = tuple(s.replace("\\n", "\n").replace("\\t", "\t") for s in args.stop)
    sampling = Sampling(args.temperature, args.top_k, args.top_p, args.max_new_chars, args.seed, stop)
    n = args.num_samples
    if not 1 <= n <= MAX_SAMPLES:
        raise CharlmError(f"--num-samples must be between 1 and {MAX_SAMPLES}, not {n}")
    loaded, members = load_models(args, work="decode")
    prompt = read_text(args.prompt_file) if args.prompt_file else args.prompt
    unknown = loaded.vocab.encode(prompt).unknown
    if unknown:
        print(
            f"note: the model does not know {describe_chars(unknown)}; they are read as 'unknown'",
            file=sys.stderr,
        )
    if args.beam:
        return _run_beam(args, loaded, prompt, stop)
    runs = [replace(sampling, seed=None if args.seed is None else args.seed + i) for i in range(n)]
    if members:  # an ensemble has no batched step: its samples are drawn one after another
        streams = [generate(loaded, prompt, s) for s in runs]
    else:  # all N decode together, stepped by this thread as it prints (no background thread: nothing to hand over)
        engine = DecodingEngine(loaded.model, capacity=n, background=False)
        streams = [text_until_stop(engine.submit(loaded.vocab, prompt, s).ids(), loaded.vocab.chars, s.stop)
                   for s in runs]  # fmt: skip
    for i, pieces in enumerate(streams):
        if n > 1:
            sys.stdout.write(f"{'' if i == 0 else chr(10)}--- sample {i + 1} of {n} ---\n")
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
    return 0


def _run_beam(args, loaded, prompt: str, stop: tuple[str, ...]) -> int:
    """``--beam N``: print the best continuation (or the best ``--num-samples``), each with its log-probability."""
    from charlm.generation.beam import beam_search

    try:
        beams = beam_search(loaded.model, loaded.vocab, prompt, args.beam, args.max_new_chars)
    except ValueError as exc:
        raise CharlmError(str(exc)) from None
    for i, beam in enumerate(beams[: args.num_samples]):
        text = beam.text
        for s in stop:
            if s and s in text:
                text = text[: text.index(s)]
        sys.stdout.write(f"{'' if i == 0 else chr(10)}--- beam {i + 1}: log-probability {beam.logprob:.3f} ---\n")
        sys.stdout.write(text + "\n")
    return 0
