"""What several commands share: thread count, loading a checkpoint for inference, reporting user errors."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from charlm.errors import CharlmError


def add_inference_flags(p: argparse.ArgumentParser, int8_default: bool = False) -> None:
    """--device, --int8 (or --fp32 where int8 is the default on the CPU) and --threads: how a loaded model runs."""
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    if int8_default:
        prec = p.add_mutually_exclusive_group()
        prec.add_argument("--int8", dest="int8", action="store_true", default=None,
                          help="int8 dynamic quantization (the default on the CPU)")  # fmt: skip
        prec.add_argument("--fp32", dest="int8", action="store_false",
                          help="full-precision weights (int8 is faster for +0.001-0.002 bits/char)")  # fmt: skip
    else:
        p.add_argument("--int8", action="store_true", help="int8 dynamic quantization for CPU inference")
    p.add_argument("--threads", type=int, help="torch threads (default: chosen per job, see README)")


def set_threads(n: int | None, work: str = "train") -> int:
    """Use ``n`` torch threads, or the measured choice for this kind of work (``charlm.device.pick_threads``)."""
    import torch

    from charlm.device import pick_threads

    if n is not None and n < 1:
        raise CharlmError(f"--threads must be at least 1, not {n}")
    n = n or pick_threads(work)
    torch.set_num_threads(n)
    return n


def load_for_inference(args: argparse.Namespace, checkpoint: str | None = None, work: str = "score"):
    """Load the checkpoint named by the command's arguments (device, threads, int8).

    ``args.int8`` None means the command's default: int8 on the CPU when torch has an int8 engine.
    """
    from charlm.device import pick_device
    from charlm.models.quantize import quantize_for_cpu
    from charlm.storage.checkpoint import load_checkpoint

    set_threads(args.threads, work)
    try:
        dev = pick_device(args.device)
    except ValueError as exc:
        raise CharlmError(str(exc)) from None
    path = checkpoint or args.checkpoint
    if not Path(path).exists():  # the path as the user typed it (the core names only its last part: it may be a
        raise CharlmError(f"no checkpoint at {path}: no such file or folder")  # server path in the app)
    loaded = load_checkpoint(path, device=dev)
    if args.int8 is None and dev.type == "cpu":
        try:
            return quantize_for_cpu(loaded)
        except (RuntimeError, ValueError) as exc:  # no int8 engine in this torch build: full precision
            print(f"note: int8 is unavailable ({exc}); using full precision", file=sys.stderr)
            return loaded
    if args.int8:
        try:
            loaded = quantize_for_cpu(loaded)
        except (RuntimeError, ValueError) as exc:
            raise CharlmError(f"--int8: {exc}") from None
    return loaded


def load_models(args: argparse.Namespace, work: str = "score"):
    """One checkpoint, or the ensemble of several (``--checkpoint`` repeated): what sample and score run."""
    paths = args.checkpoint if isinstance(args.checkpoint, list) else [args.checkpoint]
    members = [load_for_inference(args, path, work=work) for path in paths]
    if len(members) == 1:
        return members[0], []
    from charlm.models.ensemble import ensemble

    return ensemble(members), members


# Upper bounds from the environment on what one command may spend. Unset in normal use; the test suite runs the
# README's command-line examples exactly as written with budgets of seconds (tests/test_readme_examples.py).
MAX_CHARS_ENV = "CHARLM_CLI_MAX_CHARS"  # characters scored (score, training's validation) or generated (sample)
CAPS = {"time_budget": "CHARLM_CLI_MAX_SECONDS", "trial_budget": "CHARLM_CLI_MAX_SECONDS",
        "max_steps": "CHARLM_CLI_MAX_STEPS", "eval_chars": MAX_CHARS_ENV, "max_new_chars": MAX_CHARS_ENV}  # fmt: skip
UNSET_MEANS_MORE = {"eval_chars"}  # None here is a large default (200,000 validation characters), so it is capped


def env_cap(name: str) -> int | None:
    """The positive integer in environment variable ``name``, or None when it is unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise CharlmError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def apply_caps(args: argparse.Namespace) -> None:
    """Lower the command's time budgets and step counts to the ``CAPS`` set in the environment."""
    for attr, env in CAPS.items():
        if not hasattr(args, attr) or (most := env_cap(env)) is None:
            continue
        value = getattr(args, attr)
        if value is None and attr in UNSET_MEANS_MORE:
            setattr(args, attr, most)
        elif value is not None and value > most:
            setattr(args, attr, type(value)(most))
