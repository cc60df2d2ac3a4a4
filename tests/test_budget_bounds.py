"""The cost model is an upper bound (issue 19): for random configurations that the validator accepts (hypothesis),
the measured time and peak memory of one scoring, one inspection and one decoding step stay within the estimate.

Stated margins: memory -- the measured growth of the process's resident memory (sampled every millisecond) is at
most ``MEM_MARGIN`` x the estimate plus ``MEM_SLACK_MB`` (allocator and Python overhead that no estimate of tensors
counts); time -- at most the estimate at ``FLOOR_GFLOPS`` (a pessimistic rate for a loaded 2-core CI machine) plus
``TIME_SLACK_S`` of fixed overhead. Sizes are tiny but the vocabulary goes up to 60,000: materialising T x V logits
of 400 characters (96 MB per tensor) would break the memory bound, scoring in blocks does not.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from charlm.budget import check_char_cost, generation_cost, inspection_cost, scoring_cost  # noqa: E402
from charlm.errors import BudgetError  # noqa: E402
from charlm.generation.sample import generate  # noqa: E402
from charlm.generation.settings import Sampling  # noqa: E402
from charlm.inspection import inspect_text  # noqa: E402
from charlm.models import ModelConfig, build_model, config_parameters  # noqa: E402
from charlm.score import score_text  # noqa: E402
from charlm.storage.checkpoint import LoadedModel  # noqa: E402
from charlm.vocab import CharVocab  # noqa: E402

MEM_MARGIN = 2.0
MEM_SLACK_MB = 48.0
FLOOR_GFLOPS = 0.05
TIME_SLACK_S = 3.0
MAX_CHAR_MFLOP = 30.0  # Limits.max_char_mflop
PAGE_MB = 4096 / 2**20


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_MB


def measure(fn) -> tuple[float, float]:
    """(seconds, peak resident-memory growth in MB) of ``fn()``."""
    base, peak, done = rss_mb(), [0.0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb() - base)
            time.sleep(0.001)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    t0 = time.perf_counter()
    try:
        fn()
    finally:
        dt = time.perf_counter() - t0
        done.set()
        th.join()
    return dt, max(peak[0], rss_mb() - base)


@st.composite
def configs(draw) -> ModelConfig:
    arch = draw(st.sampled_from(["gpt", "lstm", "gru", "rnn"]))
    vocab = draw(st.one_of(st.integers(3, 200), st.integers(1000, 60_000)))
    n_head = draw(st.sampled_from([1, 2, 4]))
    n_embd = n_head * draw(st.integers(1, 4))
    settings_ = dict(arch=arch, vocab_size=vocab, n_layer=draw(st.integers(1, 2)), n_embd=n_embd, n_head=n_head,
                     hidden_size=draw(st.integers(1, 16)), block_size=draw(st.integers(4, 48)))  # fmt: skip
    if vocab > 16 and draw(st.booleans()):
        cutoffs = sorted(draw(st.sets(st.integers(1, vocab - 1), min_size=1, max_size=3)))
        settings_.update(head="adaptive", head_order=list(range(vocab)), head_cutoffs=cutoffs,
                         head_div=draw(st.sampled_from([1.0, 2.0])))  # fmt: skip
    try:
        config = ModelConfig(**settings_)
        check_char_cost(config, MAX_CHAR_MFLOP)  # what upload and training accept
    except (ValueError, BudgetError):
        assume(False)
    assume(config_parameters(config) <= 2_000_000)  # tiny: the test stays fast
    return config


def within(what: str, cost, seconds: float, mb: float) -> None:
    assert mb <= MEM_MARGIN * cost.mb + MEM_SLACK_MB, f"{what}: {mb:.1f} MB measured, estimate {cost.mb:.1f} MB"
    limit = cost.gflop / FLOOR_GFLOPS + TIME_SLACK_S
    assert seconds <= limit, f"{what}: {seconds:.2f} s measured, bound {limit:.2f} s ({cost.gflop:.4f} GFLOP)"


@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])  # fmt: skip
@given(config=configs(), n_chars=st.integers(2, 400), seed=st.integers(0, 2**16))
def test_scoring_inspection_and_decoding_stay_within_the_estimate(config, n_chars, seed, one_thread):
    torch.manual_seed(seed)
    chars = [chr(0x100 + i) for i in range(config.vocab_size - 1)]
    loaded = LoadedModel(model=build_model(config).eval(), vocab=CharVocab(chars), config=config)
    rng = np.random.default_rng(seed)
    text = "".join(chars[i] for i in rng.integers(0, len(chars), n_chars))
    n = loaded.n_params
    score_text(loaded, text[:8])  # warm-up: torch's first-call allocations are not the request's
    seconds, mb = measure(lambda: score_text(loaded, text))
    within("scoring", scoring_cost(config, n, n_chars), seconds, mb)
    seconds, mb = measure(lambda: inspect_text(loaded, text, attention_head=(0, 0)))
    within("inspection", inspection_cost(config, n, n_chars), seconds, mb)
    prompt = text[: min(n_chars, 16)]
    seconds, mb = measure(lambda: list(generate(loaded, prompt, Sampling(max_new_chars=1, seed=seed))))
    within("decoding", generation_cost(config, n, 1, len(prompt), 1), seconds, mb)
