"""Compare architectures and optimizers on the same text and the same time budget, one run after another.

Each run trains from the same seed on the same batches order, validates every tenth of its budget (so every run's
curve of validation bits/char against seconds has points at the same times) and ends with a short sample from
its best weights. ``compare()`` yields events as the runs go, so the app can draw one live plot for all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from charlm.budget import check, training_step_cost
from charlm.data import Corpus
from charlm.errors import TrainingError
from charlm.models import ARCHS, PRESETS, config_parameters, preset_config
from charlm.optim import OPTIMIZERS, default_lr
from charlm.train import TrainConfig, train

MAX_RUNS = 8
SAMPLE_CHARS = 120


@dataclass(frozen=True)
class RunSpec:
    """One contestant: ``arch[:optimizer[:lr]]`` on the command line, e.g. ``gru``, ``lstm:sgd``, ``gpt:adam:1e-3``."""

    arch: str
    optimizer: str = "adamw"
    lr: float | None = None  # None: the measured default for this optimizer and architecture

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise TrainingError(f"architecture must be one of {', '.join(ARCHS)}, not {self.arch!r}")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError(f"learning rate must be a positive number, not {self.lr}")

    @classmethod
    def parse(cls, text: str) -> RunSpec:
        parts = text.strip().split(":")
        if not 1 <= len(parts) <= 3:
            raise TrainingError(f"a run is arch[:optimizer[:lr]], not {text!r}")
        try:
            lr = float(parts[2]) if len(parts) == 3 else None
        except ValueError:
            raise TrainingError(f"learning rate {parts[2]!r} in {text!r} is not a number") from None
        return cls(parts[0], parts[1] if len(parts) > 1 and parts[1] else "adamw", lr)

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else default_lr(self.optimizer, self.arch)

    @property
    def label(self) -> str:
        return f"{self.arch}/{self.optimizer}" + (f"/lr={self.lr:g}" if self.lr is not None else "")


@dataclass
class RunResult:
    label: str
    arch: str
    optimizer: str
    lr: float
    n_params: int
    steps: int = 0
    elapsed: float = 0.0
    tokens_per_sec: float | None = None
    best_val_bpc: float | None = None
    curve: list[list[float]] = field(default_factory=list)  # [seconds, validation bits/char]
    sample: str = ""
    checkpoint: str = ""
    stopped: bool = False

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class CompareEvent:
    """``kind``: "start" (a run begins), "step", "eval" (a new curve point), "run_done", "done"."""

    kind: str
    index: int  # which run (0-based)
    results: list[RunResult]  # every run's result so far (updated in place as the runs go)
    progress: float = 0.0  # 0..1 over all runs


def _sample(checkpoint: Path, seed: int) -> str:
    from charlm.generation.sample import generate
    from charlm.generation.settings import Sampling
    from charlm.storage.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    return "".join(generate(loaded, "\n", Sampling(max_new_chars=SAMPLE_CHARS, temperature=0.8, seed=seed)))


def check_specs(specs: list[RunSpec], size: str) -> None:
    if not specs:
        raise TrainingError("give at least one run to compare (e.g. gpt, lstm:sgd)")
    if len(specs) > MAX_RUNS:
        raise TrainingError(f"compare runs at most {MAX_RUNS} models one after another, not {len(specs)}")
    if size not in PRESETS["gpt"]:
        raise TrainingError(f"size must be one of {', '.join(PRESETS['gpt'])}, not {size!r}")


def compare(corpus: Corpus, specs: list[RunSpec], time_budget: float, out_dir: str | Path, size: str = "tiny",
            batch_size: int = 32, seed: int = 1337, max_params: int | None = None,
            should_stop: Callable[[], bool] | None = None,
            max_step_gflop: float | None = None) -> Iterator[CompareEvent]:  # fmt: skip
    """Train every spec for ``time_budget`` seconds on ``corpus``; yield events; the last one holds all results."""
    check_specs(specs, size)
    configs = [preset_config(s.arch, size, corpus.vocab.size) for s in specs]
    results = [
        RunResult(s.label, s.arch, s.optimizer, s.peak_lr, config_parameters(c))
        for s, c in zip(specs, configs, strict=True)
    ]
    if max_params is not None and (big := [r for r in results if r.n_params > max_params]):
        raise TrainingError(f"{big[0].label} would have {big[0].n_params:,} parameters; the limit is {max_params:,}")
    if max_step_gflop is not None:
        for res, mcfg in zip(results, configs, strict=True):
            check(training_step_cost(mcfg, batch_size), max_step_gflop, None, f"one training step of {res.label}",
                  "CHARLM_MAX_STEP_GFLOP")  # fmt: skip
    for i, (spec, mcfg, res) in enumerate(zip(specs, configs, results, strict=True)):
        if should_stop is not None and should_stop():
            break
        yield CompareEvent("start", i, results, i / len(specs))
        cfg = TrainConfig(max_steps=None, time_budget=time_budget, optimizer=spec.optimizer, lr=spec.peak_lr,
                          batch_size=batch_size, eval_interval=10**9, eval_seconds=time_budget / 10,
                          eval_chars=20_000, seed=seed)  # fmt: skip
        run_dir = Path(out_dir) / f"{i:02d}-{spec.label.replace('/', '-')}"
        for ev in train(corpus, mcfg, cfg, run_dir, should_stop=should_stop, name=spec.label):
            if ev.kind == "eval":
                res.curve.append([round(ev.elapsed, 2), ev.val_bpc])
                res.best_val_bpc = min(b for _, b in res.curve)
            elif ev.kind in ("done", "stopped"):
                res.steps, res.elapsed = ev.step, ev.elapsed
                res.tokens_per_sec, res.stopped = ev.tokens_per_sec, ev.kind == "stopped"
                res.checkpoint = str(run_dir / "best")
                continue
            if ev.kind in ("eval", "step"):
                yield CompareEvent(ev.kind, i, results, (i + ev.progress) / len(specs))
        res.sample = _sample(run_dir / "best", seed)
        yield CompareEvent("run_done", i, results, (i + 1) / len(specs))
    yield CompareEvent("done", len(specs) - 1, results, 1.0)


def summary(results: list[RunResult]) -> dict:
    """The JSON result of a comparison: every run, and the label of the best one (lowest validation bpc)."""
    scored = [r for r in results if r.best_val_bpc is not None]
    best = min(scored, key=lambda r: r.best_val_bpc).label if scored else None
    return {"runs": [r.to_json() for r in results], "best": best}
