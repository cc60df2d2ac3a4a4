"""Experiments over many training runs: compare architectures/optimizers, search hyperparameters (Optuna)."""

from charlm.experiments.compare import CompareEvent, RunResult, RunSpec, compare
from charlm.experiments.search import SearchEvent, SearchSpace, TrialRow, search

__all__ = ["CompareEvent", "RunResult", "RunSpec", "SearchEvent", "SearchSpace", "TrialRow", "compare", "search"]
