"""One decoding stream and batched streams of the shipped models: chars/s of each decoding path, side by side.

Variants (each on the fp32 model and on its int8 copy, ``charlm.models.quantize.quantize_for_cpu``):
- ``sample_ids``: the reference sampler (``model(idx, state)`` per character);
- ``engine``: ``charlm.generation.batched`` with one request (``GPT.decode_step`` / ``RecurrentLM.decode_step``);
- ``engine xB``: B requests at once, total characters per second (rows of the same batch).

A 1,000-character prompt from the middle of tinyshakespeare, --new-chars new characters, temperature 0.8 (the CLI
defaults), interleaved rounds, medians; load average printed.

A second table (--steps) times one decoding step by this thread's CPU time (``time.thread_time``: less sensitive
to the other processes of a busy machine than wall time): the model's cached ``forward`` on one new character vs
``decode_step`` at batch 1 and at --batch rows.

    python bench/bench_decode.py --threads 1
    python bench/bench_decode.py --threads 1 --batch 8 --rounds 5
    python bench/bench_decode.py --threads 1 --steps --rounds 7
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


@torch.inference_mode()
def step_variants(model, B: int) -> dict:
    """One decoding step per call: the cached forward (batch 1, position 60) and decode_step (batch 1 and B)."""
    V, gpt = model.config.vocab_size, model.max_context is not None
    tok = torch.randint(1, V, (B,))
    if gpt:
        state = model.init_state(1)
        model(torch.randint(1, V, (1, 60)), state)

        def forward():
            state.pos = 60
            model(tok[:1].view(1, 1), state)

        caches = {b: model.init_state(b) for b in (1, B)}
        pos = {b: torch.arange(b) * 7 + 10 for b in (1, B)}
        steps = {b: (lambda b=b: model.decode_step(tok[:b], caches[b], pos[b])) for b in (1, B)}
    else:
        st1 = model(torch.randint(1, V, (1, 60)))[1]

        def forward():
            model(tok[:1].view(1, 1), st1)

        states = {b: model(torch.randint(1, V, (b, 5)))[1] for b in (1, B)}
        steps = {b: (lambda b=b: model.decode_step(tok[:b], states[b], None)) for b in (1, B)}
    return {"cached forward, batch 1": forward, "decode_step, batch 1": steps[1], f"decode_step, batch {B}": steps[B]}


@torch.inference_mode()
def cpu_ms(fn, n: int = 30) -> float:
    fn()
    c0 = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - c0) / n * 1e3


def bench_steps(models: dict, args) -> None:
    variants = {f"{kind} {k}": fn for kind, m in models.items() for k, fn in step_variants(m, args.batch).items()}
    res = {k: [] for k in variants}
    for _ in range(args.rounds):
        for k, fn in variants.items():
            res[k].append(cpu_ms(fn))
    base = median(res["fp32 cached forward, batch 1"])
    print("| variant | CPU ms per step | vs fp32 cached forward | rows per CPU second |")
    print("|---|---|---|---|")
    for k, v in res.items():
        rows = args.batch if k.endswith(f"batch {args.batch}") else 1
        print(f"| {k} | {median(v):.2f} | {base / median(v):.2f}x | {rows / median(v) * 1e3:,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--new-chars", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--models", default="shakespeare-gpt,shakespeare-lstm")
    ap.add_argument("--steps", action="store_true", help="time single decoding steps (CPU time) instead")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from charlm.generation.batched import DecodingEngine
    from charlm.generation.sample import sample_ids
    from charlm.generation.settings import Sampling
    from charlm.models.quantize import quantize_for_cpu
    from charlm.storage.checkpoint import load_checkpoint

    header("decoding: chars/s of one stream and of a batch")
    text = CORPUS.read_text(encoding="utf-8")
    prompt = text[len(text) // 2 : len(text) // 2 + 1000]
    n, B = args.new_chars, args.batch
    for name in args.models.split(","):
        loaded = load_checkpoint(REPO / "checkpoints" / name)
        models = {"fp32": loaded.model, "int8": quantize_for_cpu(loaded).model}
        vocab = loaded.vocab
        if args.steps:
            print(f"\n## {name}: one decoding step, {args.rounds} rounds ({machine_state()})")
            bench_steps(models, args)
            continue
        variants = {}
        for kind, model in models.items():
            one = Sampling(max_new_chars=n, seed=0)
            variants[f"sample_ids {kind}"] = (lambda m=model, v=vocab, s=one: sample_ids(m, v, prompt, s), n)
            for bg in (True, False):
                eng = DecodingEngine(model, capacity=B, background=bg)
                tag = "" if bg else ", no thread (CLI)"
                variants[f"engine {kind}{tag}"] = (lambda e=eng, v=vocab, s=one: e.stream(v, prompt, s), n)

            def batch(e=eng, vocab=vocab):
                reqs = [e.submit(vocab, prompt[i * 10 :], Sampling(max_new_chars=n, seed=i)) for i in range(B)]
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
