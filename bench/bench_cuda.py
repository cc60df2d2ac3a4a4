"""Decoding on a CUDA GPU: what the project picks up when one is present (issue 22's engine, on the device machine).

For every shipped model, loaded on the GPU in fp32 (int8 is a CPU path): one stream as the CLI decodes it
(``DecodingEngine(background=False)``, 300 characters after a 1,000-character prompt), then B rows at once for
B in --batches (all rows' characters over the time to the last one), and whether B requests decoded together give
the texts each gives alone (``charlm.generation.sample``, same seeds). CUDA timings wait for the GPU
(``torch.cuda.synchronize``) before reading the clock. Without CUDA it says so and exits 0.

    python bench/bench_cuda.py                         # on a machine with a GPU
    python bench/bench_cuda.py --data ../shared/data/tinyshakespeare.txt --batches 1,8,32,64
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _common import CORPUS, checkpoints, header, machine_state


def timed_rows(loaded, prompt: str, batch: int, new_chars: int) -> tuple[float, list[str]]:
    """``batch`` requests submitted at once, decoded by one engine in the caller's thread: chars/s and the texts."""
    from charlm.generation.batched import DecodingEngine
    from charlm.generation.settings import Sampling

    engine = DecodingEngine(loaded.model, capacity=batch, background=False)
    with engine._cond:  # all join before the first step
        reqs = [engine.submit(loaded.vocab, prompt, Sampling(max_new_chars=new_chars, seed=i)) for i in range(batch)]
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    texts = [loaded.vocab.decode(list(r.ids())) for r in reqs]  # reading the first steps the whole batch
    torch.cuda.synchronize()
    return sum(map(len, texts)) / (time.perf_counter() - t0), texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(CORPUS), help="tinyshakespeare (the English models' prompts)")
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--new-chars", type=int, default=300)
    ap.add_argument("--check-rows", type=int, default=8, help="requests compared with their texts decoded alone")
    args = ap.parse_args()
    header("decoding on CUDA")
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure")
        return
    from charlm.generation.sample import generate
    from charlm.generation.settings import Sampling
    from charlm.storage.checkpoint import load_checkpoint

    print(f"# GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, {machine_state()}")
    text = Path(args.data).read_text(encoding="utf-8")
    print("| model | rows | chars/s, all rows | same texts as decoded alone |")
    print("|---|---|---|---|")
    for path in checkpoints():
        loaded = load_checkpoint(path, device="cuda")
        chinese = any("\u4e00" <= c <= "\u9fff" for c in loaded.vocab.chars)
        prompt = "床前明月光，" if chinese else text[len(text) // 2 : len(text) // 2 + 1000]
        timed_rows(loaded, prompt, 2, 20)  # warm-up: CUDA context, kernels, allocator
        for batch in (int(b) for b in args.batches.split(",")):
            rate, texts = timed_rows(loaded, prompt, batch, args.new_chars)
            same = ""
            if batch > 1:
                n = min(batch, args.check_rows)
                alone = ["".join(generate(loaded, prompt, Sampling(max_new_chars=args.new_chars, seed=i)))
                         for i in range(n)]  # fmt: skip
                same = f"{sum(a == b for a, b in zip(alone, texts[:n], strict=True))} of {n}"
            print(f"| {path.name} | {batch} | {rate:,.0f} | {same} |")
        del loaded
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
