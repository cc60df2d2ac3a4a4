"""Tuning, ensembling, quantizing, measured on real models.

- An ensemble averages its members' next-character distributions; on text both know, the mix usually scores
  fewer bits per character than either member, because their mistakes differ.
- int8 dynamic quantization stores the big matrices as 8-bit integers: about 4x smaller weights, often faster on a
  CPU, and a loss that barely moves.
- A search tries a few settings and keeps the best by validation loss (here: learning rates of a tiny model for a
  fixed number of steps).
"""

from __future__ import annotations

import io
import tempfile
import time

import torch

from charlm.errors import DataError
from charlm.lessons import check_text


def ensemble_scores(members: list, text: str) -> list[dict]:
    """Bits per character of each member and of their ensemble on ``text``."""
    from charlm import score_text
    from charlm.models.ensemble import ensemble

    check_text(text, 20, 5_000)
    if len(members) < 2:
        raise DataError("an ensemble needs at least two models with the same characters")
    rows = [{"model": m.name, "bpc": score_text(m, text)["bpc"]} for m in members]
    mix = ensemble(members)
    rows.append({"model": mix.name, "bpc": score_text(mix, text)["bpc"]})
    return rows


def _size_mb(model: torch.nn.Module) -> float:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell() / 1e6


def _chars_per_sec(loaded, n: int = 60) -> float:
    from charlm import Sampling, generate

    t = time.perf_counter()
    "".join(generate(loaded, "\n", Sampling(temperature=0, max_new_chars=n)))
    return n / max(1e-9, time.perf_counter() - t)


def int8_vs_fp32(loaded, text: str) -> list[dict]:
    """Size (MB of weights), speed (greedy characters per second) and bits per character, fp32 and int8."""
    from charlm import score_text
    from charlm.models.quantize import quantize_for_cpu

    check_text(text, 20, 5_000)
    if loaded.device.type != "cpu":
        raise DataError("int8 quantization runs on the CPU only")
    q = quantize_for_cpu(loaded)
    return [{"precision": name, "size_mb": _size_mb(m.model), "chars_per_sec": _chars_per_sec(m),
             "bpc": score_text(m, text)["bpc"]} for name, m in (("fp32", loaded), ("int8", q))]  # fmt: skip


def lr_search(text: str, lrs: tuple[float, ...] = (3e-4, 3e-3, 3e-2), steps: int = 40, seed: int = 0) -> list[dict]:
    """A tiny grid search: the same tiny LSTM trained ``steps`` steps at each learning rate, validation bpc each."""
    from charlm import TrainConfig, build_corpus, preset_config
    from charlm.train import run_to_end, train

    check_text(text, 2_000, 50_000)
    if not 1 <= len(lrs) <= 5 or not 5 <= steps <= 200:
        raise DataError("the lesson's search tries 1 to 5 learning rates for 5 to 200 steps")
    corpus = build_corpus(text, name="search")
    rows = []
    with tempfile.TemporaryDirectory(prefix="charlm-search-") as out:
        for i, lr in enumerate(lrs):
            cfg = TrainConfig(max_steps=steps, lr=lr, warmup_steps=5, batch_size=16, eval_interval=10**9,
                              eval_chars=5_000, save_every=None, seed=seed, device="cpu", precision="fp32")  # fmt: skip
            config = preset_config("lstm", "tiny", corpus.vocab.size, block_size=32)
            final = run_to_end(train(corpus, config, cfg, f"{out}/{i}"))
            rows.append({"lr": lr, "val_bpc": final.summary.get("best_val_bpc")})
    return rows


__all__ = ["ensemble_scores", "int8_vs_fp32", "lr_search"]
