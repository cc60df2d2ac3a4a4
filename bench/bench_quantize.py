"""int8 dynamic quantization (charlm.models.quantize): sampling speed and validation bits/char, before and after.

For every checkpoint under checkpoints/ (or --checkpoints a,b): characters/s of ``charlm.generation.sample.sample_ids``
(fp32 and int8 interleaved, --repeats, medians) and the mean loss over the whole validation split of
tinyshakespeare (charlm.score.score_ids; the last 10% of the text, as the trainer splits it).

    python bench/bench_quantize.py
    python bench/bench_quantize.py --threads 2 --val-chars 20000   # quicker, on part of the split
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import CORPUS, checkpoints, header, median

from charlm.data import load_corpus
from charlm.generation.sample import sample_ids
from charlm.generation.settings import Sampling
from charlm.models.quantize import quantize_for_cpu
from charlm.score import score_ids
from charlm.storage.checkpoint import load_checkpoint


def rate(loaded, prompt: str, n: int) -> float:
    t0 = time.perf_counter()
    count = sum(1 for _ in sample_ids(loaded.model, loaded.vocab, prompt, Sampling(max_new_chars=n, seed=0)))
    return count / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", help="comma-separated checkpoint folders (default: every checkpoints/*)")
    ap.add_argument("--new", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val-chars", type=int, default=None, help="score only this many validation characters")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    corpus = load_corpus(CORPUS)
    _, val_ids = corpus.split(0.1)
    text = CORPUS.read_text(encoding="utf-8")
    prompt = text[len(text) // 2 : len(text) // 2 + 1000]
    header("int8 dynamic quantization: speed and validation loss")
    print(
        "| model | variant | chars/s | speed vs fp32 | val loss (nats/char) | val bpc | Δbpc | scored chars "
        "| score time (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for path in checkpoints(args.checkpoints):
        fp = load_checkpoint(path)
        if fp.vocab.chars != corpus.vocab.chars:
            print(f"# {path.name}: trained on another text; scoring it on tinyshakespeare anyway")
        q = quantize_for_cpu(fp)
        variants = {"fp32": fp, "int8 dynamic": q}
        rates: dict[str, list[float]] = {k: [] for k in variants}
        for lm in variants.values():
            rate(lm, prompt, 50)  # warm-up
        for _ in range(args.repeats):
            for name, lm in variants.items():
                rates[name].append(rate(lm, prompt, args.new))
        ids = fp.vocab.encode(corpus.vocab.decode(val_ids)).ids if fp.vocab.chars != corpus.vocab.chars else val_ids
        scores = {}
        for name, lm in variants.items():
            t0 = time.perf_counter()
            scores[name] = (score_ids(lm.model, ids, max_chars=args.val_chars), time.perf_counter() - t0)
        base = median(rates["fp32"])
        for name in variants:
            r, (s, dt) = median(rates[name]), scores[name]
            d = s["bpc"] - scores["fp32"][0]["bpc"]
            print(
                f"| {path.name} ({fp.config.arch}) | {name} | {r:,.0f} | {r / base:.2f}x | {s['loss']:.4f} | "
                f"{s['bpc']:.4f} | {d:+.4f} | {s['n_chars']:,} | {dt:.1f} |"
            )
    header("done")


if __name__ == "__main__":
    main()
