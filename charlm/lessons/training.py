"""SGD and Adam side by side: the same small model, the same text, the same seconds (``charlm.experiments``).

Plain SGD moves every weight by the same learning rate times its gradient; Adam divides each weight's step by a
running estimate of its gradient's size, so rarely-updated and small-gradient weights still move. On a short
budget Adam's curve drops much faster; SGD needs a far larger learning rate and more steps.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator

from charlm.errors import DataError
from charlm.lessons import check_text

MAX_SECONDS = 30.0
MAX_TEXT_CHARS = 200_000


def sgd_vs_adam(text: str, seconds: float = 15.0, arch: str = "lstm",
                should_stop: Callable[[], bool] | None = None) -> Iterator[dict]:  # fmt: skip
    """Train ``arch`` for ``seconds / 2`` with SGD, then as long with Adam; yield {label: [[s, bpc], ...]} as the
    validation points arrive, and finally the samples too (key ``"samples"``)."""
    from charlm import build_corpus
    from charlm.experiments.compare import RunSpec, compare

    check_text(text, 2_000, MAX_TEXT_CHARS)
    if not 2.0 <= seconds <= MAX_SECONDS:
        raise DataError(f"the lesson trains for 2 to {MAX_SECONDS:g} seconds in total, not {seconds}")
    corpus = build_corpus(text, name="lesson")
    specs = [RunSpec(arch, "sgd"), RunSpec(arch, "adam")]
    with tempfile.TemporaryDirectory(prefix="charlm-lesson5-") as out:
        for ev in compare(corpus, specs, seconds / 2, out, size="tiny", batch_size=16, should_stop=should_stop):
            curves = {r.label: list(r.curve) for r in ev.results}
            if ev.kind in ("eval", "run_done", "done"):
                yield {"curves": curves, "progress": ev.progress, "done": ev.kind == "done",
                       "samples": {r.label: r.sample for r in ev.results},
                       "best": {r.label: r.best_val_bpc for r in ev.results}}  # fmt: skip


__all__ = ["MAX_SECONDS", "sgd_vs_adam"]
