"""``python -m charlm train``: train a model on a text file, with a progress bar and a JSON summary."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from charlm.cli.common import set_threads
from charlm.errors import CharlmError
from charlm.models import ARCHS, HEADS, MLPS, PRESETS
from charlm.optim import OPTIMIZERS

SCHEDULES = ("cosine", "wsd")  # charlm.train.SCHEDULES, without importing the trainer to build the parser

TRAIN_SETTINGS = ("batch_size", "warmup_steps", "weight_decay", "min_lr_ratio", "eval_interval", "eval_chars",
                  "val_fraction", "seed", "schedule", "warmdown", "average_last")  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a model on a text file", description="Train a character-level LM.")
    t.add_argument("--data", required=True, help="UTF-8 (or UTF-16 with BOM) text file")
    t.add_argument("--arch", choices=ARCHS, help="default: the time budget's recipe (charlm/recipes.py), else gpt")
    t.add_argument("--size", choices=list(PRESETS["gpt"]), help="size preset (default: the recipe's, else small)")
    t.add_argument("--out", required=True, help="output folder (best/ and last/ checkpoints)")
    t.add_argument("--name", help="model name stored in the checkpoint")
    t.add_argument("--time-budget", type=float, help="seconds of training (wall clock)")
    t.add_argument("--max-steps", type=int, help="optimizer steps (default 2000 without a time budget)")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last exactly where it stopped")
    t.add_argument("--head", choices=HEADS, default="auto",
                   help="output layer: linear, adaptive (an adaptive softmax over the characters by frequency: "
                   "~3x faster training on a large vocabulary such as Chinese) or auto (default: adaptive above "
                   "1,024 characters)")  # fmt: skip
    t.add_argument("--optimizer", choices=OPTIMIZERS,
                   help="sgd, momentum (SGD + 0.9 momentum), adam, adamw or muon (orthogonalised momentum for the "
                   "hidden weight matrices, AdamW for the rest); default: the time budget's recipe, else adamw; "
                   "each has a measured default --lr (docs/benchmarks.md)")  # fmt: skip
    gpt = t.add_argument_group("GPT switches (the modern small-GPT recipe; off by default, as in the shipped GPT)")
    gpt.add_argument("--mlp", choices=MLPS, help="MLP nonlinearity: gelu (default) or relu2 (ReLU squared)")
    gpt.add_argument("--qk-norm", action="store_true", default=None, help="RMS-normalise queries and keys")
    gpt.add_argument("--zero-init", action="store_true", default=None,
                     help="start each block's output projections at zero")  # fmt: skip
    gpt.add_argument("--logit-cap", type=float, metavar="CAP", help="soft-cap the logits at +-CAP (0: off)")
    gpt.add_argument("--value-embeds", action="store_true", default=None,
                     help="value embeddings: each layer adds its own embedding of the characters to the attention's "
                     "values")  # fmt: skip
    t.add_argument("--schedule", choices=SCHEDULES,
                   help="learning rate after warm-up: cosine (to the floor) or wsd (constant, then a linear warm-down "
                   "over the last --warmdown share); default: the time budget's recipe, else cosine")  # fmt: skip
    for flag, typ, hlp in [
        ("--n-layer", int, "layers"),
        ("--n-embd", int, "embedding width"),
        ("--n-head", int, "GPT heads"),
        ("--hidden-size", int, "recurrent hidden units"),
        ("--block-size", int, "context / training window"),
        ("--dropout", float, "dropout probability"),
        ("--batch-size", int, "sequences per step (default 32)"),
        ("--lr", float, "peak learning rate (default: measured per optimizer and architecture)"),
        ("--warmup-steps", int, "linear warm-up steps (default 50)"),
        ("--weight-decay", float, "weight decay (default 0.1 for adamw, decoupled; 0 for the others, L2)"),
        ("--min-lr-ratio", float, "where the decay ends, as a share of the peak rate (default 0.1)"),
        ("--warmdown", float, "with --schedule wsd: the last share of the run that decays linearly (default 0.2)"),
        (
            "--average-last",
            float,
            "evaluate and save the average of the weights over this last share of the run (e.g. 0.2; default 0: off)",
        ),
        ("--eval-interval", int, "steps between validations (default 250)"),
        ("--eval-chars", int, "validation characters per periodic evaluation (default 200000)"),
        ("--val-fraction", float, "validation share, taken from the end (default 0.1)"),
        ("--seed", int, "random seed (default 1337)"),
    ]:
        t.add_argument(flag, type=typ, help=hlp)
    clean = t.add_argument_group("cleaning (the Train tab's options; applied in this order)")
    clean.add_argument("--lowercase", action="store_true", help="lowercase the text (fewer characters to learn)")
    clean.add_argument("--collapse-whitespace", action="store_true", help="runs of spaces -> one, 3+ newlines -> 2")
    clean.add_argument("--min-char-count", type=int, default=0, metavar="N",
                       help="drop characters seen fewer than N times (0 = keep all)")  # fmt: skip
    t.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    t.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="bf16 autocast; auto uses it where it was measured to pay (wide models, native bf16)",
    )
    t.add_argument("--compile", action="store_true", help="torch.compile the model (pays on runs of many minutes)")
    t.add_argument("--threads", type=int, help="torch threads (default: the idle cores, see README)")
    t.add_argument("--json", action="store_true", help="print a JSON summary as the last line of stdout")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train)


def _model_config(args, vocab_size: int):
    from charlm.models import preset_config

    try:
        return preset_config(
            args.arch,
            args.size,
            vocab_size,
            head=args.head,
            n_layer=args.n_layer,
            n_embd=args.n_embd,
            n_head=args.n_head,
            hidden_size=args.hidden_size,
            block_size=args.block_size,
            dropout=args.dropout,
            mlp=getattr(args, "mlp", None),
            qk_norm=getattr(args, "qk_norm", None),
            zero_init=getattr(args, "zero_init", None),
            logit_cap=getattr(args, "logit_cap", None),
            value_embeds=getattr(args, "value_embeds", None),
        )
    except ValueError as exc:
        raise CharlmError(str(exc)) from None


def load_training_text(args):
    """The corpus to train on: the file, cleaned as asked (stats on stderr when anything changed)."""
    from charlm.cleaning import CleanOptions, clean_text
    from charlm.data import build_corpus
    from charlm.text import read_text

    text = read_text(args.data)
    opts = CleanOptions(args.lowercase, args.collapse_whitespace, args.min_char_count)
    if opts.active:
        text, stats = clean_text(text, opts)
        print(f"cleaned: {stats.chars_before:,} -> {stats.chars_after:,} characters, vocabulary "
              f"{stats.vocab_before} -> {stats.vocab_after}", file=sys.stderr)  # fmt: skip
    return build_corpus(text, name=Path(args.data).name)


def train_config(args):
    """The TrainConfig the flags ask for; unset flags keep the trainer's defaults."""
    from charlm.optim import default_lr
    from charlm.train import TrainConfig

    max_steps = args.max_steps if args.max_steps is not None or args.time_budget else 2000
    overrides = {k: getattr(args, k) for k in TRAIN_SETTINGS if getattr(args, k) is not None}
    optimizer = args.optimizer or "adamw"
    return TrainConfig(max_steps=max_steps, time_budget=args.time_budget, optimizer=optimizer,
                       lr=args.lr or default_lr(optimizer, args.arch), device=args.device,
                       precision=args.precision, compile=args.compile, **overrides)  # fmt: skip


class StopOnSignal:
    """Ctrl-C or SIGTERM asks the trainer to stop and save (a second Ctrl-C aborts at once)."""

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self) -> StopOnSignal:
        self._old = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping: saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr)


def show_progress(events, bar, by_steps: bool):
    """Draw the events on a tqdm bar; returns the final (done/stopped) event."""
    final = None
    for ev in events:
        if ev.kind == "step":
            bar.n = ev.step if by_steps else min(bar.total, int(ev.elapsed))
            if ev.step % 5 == 0:
                bar.set_postfix(loss=f"{ev.loss:.3f}", tok_s=f"{ev.tokens_per_sec:,.0f}", refresh=False)
            bar.refresh()
        elif ev.kind == "eval":
            best = " (best)" if ev.is_best else ""
            bar.write(f"step {ev.step}: val loss {ev.val_loss:.4f} nats/char, {ev.val_bpc:.3f} bpc, "
                      f"ppl {ev.val_ppl:.2f}{best}", file=sys.stderr)  # fmt: skip
        elif ev.kind in ("done", "stopped"):
            final = ev
    return final


def result_json(final) -> dict:
    """The ``--json`` summary of a finished run."""
    s = final.summary
    last = s.get("last_val") or {}
    return {"val_loss": last.get("loss"), "val_bpc": last.get("bpc"), "val_ppl": last.get("perplexity"),
            "best_val_loss": s.get("best_val_loss"), "best_val_bpc": s.get("best_val_bpc"), "steps": s["steps"],
            "tokens_per_sec": s.get("tokens_per_sec"), "elapsed_sec": s["elapsed_sec"], "n_params": s["n_params"],
            "stopped": final.kind == "stopped", "checkpoint": s["checkpoint"],
            "world_size": s.get("world_size", 1)}  # fmt: skip


def apply_recipe(args, vocab_size: int | None = None) -> str | None:
    """A new run with a time budget: every setting the user left unset comes from the recipe that measured best
    for that budget and the text's vocabulary size (``charlm.recipes``). Returns the line that says what was chosen
    and why (None: no recipe)."""
    from charlm.device import cpu_share
    from charlm.recipes import choose_recipe, explain

    share = cpu_share()
    recipe = None if args.resume or not args.time_budget else choose_recipe(args.time_budget, share, vocab_size)
    if recipe is None or args.arch not in (None, recipe.arch):
        args.arch, args.size = args.arch or "gpt", args.size or "small"
        return None
    settings = recipe.settings()
    if args.optimizer not in (None, recipe.optimizer):  # the recipe's rate is its optimizer's, not this one's
        settings.pop("lr")
    kept = [key for key in settings if key != "threads" and getattr(args, key, None) is not None]
    for key, value in settings.items():
        if key != "threads" and getattr(args, key, None) is None:  # threads: chosen from the machine's load
            setattr(args, key, value)
    return explain(recipe, args.time_budget, share) + (f" (your {', '.join(kept)} kept)" if kept else "")


def run_train(args) -> int:
    from charlm.distributed import env_info
    from charlm.train import Trainer

    is_main = env_info().is_main  # under torchrun, rank 0 alone prints
    corpus = load_training_text(args)
    chosen = apply_recipe(args, corpus.vocab.size)
    threads = set_threads(args.threads)
    cfg = train_config(args)
    model_config = None if args.resume else _model_config(args, corpus.vocab.size)
    if is_main:  # once the settings are known to be valid; on stderr, even with --quiet (it hides the bar only)
        if chosen:
            print(chosen, file=sys.stderr)
        print(f"torch threads: {threads}" + ("" if args.threads else " (the idle cores; --threads to set)"),
              file=sys.stderr)  # fmt: skip
    with StopOnSignal() as stop:
        # Built before the bar: a text too short or a bad resume is reported without a 0% bar above the error.
        trainer = Trainer(corpus, model_config, cfg, args.out, args.resume, lambda: stop.requested, args.name)
        final = _run_with_bar(trainer, cfg, quiet=args.quiet or not is_main)
    if not is_main:
        return 0
    result = result_json(final)
    if args.json:
        print(json.dumps(result))
    elif result["best_val_loss"] is not None:
        print(f"trained {result['steps']} steps in {result['elapsed_sec']:.1f}s; best validation "
              f"{result['best_val_loss']:.4f} nats/char ({result['best_val_bpc']:.3f} bpc); "
              f"checkpoint: {result['checkpoint']}")  # fmt: skip
    else:
        print(f"trained {result['steps']} steps; checkpoint: {result['checkpoint']}")
    return 0


def _run_with_bar(trainer, cfg, quiet: bool):
    """Drain the trainer's events into a tqdm bar on stderr (steps, or seconds of a time budget)."""
    from tqdm import tqdm

    by_steps = bool(cfg.max_steps)
    bar = tqdm(total=cfg.max_steps if by_steps else int(cfg.time_budget), unit="step" if by_steps else "s",
               file=sys.stderr, disable=quiet, dynamic_ncols=True)  # fmt: skip
    with bar:
        return show_progress(trainer.run(), bar, by_steps)
