"""CLI commands for language models: ``train``, ``sample`` and ``score``."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from pathlib import Path

from charlm.errors import CharlmError, DataError


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a model on a text file", description="Train a character-level LM.")
    t.add_argument("--data", required=True, help="UTF-8 (or UTF-16 with BOM) text file")
    t.add_argument("--arch", choices=["gpt", "lstm", "gru", "rnn"], default="gpt")
    t.add_argument("--size", choices=["tiny", "small", "medium"], default="small", help="size preset")
    t.add_argument("--out", required=True, help="output folder (best/ and last/ checkpoints)")
    t.add_argument("--name", help="model name stored in the checkpoint")
    t.add_argument("--time-budget", type=float, help="seconds of training (wall clock)")
    t.add_argument("--max-steps", type=int, help="optimizer steps (default 2000 without a time budget)")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last exactly where it stopped")
    for flag, typ, hlp in [
        ("--n-layer", int, "layers"),
        ("--n-embd", int, "embedding width"),
        ("--n-head", int, "GPT heads"),
        ("--hidden-size", int, "recurrent hidden units"),
        ("--block-size", int, "context / training window"),
        ("--dropout", float, "dropout probability"),
        ("--batch-size", int, "sequences per step (default 32)"),
        ("--lr", float, "peak learning rate"),
        ("--warmup-steps", int, "linear warm-up steps (default 50)"),
        ("--weight-decay", float, "AdamW weight decay (default 0.1)"),
        ("--min-lr-ratio", float, "where the cosine ends, as a share of the peak rate (default 0.1)"),
        ("--eval-interval", int, "steps between validations (default 250)"),
        ("--eval-chars", int, "validation characters per periodic evaluation (default 200000)"),
        ("--val-fraction", float, "validation share, taken from the end (default 0.1)"),
        ("--seed", int, "random seed (default 1337)"),
    ]:
        t.add_argument(flag, type=typ, help=hlp)
    t.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    t.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="bf16 autocast; auto uses it where it was measured to pay (wide models, native bf16)",
    )
    t.add_argument("--compile", action="store_true", help="torch.compile the model (pays on runs of many minutes)")
    t.add_argument("--threads", type=int, help="torch threads (default: torch's; 1 is often faster on a busy CPU)")
    t.add_argument("--json", action="store_true", help="print a JSON summary as the last line of stdout")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train)

    s = sub.add_parser("sample", help="stream text from a checkpoint")
    s.add_argument("--checkpoint", required=True, help="checkpoint folder (or a training --out folder)")
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
    s.add_argument("--device", default="auto")
    s.add_argument("--int8", action="store_true", help="int8 dynamic quantization for CPU inference")
    s.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    s.set_defaults(func=run_sample)

    c = sub.add_parser("score", help="loss, bits per char and perplexity of a text under a model")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--text", required=True, help="text file to score")
    c.add_argument("--val-split", action="store_true", help="score only the last 10%% (the validation split)")
    c.add_argument("--device", default="auto")
    c.add_argument("--json", action="store_true")
    c.add_argument("--int8", action="store_true", help="int8 dynamic quantization for CPU inference")
    c.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    c.set_defaults(func=run_score)


def _model_config(args, vocab_size: int):
    from charlm.models import preset_config

    try:
        return preset_config(
            args.arch,
            args.size,
            vocab_size,
            n_layer=args.n_layer,
            n_embd=args.n_embd,
            n_head=args.n_head,
            hidden_size=args.hidden_size,
            block_size=args.block_size,
            dropout=args.dropout,
        )
    except ValueError as exc:
        raise CharlmError(str(exc)) from None


def run_train(args) -> int:
    from tqdm import tqdm

    from charlm.data import load_corpus
    from charlm.distributed import env_info
    from charlm.train import DEFAULT_LR, TrainConfig, train

    is_main = env_info().is_main  # under torchrun, rank 0 alone prints

    _set_threads(args.threads)
    corpus = load_corpus(args.data)
    max_steps = args.max_steps if args.max_steps is not None or args.time_budget else 2000
    overrides = {
        k: getattr(args, k)
        for k in (
            "batch_size",
            "warmup_steps",
            "weight_decay",
            "min_lr_ratio",
            "eval_interval",
            "eval_chars",
            "val_fraction",
            "seed",
        )
        if getattr(args, k) is not None
    }
    cfg = TrainConfig(
        max_steps=max_steps,
        time_budget=args.time_budget,
        lr=args.lr or DEFAULT_LR[args.arch],
        device=args.device,
        precision=args.precision,
        compile=args.compile,
        **overrides,
    )
    model_config = None if args.resume else _model_config(args, corpus.vocab.size)
    stop = {"requested": False}

    def on_sigint(signum, frame):
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        print("\nstopping: saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr)

    old = signal.signal(signal.SIGINT, on_sigint)
    total = max_steps if max_steps else int(args.time_budget)
    bar = tqdm(
        total=total,
        unit="step" if max_steps else "s",
        file=sys.stderr,
        disable=args.quiet or not is_main,
        dynamic_ncols=True,
    )
    final = None
    try:
        for ev in train(
            corpus,
            model_config,
            cfg,
            args.out,
            resume=args.resume,
            should_stop=lambda: stop["requested"],
            name=args.name,
        ):
            if ev.kind == "step":
                bar.n = ev.step if max_steps else min(total, int(ev.elapsed))
                if ev.step % 5 == 0:
                    bar.set_postfix(loss=f"{ev.loss:.3f}", tok_s=f"{ev.tokens_per_sec:,.0f}", refresh=False)
                bar.refresh()
            elif ev.kind == "eval":
                bar.write(
                    f"step {ev.step}: val loss {ev.val_loss:.4f} nats/char, {ev.val_bpc:.3f} bpc, "
                    f"ppl {ev.val_ppl:.2f}{' (best)' if ev.is_best else ''}",
                    file=sys.stderr,
                )
            elif ev.kind in ("done", "stopped"):
                final = ev
    finally:
        bar.close()
        signal.signal(signal.SIGINT, old)
    s = final.summary
    last = s.get("last_val") or {}
    result = {
        "val_loss": last.get("loss"),
        "val_bpc": last.get("bpc"),
        "val_ppl": last.get("perplexity"),
        "best_val_loss": s.get("best_val_loss"),
        "best_val_bpc": s.get("best_val_bpc"),
        "steps": s["steps"],
        "tokens_per_sec": s.get("tokens_per_sec"),
        "elapsed_sec": s["elapsed_sec"],
        "n_params": s["n_params"],
        "stopped": final.kind == "stopped",
        "checkpoint": s["checkpoint"],
    }
    if not is_main:
        return 0
    result["world_size"] = s.get("world_size", 1)
    if args.json:
        print(json.dumps(result))
    else:
        vl = result["best_val_loss"]
        print(
            f"trained {s['steps']} steps in {s['elapsed_sec']:.1f}s; best validation "
            f"{vl:.4f} nats/char ({result['best_val_bpc']:.3f} bpc); checkpoint: {s['checkpoint']}"
            if vl is not None
            else f"trained {s['steps']} steps; checkpoint: {s['checkpoint']}"
        )
    return 0


def _set_threads(n: int | None) -> None:
    if n is not None:
        if n < 1:
            raise CharlmError(f"--threads must be at least 1, not {n}")
        import torch

        torch.set_num_threads(n)


def _load(args):
    """Load the checkpoint named by the command's arguments (device, threads, int8)."""
    from charlm.checkpoint import load_checkpoint
    from charlm.device import pick_device

    _set_threads(args.threads)
    try:
        dev = pick_device(args.device)
    except ValueError as exc:
        raise CharlmError(str(exc)) from None
    loaded = load_checkpoint(args.checkpoint, device=dev)
    if args.int8:
        from charlm.quantize import quantize_for_cpu

        try:
            loaded = quantize_for_cpu(loaded)
        except (RuntimeError, ValueError) as exc:
            raise CharlmError(f"--int8: {exc}") from None
    return loaded


def run_sample(args) -> int:
    from charlm.sample import check_sampling, generate
    from charlm.text import read_text
    from charlm.vocab import describe_chars

    try:
        check_sampling(args.temperature, args.top_k, args.top_p, args.max_new_chars)
    except ValueError as exc:
        raise CharlmError(str(exc)) from None
    loaded = _load(args)
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


def run_score(args) -> int:
    from charlm.data import val_start
    from charlm.score import score_text
    from charlm.text import read_text

    loaded = _load(args)
    text = read_text(args.text)
    if args.val_split:  # the last 10%, exactly as the trainer's split cuts it
        text = text[val_start(len(text)) :]
    if len(text) < 2:
        raise DataError(f"{Path(args.text).name} is too short to score")
    res = score_text(loaded, text)
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
    else:
        print(
            f"{res['n_chars']} characters: loss {res['loss']:.4f} nats/char, {res['bpc']:.4f} bits/char, "
            f"perplexity {res['perplexity']:.3f}, top-1 {res['top1']:.1%}, top-5 {res['top5']:.1%}"
        )
        if unknown := res["unknown_chars"]:
            print(f"{len(unknown)} distinct characters unknown to the model were not scored", file=sys.stderr)
    if not math.isfinite(res["loss"]):
        raise DataError("nothing could be scored (no known characters)")
    return 0
