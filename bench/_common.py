"""Shared helpers for the bench scripts: machine state, checkpoint discovery, medians, paths."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python bench/x.py` from anywhere
    sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
sys.stdout.reconfigure(line_buffering=True)  # results appear as they are measured, even through a pipe


def machine_state() -> str:
    import torch

    load = os.getloadavg()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def checkpoints(pattern: str | None = None) -> list[Path]:
    """Every shipped checkpoint folder under checkpoints/ (or the given paths, comma separated)."""
    if pattern:
        return [Path(p) for p in pattern.split(",")]
    root = REPO / "checkpoints"
    return sorted(p for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []


def median(xs) -> float:
    return statistics.median(xs)


def header(title: str) -> None:
    print(f"# {title}")
    print(f"# command: python {' '.join(sys.argv)}")
    print(f"# machine: {machine_state()}")
