"""What several commands share: thread count, loading a checkpoint for inference, reporting user errors."""

from __future__ import annotations

import argparse

from charlm.errors import CharlmError


def add_inference_flags(p: argparse.ArgumentParser) -> None:
    """--device, --int8 and --threads: how a loaded model runs."""
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    p.add_argument("--int8", action="store_true", help="int8 dynamic quantization for CPU inference")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")


def set_threads(n: int | None) -> None:
    if n is not None:
        if n < 1:
            raise CharlmError(f"--threads must be at least 1, not {n}")
        import torch

        torch.set_num_threads(n)


def load_for_inference(args: argparse.Namespace, checkpoint: str | None = None):
    """Load the checkpoint named by the command's arguments (device, threads, int8)."""
    from charlm.checkpoint import load_checkpoint
    from charlm.device import pick_device

    set_threads(args.threads)
    try:
        dev = pick_device(args.device)
    except ValueError as exc:
        raise CharlmError(str(exc)) from None
    loaded = load_checkpoint(checkpoint or args.checkpoint, device=dev)
    if args.int8:
        from charlm.quantize import quantize_for_cpu

        try:
            loaded = quantize_for_cpu(loaded)
        except (RuntimeError, ValueError) as exc:
            raise CharlmError(f"--int8: {exc}") from None
    return loaded


def load_models(args: argparse.Namespace):
    """One checkpoint, or the ensemble of several (``--checkpoint`` repeated): what sample and score run."""
    paths = args.checkpoint if isinstance(args.checkpoint, list) else [args.checkpoint]
    members = [load_for_inference(args, path) for path in paths]
    if len(members) == 1:
        return members[0], []
    from charlm.ensemble import ensemble

    return ensemble(members), members
