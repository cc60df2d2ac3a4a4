"""Did a run overfit? The facts a learner needs to read a loss curve: which weights were kept and why.

The trainer keeps two checkpoints: ``best/`` (lowest validation loss) and ``last/`` (the latest weights). When the
validation loss stops improving while the training loss keeps falling, the model is learning its training text by
heart: ``best/`` is then an early step and ``last/`` fits the training text better but new text worse. This module
reads the loss history (nats per character, as the trainer logs it) and says so, so the app can explain it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LN2 = math.log(2)
WORSE_BY = 0.02  # validation at the end this much (relative) above its best: it has stopped improving
TRAIN_FELL_BY = 0.05  # training loss this much (relative) below its value at the best step: it kept falling
TRAIN_WINDOW = 10  # training-loss points averaged (a single step's loss is noisy)


@dataclass(frozen=True)
class FitReport:
    """Where the validation loss was best, where the run ended, and whether that is overfitting (bits/char)."""

    best_step: int
    best_val_bpc: float
    last_step: int
    last_val_bpc: float
    train_bpc_at_best: float | None
    train_bpc_last: float | None
    overfitting: bool

    @property
    def kept_early(self) -> bool:
        """The kept (best) weights are older than the run's last evaluation."""
        return self.last_step > self.best_step


def _mean_train(train: list[tuple[int, float]], up_to: int) -> float | None:
    pts = [loss for step, loss in train if step <= up_to][-TRAIN_WINDOW:]
    return sum(pts) / len(pts) / LN2 if pts else None


def diagnose(rows: list[dict]) -> FitReport | None:
    """The run's fit from its loss rows ``{"step", "loss" (nats), "split": "train" | "validation"}``; None before
    the first evaluation."""
    val = [(int(r["step"]), float(r["loss"])) for r in rows if r.get("split") == "validation" and _finite(r["loss"])]
    if not val:
        return None
    train = sorted((int(r["step"]), float(r["loss"])) for r in rows if r.get("split") == "train" and _finite(r["loss"]))
    best_step, best = min(val, key=lambda sv: (sv[1], sv[0]))
    last_step, last = max(val, key=lambda sv: sv[0])
    at_best, at_end = _mean_train(train, best_step), _mean_train(train, last_step)
    fell = at_best is not None and at_end is not None and at_end < at_best * (1 - TRAIN_FELL_BY)
    overfitting = last_step > best_step and last > best * (1 + WORSE_BY) and fell
    return FitReport(best_step, best / LN2, last_step, last / LN2, at_best, at_end, overfitting)


def _finite(x) -> bool:
    return x is not None and math.isfinite(float(x))


def text_too_short(n_chars: int, n_params: int) -> bool:
    """Fewer training characters than parameters: a model this size can learn the text by heart in a short run
    (every character is seen many times) long before it learns the language. A rule of thumb, not a law."""
    return n_chars < n_params
