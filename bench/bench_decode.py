"""One decoding stream and batched streams of the shipped models: chars/s of each decoding path, side by side.

Variants (each on the fp32 model and on its int8 copy, ``charlm.quantize.quantize_for_cpu``):
- ``sample_ids``: the reference sampler (``model(idx, state)`` per character);
- ``engine``: ``charlm.decoding`` with one request (``GPT.decode_step`` / ``RecurrentLM.decode_step``);
- ``engine xB``: B requests at once, total characters per second (rows of the same batch).

A 1,000-character prompt from the middle of tinyshakespeare, --new-chars new characters, temperature 0.8 (the CLI
defaults), interleaved rounds, medians; load average printed.

    python bench/bench_decode.py --threads 1
    python bench/bench_decode.py --threads 1 --batch 8 --rounds 5
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import CORPUS, REPO, header, machine_state, median


def one_stream(fn, n: int) -> float:
    t0 = time.perf_counter()
    count = sum(1 for _ in fn())
    assert count == n, count
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--new-chars", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--models", default="shakespeare-gpt,shakespeare-lstm")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from charlm.checkpoint import load_checkpoint
    from charlm.decoding import DecodingEngine
    from charlm.quantize import quantize_for_cpu
    from charlm.sample import sample_ids

    header("decoding: chars/s of one stream and of a batch")
    text = CORPUS.read_text(encoding="utf-8")
    prompt = text[len(text) // 2 : len(text) // 2 + 1000]
    n, B = args.new_chars, args.batch
    for name in args.models.split(","):
        loaded = load_checkpoint(REPO / "checkpoints" / name)
        models = {"fp32": loaded.model, "int8": quantize_for_cpu(loaded).model}
        vocab = loaded.vocab
        variants = {}
        for kind, model in models.items():
            variants[f"sample_ids {kind}"] = (lambda m=model, v=vocab: sample_ids(m, v, prompt, max_new_chars=n,
                                                                                  seed=0), n)  # fmt: skip
            for bg in (True, False):
                eng = DecodingEngine(model, capacity=B, background=bg)
                tag = "" if bg else ", no thread (CLI)"
                variants[f"engine {kind}{tag}"] = (lambda e=eng, v=vocab: e.stream(v, prompt, max_new_chars=n,
                                                                                    seed=0), n)  # fmt: skip

            def batch(e=eng, vocab=vocab):
                reqs = [e.submit(vocab, prompt[i * 10 :], max_new_chars=n, seed=i) for i in range(B)]
                for r in reqs:
                    yield from r.ids()

            variants[f"engine x{B} {kind}, no thread (all rows)"] = (batch, n * B)
        res = {k: [] for k in variants}
        for fn, count in variants.values():  # warm-up
            one_stream(fn, count)
        for _ in range(args.rounds):
            for k, (fn, count) in variants.items():
                res[k].append(one_stream(fn, count))
        base = median(res["sample_ids fp32"])
        print(f"\n## {name}: {n} new chars after a 1,000-char prompt, {args.rounds} rounds ({machine_state()})")
        print("| model | variant | chars/s | vs sample_ids fp32 |")
        print("|---|---|---|---|")
        for k, v in res.items():
            print(f"| {name} | {k} | {median(v):,.0f} | {median(v) / base:.2f}x |")
    print(f"# end: {machine_state()}")


if __name__ == "__main__":
    main()
