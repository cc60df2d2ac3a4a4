"""One stream as ``python -m charlm sample`` decodes it (int8, ``DecodingEngine(background=False)``, 1 thread):
another checkout's code (--before) and this one's, alternating in one process; chars/s of wall time and per CPU
second of this thread (``time.thread_time``: less sensitive to a busy machine), after the prompt's pre-fill.

    git worktree add --detach /tmp/h22-before main
    python bench/bench_cli_stream.py --before /tmp/h22-before --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from _common import CORPUS, REPO, header, machine_state


def load(root: str, names: list[str]) -> dict:
    """The shipped models (int8, as the CLI serves them) and the engine class of the checkout at ``root``."""
    for k in [k for k in sys.modules if k == "charlm" or k.startswith("charlm.")]:
        del sys.modules[k]
    sys.path.insert(0, root)
    try:
        from charlm.generation.batched import DecodingEngine
        from charlm.generation.settings import Sampling
        from charlm.models.quantize import quantize_for_cpu
        from charlm.storage.checkpoint import load_checkpoint

        return {n: (quantize_for_cpu(load_checkpoint(REPO / "checkpoints" / n)), DecodingEngine, Sampling)
                for n in names}  # fmt: skip
    finally:
        sys.path.remove(root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="a checkout of the code to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--new-chars", type=int, default=300)
    ap.add_argument("--models", default="shakespeare-gpt,shakespeare-lstm")
    args = ap.parse_args()
    torch.set_num_threads(1)
    header("one CLI stream, before vs after")
    names = args.models.split(",")
    code = {"before": load(args.before, names), "after": load(str(REPO), names)}
    text = CORPUS.read_text(encoding="utf-8")
    prompt = text[len(text) // 2 : len(text) // 2 + 1000]
    res: dict = {}
    for r in range(args.rounds):
        for tag, models in code.items():
            for name, (loaded, engine_cls, sampling) in models.items():
                engine = engine_cls(loaded.model, capacity=1, background=False)
                ids = engine.submit(loaded.vocab, prompt, sampling(max_new_chars=args.new_chars, seed=r)).ids()
                next(ids)  # the first character comes from the prompt's pre-fill
                t0, c0 = time.perf_counter(), time.thread_time()
                n = sum(1 for _ in ids)
                res.setdefault((name, tag), []).append((n / (time.perf_counter() - t0), n / (time.thread_time() - c0)))
    print(f"| model | code | chars/s (wall) | chars per CPU second | ({machine_state()}) |")
    print("|---|---|---|---|---|")
    for (name, tag), v in sorted(res.items()):
        wall, cpu = statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)
        print(f"| {name} | {tag} | {wall:,.0f} | {cpu:,.0f} | |")


if __name__ == "__main__":
    main()
