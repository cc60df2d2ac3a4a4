"""torchrun with 2 CPU processes (gloo): DDP training ends on the same step everywhere and rank 0 saves."""

import json
import os
import subprocess
import sys

import pytest

from charlm.storage.checkpoint import load_checkpoint
from tests.helpers import REPO, shakespeare_slice


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    data = tmp_path / "slice.txt"
    data.write_text(shakespeare_slice(30_000), encoding="utf-8")
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "charlm",
        "train",
        "--data",
        str(data),
        "--arch",
        "lstm",
        "--size",
        "tiny",
        "--out",
        str(out),
        "--time-budget",
        "4",
        "--max-steps",
        "100000",
        "--batch-size",
        "8",
        "--eval-interval",
        "50",
        "--json",
        "--quiet",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=REPO, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, p.stdout  # rank 0 alone prints
    result = json.loads(lines[0])
    assert result["world_size"] == 2 and result["steps"] > 5 and result["val_loss"] < 4.5
    # best/ holds the weights of the best validation, which may be an earlier step than the last one.
    best = load_checkpoint(result["checkpoint"])
    assert best.meta["training"]["world_size"] == 2
    assert best.meta["training"]["steps"] <= result["steps"]
    assert best.meta["training"]["best_val_loss"] == pytest.approx(result["best_val_loss"])
    last = load_checkpoint(out / "last")
    assert last.meta["training"]["steps"] == result["steps"]
