"""Evaluation that needs a model: how well it predicts a text, and how its generations score against references."""

from __future__ import annotations

from collections.abc import Sequence

import sacrebleu

from charlm.errors import DataError
from charlm.evaluation.text_metrics import EvalReport, evaluate_texts


def score_model_on_text(loaded, text: str) -> dict:
    """Bits per char, perplexity and next-character top-1/top-5 accuracy of a loaded model on ``text``."""
    from charlm.score import score_text  # lazy: text metrics need no torch

    if not text.strip():
        raise DataError("the reference text is empty")
    return score_text(loaded, text)


def generate_and_score(
    loaded, prompts: Sequence[str], refs: Sequence[Sequence[str]], tokenize: str = "auto", **sampling
) -> EvalReport:
    """Generate a continuation for every prompt with ``loaded`` and score the outputs against ``refs``.

    ``sampling`` goes to ``charlm.sample.generate`` (``max_new_chars``, ``temperature``, ``top_k``, ``top_p``,
    ``seed``, ``stop``). Pass a ``seed`` for reproducible reports.
    """
    from charlm.sample import generate  # lazy: text metrics need no torch

    if len(prompts) != len(refs):
        raise DataError(f"{len(prompts)} prompts but {len(refs)} references")
    outputs = ["".join(generate(loaded, p, **sampling)) for p in prompts]
    report = evaluate_texts(outputs, refs, tokenize=tokenize)
    for row, prompt in zip(report.rows, prompts, strict=True):
        row["prompt"] = prompt
    report.details["sampling"] = ", ".join(f"{k}={v}" for k, v in sorted(sampling.items()))
    report.details["sacrebleu"] = sacrebleu.__version__
    return report
