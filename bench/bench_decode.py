"""The decoding latency card, and the decoding paths of the shipped models side by side.

Default: **the latency card** (as nanochat's ``infer_bench``): for every shipped model (``checkpoints/*``), served
as the CLI serves it (int8 on the CPU unless --fp32, one torch thread, ``DecodingEngine(background=False)``), B
requests submitted at once for B in --batches (1, 8, 16, 32, 64), each a --prompt-chars prompt from the model's
own corpus (tinyshakespeare, or the Tang poems for a Chinese vocabulary) and --new-chars new characters at the
CLI's defaults (temperature 0.8, seeds 0..B-1). Each character's hand-over to its reader is timestamped, giving:

- time to first character: from the submission to a row's first character (median / last row: the rows'
  prompts are read one after another, so the last of B waits for all B pre-fills);
- per-character latency: the median gap between two characters of one row (one batched step, plus the window
  slides of the GPT);
- throughput: all rows' characters divided by the time to the last one.

One table, with the machine (CPU model from /proc/cpuinfo) and the load average of every row; medians of
--rounds interleaved rounds.

``--streams``: chars/s of one stream on each decoding path (``sample_ids`` = the reference sampler, ``engine``
with and without its thread, B rows at once), fp32 and int8. ``--steps``: one decoding step timed by this
thread's CPU time (``time.thread_time``: less sensitive to the other processes of a busy machine than wall time),
the model's cached ``forward`` on one new character vs ``decode_step`` at batch 1 and at --batch rows.

    python bench/bench_decode.py                              # the latency card
    python bench/bench_decode.py --streams --threads 1 --batch 8 --rounds 5
    python bench/bench_decode.py --steps --threads 1 --rounds 7
"""

from __future__ import annotations

import argparse
import os
import queue
import time
from pathlib import Path

import torch
from _common import CORPUS, REPO, checkpoints, header, machine_state, median

DEFAULT_MODELS = "shakespeare-gpt,shakespeare-lstm"  # --streams and --steps; the card: every shipped model
POEMS = CORPUS.parent / "wujue_poems_zh.txt"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform module only knows the architecture)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


class TimedQueue(queue.SimpleQueue):
    """A request's output queue that notes when each character was handed over (the engine's ``emit``)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        if isinstance(item, int):
            self.times.append(time.perf_counter())
        super().put(item)


def prompt_for(vocab, chars: int) -> list[str]:
    """Texts the model knows: tinyshakespeare, or the Tang poems when most of its vocabulary is Chinese."""
    path = POEMS if vocab.size > 1000 and POEMS.is_file() else CORPUS
    text = path.read_text(encoding="utf-8")
    mid = len(text) // 2
    return [text[mid + 997 * i : mid + 997 * i + chars] for i in range(64)]


def card_row(loaded, B: int, args) -> dict:
    """B requests submitted at once, stepped by this thread until all are done; the timestamps of every character."""
    from charlm.generation.batched import DecodingEngine
    from charlm.generation.settings import Sampling

    prompts = prompt_for(loaded.vocab, args.prompt_chars)
    engine = DecodingEngine(loaded.model, capacity=B, background=False)
    t0 = time.perf_counter()
    reqs = []
    for i in range(B):
        req = engine.submit(loaded.vocab, prompts[i % len(prompts)], Sampling(max_new_chars=args.new_chars, seed=i))
        req.out = TimedQueue()  # (before the first step: nothing was written to the old one)
        reqs.append(req)
    for r in reqs:
        for _ in r.ids():
            pass
    firsts = sorted(r.out.times[0] - t0 for r in reqs)
    gaps = [
        median([b - a for a, b in zip(r.out.times[:-1], r.out.times[1:], strict=True)])
        for r in reqs
        if len(r.out.times) > 1
    ]
    last = max(r.out.times[-1] for r in reqs) - t0
    return {"first": median(firsts), "first_last": firsts[-1], "per_char": median(gaps),
            "chars_s": sum(len(r.out.times) for r in reqs) / last, "load": os.getloadavg()[0]}  # fmt: skip


def latency_card(args) -> None:
    from charlm.models.quantize import quantize_for_cpu
    from charlm.storage.checkpoint import load_checkpoint

    names = args.models.split(",") if args.models else [p.name for p in checkpoints()]
    models = {}
    for name in names:
        loaded = load_checkpoint(REPO / "checkpoints" / name)
        models[name] = loaded if args.fp32 else quantize_for_cpu(loaded)
    batches = [int(b) for b in args.batches.split(",")]
    res = {(n, b): [] for n in models for b in batches}
    for loaded in models.values():  # warm-up: first calls of each kernel
        card_row(loaded, 2, args)
    for _ in range(args.rounds):
        for name, loaded in models.items():
            for B in batches:
                res[name, B].append(card_row(loaded, B, args))
    weights = "fp32" if args.fp32 else "int8 (the CLI's default on the CPU)"
    print(f"\n## Latency card: {cpu_model()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), {weights} weights; {args.prompt_chars}-char prompt, "
          f"{args.new_chars} new chars per request, medians of {args.rounds} rounds")  # fmt: skip
    print("| model | batch | first char, median / last row (ms) | per char (ms) | chars/s, one row | chars/s, all rows "
          "| load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for (name, B), rows in res.items():
        m = {k: median([r[k] for r in rows]) for k in rows[0]}
        print(f"| {name} | {B} | {m['first'] * 1e3:,.1f} / {m['first_last'] * 1e3:,.1f} | {m['per_char'] * 1e3:.2f} | "
              f"{1 / m['per_char']:,.0f} | {m['chars_s']:,.0f} | {m['load']:.1f} |")  # fmt: skip


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
    ap.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated names under checkpoints/")
    ap.add_argument("--steps", action="store_true", help="time single decoding steps (CPU time) instead")
    ap.add_argument("--streams", action="store_true", help="chars/s of one stream per decoding path instead")
    ap.add_argument("--batches", default="1,8,16,32,64", help="the latency card's batch sizes")
    ap.add_argument("--prompt-chars", type=int, default=1000, help="the latency card's prompt length")
    ap.add_argument("--fp32", action="store_true", help="the latency card with fp32 weights (default: int8)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.steps or args.streams):
        if args.models == DEFAULT_MODELS:
            args.models = ""  # the card covers every shipped model
        if args.new_chars == 500:
            args.new_chars = 200
        header("decoding latency card")
        latency_card(args)
        print(f"# end: {machine_state()}")
        return
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
