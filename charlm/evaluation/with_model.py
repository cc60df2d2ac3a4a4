"""Evaluation that needs a model: how well it predicts a text, and how its generations score against references."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict

import sacrebleu

from charlm.errors import DataError
from charlm.evaluation.text_metrics import EvalReport, evaluate_texts
from charlm.generation.settings import DEFAULT_SAMPLING, Sampling


def score_model_on_text(
    loaded, text: str, max_gflop: float | None = None, progress: Callable[[float], None] | None = None
) -> dict:
    """Bits per char, perplexity and next-character top-1/top-5 accuracy of a loaded model on ``text``.

    ``max_gflop`` refuses a text whose scoring would cost more, before any work (``charlm.budget``).
    """
    from charlm.budget import check, scoring_cost  # lazy: text metrics need no torch
    from charlm.score import score_text

    if not text.strip():
        raise DataError("the reference text is empty")
    if max_gflop is not None:
        cost = scoring_cost(loaded.config, loaded.n_params, len(text))
        per_char = cost.gflop / len(text)
        check(cost, max_gflop, None, f"scoring {len(text):,} characters with this model (at most "
              f"{int(max_gflop / per_char):,} fit)", "CHARLM_MAX_REQUEST_GFLOP")  # fmt: skip
    loaded.vocab.encode(text).require_scored()  # else the result would be "nan bits/char"
    return score_text(loaded, text, progress=progress)


def generate_and_score(
    loaded,
    prompts: Sequence[str],
    refs: Sequence[Sequence[str]],
    tokenize: str = "auto",
    max_gflop: float | None = None,
    progress: Callable[[float], None] | None = None,
    sampling: Sampling = DEFAULT_SAMPLING,
) -> EvalReport:
    """Generate a continuation for every prompt with ``loaded`` and score the outputs against ``refs``.

    ``sampling`` goes to ``charlm.generation.sample.generate``; give it a ``seed`` for reproducible reports.
    ``max_gflop`` refuses too much work up front.
    """
    from charlm.budget import check, generation_cost  # lazy: text metrics need no torch
    from charlm.generation.sample import generate

    if len(prompts) != len(refs):
        raise DataError(f"{len(prompts)} prompts but {len(refs)} references")
    if max_gflop is not None:
        new = sampling.max_new_chars
        cost = generation_cost(loaded.config, loaded.n_params, len(prompts), sum(map(len, prompts)), new)
        check(cost, max_gflop, None, f"generating {new:,} characters for each of {len(prompts):,} prompts",
              "CHARLM_MAX_REQUEST_GFLOP")  # fmt: skip
    outputs = []
    for i, p in enumerate(prompts):
        outputs.append("".join(generate(loaded, p, sampling)))
        if progress is not None:
            progress((i + 1) / len(prompts))
    report = evaluate_texts(outputs, refs, tokenize=tokenize)
    for row, prompt in zip(report.rows, prompts, strict=True):
        row["prompt"] = prompt
    report.details["sampling"] = ", ".join(f"{k}={v}" for k, v in sorted(asdict(sampling).items()))
    report.details["sacrebleu"] = sacrebleu.__version__
    return report
