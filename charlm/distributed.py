"""Multi-process training with torch.distributed (DistributedDataParallel), started by ``torchrun``.

    torchrun --standalone --nproc_per_node=2 -m charlm train --data input.txt --out runs/ddp ...

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; we join the process group (gloo on CPU, NCCL on GPU), wrap the model
in DDP (gradients are averaged across processes after every backward), give each rank its own contiguous shard of
the training text to draw batches from, and let rank 0 alone write checkpoints and print. Across machines, run the
same torchrun command on each node with ``--nnodes``, ``--node_rank`` and ``--rdzv_endpoint=HOST:PORT``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """What torchrun told this process (a single process when not launched by torchrun)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def setup(device: torch.device) -> DistInfo:
    info = env_info()
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def rank_device(device: torch.device, info: DistInfo) -> torch.device:
    """One GPU per process on CUDA; every process shares the CPU otherwise."""
    if device.type == "cuda" and info.enabled:
        return torch.device("cuda", info.local_rank)
    return device


def shard(ids: np.ndarray, info: DistInfo, min_len: int) -> np.ndarray:
    """This rank's contiguous slice of the training ids (whole text if slices would be too short)."""
    if not info.enabled:
        return ids
    size = len(ids) // info.world_size
    if size < min_len:
        return ids
    return ids[info.rank * size : (info.rank + 1) * size]


def reduce_step(loss: float, stop: bool, info: DistInfo, device: torch.device) -> tuple[float, bool, bool]:
    """Average the loss and agree on stopping: every rank must leave the loop at the same step, or the
    next all-reduce would wait forever. Returns (mean loss, any rank wants to stop, any loss non-finite)."""
    if not info.enabled:
        return loss, stop, not np.isfinite(loss)
    finite = bool(np.isfinite(loss))
    t = torch.tensor([loss if finite else 0.0, float(stop), float(not finite)], device=device, dtype=torch.float64)
    dist.all_reduce(t)
    return t[0].item() / info.world_size, t[1].item() > 0, t[2].item() > 0


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
