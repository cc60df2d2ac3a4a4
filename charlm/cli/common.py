"""What several commands share: thread count, loading a checkpoint for inference, reporting user errors."""

from __future__ import annotations

import argparse
import sys

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
    loaded = load_checkpoint(checkpoint or args.checkpoint, device=dev)
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
