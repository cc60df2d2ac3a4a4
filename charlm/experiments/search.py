"""Hyperparameter search within a total time budget, with Optuna's samplers and pruners.

Each trial trains one model for at most ``trial_budget`` seconds and validates six times along the way; every
validation is reported to Optuna's pruner, which stops a trial whose curve is worse than the median of earlier
trials at the same point (``median``) or not in the top third (``halving``, successive halving), so bad settings
waste little of the budget. The sampler (``tpe`` by default, or ``random``) proposes the next settings from the
results so far. Searched: architecture, learning rate (a multiple of the measured default), width, depth, dropout.

A study can live in shared storage (``storage``: a journal file, ``journal:PATH`` or ``PATH.journal``/``.log``, or
any database URL Optuna supports, ``sqlite:///search.db``, ``postgresql://...``), so several processes, on one
machine or many, run trials of one study: each process asks the study for its next settings, trains it itself and
writes its checkpoint, and the trial records where (user attributes ``row``, its table row with the checkpoint's
path, and ``host``). At the end a
process deletes the checkpoints of its own trials that are not the study's best; a trial that is not the best now
never becomes the best later, so the study's best checkpoint always survives, in the folder of the process that
ran it. The app's search keeps an in-memory study.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from charlm.budget import training_step_cost
from charlm.data import Corpus
from charlm.errors import TrainingError
from charlm.models import ARCHS, ModelConfig, config_parameters
from charlm.optim import OPTIMIZERS, default_lr
from charlm.train import TrainConfig, train

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "halving", "none")
WIDTHS = (32, 64, 128, 256)
REPORTS_PER_TRIAL = 6  # validations per trial: the points at which the pruner compares trials
MIN_TRIAL_SECONDS = 3.0  # a trial shorter than this learns nothing worth comparing


@dataclass(frozen=True)
class SearchSpace:
    archs: tuple[str, ...] = ("gpt", "lstm", "gru")
    optimizers: tuple[str, ...] = ("adamw",)
    lr_factor: tuple[float, float] = (0.2, 5.0)  # the learning rate is default_lr * a log-uniform factor
    widths: tuple[int, ...] = WIDTHS  # GPT: n_embd; recurrent: hidden units
    depth: tuple[int, int] = (1, 4)
    dropout: tuple[float, float] = (0.0, 0.3)

    def __post_init__(self) -> None:
        if not self.archs:
            raise TrainingError(f"choose at least one architecture to search ({', '.join(ARCHS)})")
        if set(self.archs) - set(ARCHS):
            raise TrainingError(f"architectures must be among {', '.join(ARCHS)}, not {', '.join(self.archs)}")
        if not self.optimizers:
            raise TrainingError(f"choose at least one optimizer to search ({', '.join(OPTIMIZERS)})")
        if set(self.optimizers) - set(OPTIMIZERS):
            raise TrainingError(f"optimizers must be among {', '.join(OPTIMIZERS)}, not {', '.join(self.optimizers)}")


@dataclass
class TrialRow:
    """One line of the live results table."""

    number: int
    state: str  # running, complete, pruned, stopped
    arch: str
    optimizer: str
    lr: float
    width: int
    depth: int
    dropout: float
    n_params: int
    val_bpc: float | None = None  # best validation bits/char so far
    steps: int = 0
    seconds: float = 0.0
    checkpoint: str = ""


@dataclass
class SearchEvent:
    """``kind``: "trial" (a trial started or reported), "done". ``rows`` is the whole table so far."""

    kind: str
    rows: list[TrialRow]
    elapsed: float
    progress: float  # 0..1 of the total budget
    best: TrialRow | None = None
    study: object = None  # the Optuna study (on the "done" event): every trial's reported values, for plots


def _optuna():
    try:
        import optuna
    except ImportError:  # a dependency of charlm (requirements.txt); say so instead of a traceback
        raise TrainingError("hyperparameter search needs optuna: pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def make_study(sampler: str, pruner: str, seed: int, storage: str | None = None, study_name: str | None = None):
    """An Optuna study that minimises validation bits/char: in memory, or created in (or loaded from) ``storage``
    under ``study_name``. Processes sharing a study get different sampler seeds (their process id added), else
    they would all propose the same first settings."""
    optuna = _optuna()
    if sampler not in SAMPLERS or pruner not in PRUNERS:
        raise TrainingError(f"sampler must be {' or '.join(SAMPLERS)} and pruner one of {', '.join(PRUNERS)}")
    if storage is not None:
        seed += os.getpid()
    samplers = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed, n_startup_trials=4),
                "random": lambda: optuna.samplers.RandomSampler(seed=seed)}  # fmt: skip
    pruners = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
               "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3),
               "none": optuna.pruners.NopPruner}  # fmt: skip
    if storage is None:
        return optuna.create_study(direction="minimize", sampler=samplers[sampler](), pruner=pruners[pruner]())
    errors: tuple[type[Exception], ...] = (ValueError, ImportError, OSError)
    try:  # a database URL's errors (no such driver, no answer, refused login) come from SQLAlchemy
        from sqlalchemy.exc import SQLAlchemyError

        errors += (SQLAlchemyError,)
    except ImportError:
        pass
    try:
        return optuna.create_study(storage=open_storage(storage), study_name=study_name or "charlm",
                                   load_if_exists=True, direction="minimize", sampler=samplers[sampler](),
                                   pruner=pruners[pruner]())  # fmt: skip
    except errors as exc:
        where, why = hide_password(storage), hide_password(str(exc).splitlines()[0] if str(exc) else "")
        raise TrainingError(f"cannot open the study {study_name!r} in {where}: {exc.__class__.__name__}: "
                            f"{why}") from None  # fmt: skip


def hide_password(text: str) -> str:
    """``scheme://user:password@host`` -> ``scheme://user:***@host``: errors may be shown or logged."""
    return re.sub(r"(://[^:/@\s]*):[^@/\s]*@", r"\1:***@", text)


JOURNAL_SUFFIXES = (".journal", ".log")


def open_storage(url: str):
    """Optuna storage for a URL: ``journal:PATH`` or a path ending in .journal/.log is a journal file (appended
    under a file lock: safe for processes on one machine, or on several sharing the file system); anything else is
    a database URL (``sqlite:///search.db``, ``postgresql://user:password@host/db``)."""
    optuna = _optuna()
    if not isinstance(url, str) or not url.strip():
        raise TrainingError("the study storage must be a journal file or a database URL, not empty")
    if url.startswith("journal:") or url.endswith(JOURNAL_SUFFIXES) and "://" not in url:
        path = Path(url.removeprefix("journal:")).expanduser()
        if not path.parent.is_dir():
            raise TrainingError(f"the journal's folder {path.parent} does not exist")
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise TrainingError(f"the study storage must be journal:PATH, a .journal/.log file or a database URL such "
                            f"as sqlite:///search.db, not {url!r}")  # fmt: skip
    return url


def suggest(trial, space: SearchSpace, vocab_size: int, block_size: int) -> tuple[ModelConfig, str, float]:
    """The trial's model, optimizer and learning rate, drawn from ``space``."""
    arch = trial.suggest_categorical("arch", list(space.archs))
    optimizer = trial.suggest_categorical("optimizer", list(space.optimizers))
    factor = trial.suggest_float("lr_factor", *space.lr_factor, log=True)
    width = trial.suggest_categorical("width", list(space.widths))
    depth = trial.suggest_int("depth", *space.depth)
    dropout = trial.suggest_float("dropout", *space.dropout)
    if arch == "gpt":
        shape = dict(n_embd=width, n_head=4 if width % 4 == 0 else 1)
    else:
        shape = dict(hidden_size=width, n_embd=min(64, width))
    config = ModelConfig(arch=arch, vocab_size=vocab_size, n_layer=depth, block_size=block_size, dropout=dropout,
                         **shape)  # fmt: skip
    return config, optimizer, default_lr(optimizer, arch) * factor


def _run_trial(trial, row: TrialRow, corpus: Corpus, config, cfg: TrainConfig, out: Path, should_stop) -> Iterator:
    """Train one trial, reporting each validation to the pruner; yields after each validation."""
    pruned = False

    def stop() -> bool:
        return pruned or (should_stop is not None and should_stop())

    for k, ev in enumerate(e for e in train(corpus, config, cfg, out, should_stop=stop) if e.kind != "step"):
        if ev.kind == "eval":
            row.val_bpc = min(ev.val_bpc, row.val_bpc or math.inf)
            row.steps, row.seconds = ev.step, round(ev.elapsed, 1)
            trial.report(ev.val_bpc, k)
            pruned = pruned or trial.should_prune()
            yield
        elif ev.kind in ("done", "stopped"):
            row.steps, row.seconds = ev.step, round(ev.elapsed, 1)
    row.state = "pruned" if pruned else ("stopped" if should_stop is not None and should_stop() else "complete")
    row.checkpoint = str(out / "best")


def search(corpus: Corpus, total_budget: float, trial_budget: float, out_dir: str | Path,
           space: SearchSpace | None = None, sampler: str = "tpe", pruner: str = "median", seed: int = 1337,
           block_size: int = 64, batch_size: int = 32, max_params: int | None = None, keep_all: bool = False,
           should_stop: Callable[[], bool] | None = None, max_step_gflop: float | None = None,
           storage: str | None = None, study_name: str | None = None) -> Iterator[SearchEvent]:  # fmt: skip
    """Run trials until ``total_budget`` seconds are spent (or a stop); yield the table after every validation.
    With ``storage`` the trials join the shared study ``study_name`` (module docstring); the table lists this
    process's trials, ``best`` is the whole study's."""
    space = space or SearchSpace()
    if not (total_budget > 0 and trial_budget >= MIN_TRIAL_SECONDS):
        raise TrainingError(f"the total budget must be positive and each trial at least {MIN_TRIAL_SECONDS:g} s")
    study, rows, t0 = make_study(sampler, pruner, seed, storage, study_name), [], time.monotonic()
    optuna = _optuna()
    while not (should_stop is not None and should_stop()):
        left = total_budget - (time.monotonic() - t0)
        if left < MIN_TRIAL_SECONDS:
            break
        trial = study.ask()
        config, optimizer, lr = suggest(trial, space, corpus.vocab.size, block_size)
        n_params = config_parameters(config)
        row = TrialRow(trial.number, "running", config.arch, optimizer, lr, config.hidden_size if config.arch != "gpt"
                       else config.n_embd, config.n_layer, round(config.dropout, 3), n_params)  # fmt: skip
        too_slow = max_step_gflop is not None and training_step_cost(config, batch_size).gflop > max_step_gflop
        if too_slow or (max_params is not None and n_params > max_params):  # too big here: tell the sampler, skip it
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        rows.append(row)
        budget = min(trial_budget, left)
        cfg = TrainConfig(max_steps=None, time_budget=budget, optimizer=optimizer, lr=lr, batch_size=batch_size,
                          eval_interval=10**9, eval_seconds=budget / REPORTS_PER_TRIAL, eval_chars=20_000,
                          seed=seed)  # fmt: skip
        out = Path(out_dir).resolve() / f"trial-{trial.number:03d}"
        for _ in _run_trial(trial, row, corpus, config, cfg, out, should_stop):
            yield _event("trial", rows, t0, total_budget)
        trial.set_user_attr("row", asdict(row))  # where its checkpoint is, for every process sharing the study
        trial.set_user_attr("host", socket.gethostname())
        if row.state == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, row.val_bpc if row.val_bpc is not None else math.inf)
        yield _event("trial", rows, t0, total_budget)
    done = _event("done", rows, t0, total_budget)
    done.study = study
    if storage is not None:
        done.best = study_best(study)
    if not keep_all:  # only the best trial's checkpoint is kept (it becomes a model); the rest is disk space
        best_number = done.best.number if done.best is not None else None
        for row in rows:
            if row.number != best_number and row.checkpoint:
                shutil.rmtree(Path(row.checkpoint).parent, ignore_errors=True)
                row.checkpoint = ""
    yield done


def study_best(study) -> TrialRow | None:
    """The whole study's best finished trial, as its table row (None before any trial finished)."""
    try:
        best = study.best_trial
    except ValueError:  # no complete trial yet
        return None
    row = best.user_attrs.get("row")
    return TrialRow(**row) if row else None


def _event(kind: str, rows: list[TrialRow], t0: float, total: float) -> SearchEvent:
    elapsed = time.monotonic() - t0
    scored = [r for r in rows if r.val_bpc is not None and r.state != "running"]
    best = min(scored, key=lambda r: r.val_bpc) if scored else None
    return SearchEvent(kind, rows, elapsed, min(1.0, elapsed / total), best)
