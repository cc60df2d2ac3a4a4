"""Training throughput (tokens/s) of the core's models, variants interleaved in one run.

GPT at nanoGPT's CPU recipe (4 layers, 4 heads, 128 dims, block 64, batch 12) and an LSTM (2 x 512, batch 32 x
128). Every variant builds its own model from ``charlm.models.build_model`` (the same GPT / RecurrentLM classes
the trainer uses) and runs the trainer's step: ``get_batch``, forward, cross-entropy, backward, gradient clipping
at 1.0, AdamW with the trainer's parameter groups. Variants:

- ``fp32 eager``: the plain path (for-loop AdamW, ``foreach=False``);
- ``foreach AdamW`` / ``fused AdamW``: multi-tensor and fused optimizer kernels;
- ``bf16 autocast``: ``torch.autocast("cpu", bfloat16)`` around forward + loss (AVX512-BF16, or AMX where present);
- ``compile``: ``torch.compile(model)`` (compile time is measured separately: the first steps, minus a normal
  step; the script says whether it pays back within a 90-s run);
- combinations, each at the ``torch.set_num_threads`` values of --threads (default 1; try --threads 1,2).

Rounds: each variant runs --steps steps per round, variants interleaved, --rounds rounds; medians reported.

    python bench/bench_training.py                    # GPT + LSTM at 1 thread, a few minutes
    python bench/bench_training.py --threads 1,2      # also 2 threads (slow on a busy machine)
    python bench/bench_training.py --only gpt --no-compile --rounds 3
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from _common import CORPUS, header, median

from charlm.data import get_batch, load_corpus
from charlm.models import ModelConfig, build_model

GPT_RECIPE = dict(arch="gpt", n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0)
LSTM_RECIPE = dict(arch="lstm", n_layer=2, n_embd=128, hidden_size=512, block_size=128, dropout=0.0)


class Variant:
    def __init__(self, name, recipe, vocab_size, batch, *, opt="plain", bf16=False, compile=False, threads=2):
        torch.manual_seed(0)
        self.name, self.batch, self.threads, self.bf16 = name, batch, threads, bf16
        self.cfg = ModelConfig(vocab_size=vocab_size, **recipe)
        self.model = build_model(self.cfg).train()
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
        kw = {"plain": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}[opt]
        self.opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.99), **kw)
        self.fwd = torch.compile(self.model) if compile else self.model
        self.foreach_clip = opt != "plain"
        self.gen = torch.Generator().manual_seed(0)
        self.compile_s = None
        self.times: list[float] = []

    def step(self, ids) -> float:
        x, y = get_batch(ids, self.batch, self.cfg.block_size, self.gen)
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else nullcontext()
        with ctx:
            logits, _ = self.fwd(x)
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))
        loss_value = loss.item()  # the trainer reads the loss every step (NaN check, progress events)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0, foreach=self.foreach_clip)
        self.opt.step()
        return loss_value

    def run(self, ids, steps: int) -> None:
        torch.set_num_threads(self.threads)
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step(ids)
        self.times.append((time.perf_counter() - t0) / steps)

    def tokens_per_s(self) -> float:
        return self.batch * self.cfg.block_size / median(self.times)


def make_variants(recipe, vocab_size, batch, threads, with_compile):
    out = []
    for t in threads:
        specs = [
            ("fp32 eager (plain AdamW)", {}),
            ("foreach AdamW", dict(opt="foreach")),
            ("fused AdamW", dict(opt="fused")),
            ("bf16 autocast", dict(bf16=True)),
            ("bf16 + fused AdamW", dict(bf16=True, opt="fused")),
        ]
        if with_compile:
            specs += [
                ("compile + fused AdamW", dict(compile=True, opt="fused")),
                ("compile + bf16 + fused AdamW", dict(compile=True, bf16=True, opt="fused")),
            ]
        out += [Variant(f"{name} [{t} thr]", recipe, vocab_size, batch, threads=t, **kw) for name, kw in specs]
    return out


def bench(title, recipe, batch, ids, vocab_size, args, with_compile):
    print(f"\n## {title}: {recipe} batch {batch} ({batch * recipe['block_size']} tokens/step)")
    variants = make_variants(recipe, vocab_size, batch, [int(t) for t in args.threads.split(",")], with_compile)
    for v in variants:  # warm-up; compile happens here and is timed
        torch.set_num_threads(v.threads)
        t0 = time.perf_counter()
        for _ in range(3):
            v.step(ids)
        first3 = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(3):
            v.step(ids)
        steady = (time.perf_counter() - t0) / 3
        if v.fwd is not v.model:
            v.compile_s = first3 - 3 * steady
    for _ in range(args.rounds):
        for v in variants:
            v.run(ids, args.steps)
    base = {}
    for v in variants:
        if v.name.startswith("fp32 eager"):
            base[v.threads] = v.tokens_per_s()
    ref = base[min(base)] if 1 in base else next(iter(base.values()))
    print("| variant | tokens/s | ms/step | vs fp32 eager (same threads) | vs fp32 eager 1 thr | compile (s) |")
    print("|---|---|---|---|---|---|")
    for v in variants:
        tps = v.tokens_per_s()
        c = f"{v.compile_s:.1f}" if v.compile_s is not None else ""
        print(
            f"| {v.name} | {tps:,.0f} | {median(v.times) * 1e3:.1f} | {tps / base[v.threads]:.2f}x | "
            f"{tps / ref:.2f}x | {c} |"
        )
    for v in variants:
        if v.compile_s is not None:
            eager = next(u for u in variants if u.threads == v.threads and u.name.startswith("fused AdamW"))
            if v.bf16:
                eager = next(u for u in variants if u.threads == v.threads and u.name.startswith("bf16 + fused"))
            tok_eager = 90 * eager.tokens_per_s()
            tok_comp = max(0.0, 90 - v.compile_s) * v.tokens_per_s()
            verdict = "pays" if tok_comp > tok_eager else "does not pay"
            print(
                f"# {v.name}: in a 90-s run, {tok_comp / 1e6:.2f}M tokens vs {tok_eager / 1e6:.2f}M eager "
                f"({eager.name}) -> compile {verdict}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["gpt", "lstm"], help="one model only")
    ap.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", default="1", help="comma-separated torch.set_num_threads values, e.g. 1,2")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    ap.add_argument("--lstm-steps", type=int, default=3, help="steps per variant per round for the LSTM")
    args = ap.parse_args()
    corpus = load_corpus(CORPUS)
    train_ids, _ = corpus.split(0.1)
    header("training throughput (medians of interleaved rounds)")
    if args.only in (None, "gpt"):
        bench("GPT, nanoGPT CPU recipe", GPT_RECIPE, 12, train_ids, corpus.vocab.size, args, not args.no_compile)
    if args.only in (None, "lstm"):
        args.steps = args.lstm_steps
        bench("LSTM 2x512", LSTM_RECIPE, 32, train_ids, corpus.vocab.size, args, False)
    header("done")


if __name__ == "__main__":
    main()
