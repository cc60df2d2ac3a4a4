"""Large vocabularies: training, scoring and sampling speed on the Chinese poems (6,258 ids) against Shakespeare (66).

For GRU, LSTM and GPT "small" (the presets), side by side in one process, interleaved round by round:

- training: one full trainer step (forward, loss, backward, clip, fused AdamW) on real batches (32 x 64) of
    shakespeare / plain head      the reference rate
    poems / plain head            charlm today: a hidden x 6,258 linear layer + cross-entropy
    poems / adaptive head         charlm.models.output.AdaptiveHead and its fast loss (unigram bias init)
  reported as tokens/s of the fastest step (the one least disturbed by other work) and its ratio to Shakespeare;
- scoring: a no-grad forward of 16 x 256 tokens (GPT: 16 x 64), then the loss and top-5 of every position (what
  charlm.score does): plain logits; the adaptive head's full log-probabilities; ``AdaptiveHead.score`` (exact
  NLL + top-5 without the full distribution), and the same without the top-5 (the loss alone, what a periodic
  evaluation during training needs);
- sampling: the cost of filtering and drawing one character at V = 6,258 and V = 66:
  charlm.generation.filtering.filter_dense + softmax + multinomial against charlm.generation.filtering.sample_top.

    python bench/bench_vocab.py                          # all three sections, 1 thread, 6 rounds
    python bench/bench_vocab.py --sections training --archs gru --rounds 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from _common import CORPUS, header
from torch import nn

from charlm.corpora import POEMS, builtin_text
from charlm.data import build_corpus, get_batch, load_corpus
from charlm.generation.filtering import filter_dense, sample_top
from charlm.models import build_model, count_parameters, preset_config, resolve_head
from charlm.models.output import AdaptiveHead, choose_cutoffs, count_ids, frequency_order, init_unigram_bias_
from charlm.optim import make_optimizer


class Variant:
    """One model on one corpus, able to take a training step or score a batch; it remembers its timings."""

    def __init__(self, name: str, arch: str, corpus, adaptive: bool, batch: int, seed: int = 0,
                 wired: bool = False) -> None:  # fmt: skip
        self.name, self.arch, self.times, self.score_times = name, arch, [], []
        self.fast_score_times, self.loss_only_times = [], []
        train_ids, _ = corpus.split()
        self.ids, V = train_ids, corpus.vocab.size
        config = preset_config(arch, "small", V)
        self.block, self.batch = config.block_size, batch
        torch.manual_seed(seed)
        counts = count_ids(train_ids, V)
        self.wired = wired
        if wired:  # the model as charlm builds and trains it: head="adaptive" in its config, loss through forward
            config = resolve_head(replace(config, head="adaptive"), counts)
        else:  # a plain linear output layer (the body's), replaced below by a separate AdaptiveHead if asked
            config = replace(config, head="linear")
        self.body = build_model(config)
        if wired:
            init_unigram_bias_(self.body.output_head, counts)
            self.head = None
        elif adaptive:  # the body returns hidden states; the adaptive head maps them to the vocabulary
            width = config.n_embd if arch == "gpt" else config.hidden_size
            self.head = AdaptiveHead(width, V, frequency_order(counts), choose_cutoffs(counts))
            if arch == "gpt":
                self.body.lm_head = nn.Identity()
            else:
                self.body.head = nn.Identity()
            init_unigram_bias_(self.head, counts)
        else:
            self.head = None
        self.model = nn.ModuleDict({"body": self.body, **({"head": self.head} if self.head is not None else {})})
        self.params = count_parameters(self.model)
        self.opt = make_optimizer(self.model, 3e-3, 0.1)
        self.gen = torch.Generator().manual_seed(seed)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.wired:
            return self.body(x, None, y)[0]
        out, _ = self.body(x)
        if self.head is not None:
            return self.head.loss(out, y)
        return F.cross_entropy(out.float().view(-1, out.size(-1)), y.reshape(-1))  # as charlm.train does

    def step(self) -> None:
        x, y = get_batch(self.ids, self.batch, self.block, self.gen)
        t = time.perf_counter()
        loss = self.loss(x, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0, foreach=True)
        self.opt.step()
        self.times.append(time.perf_counter() - t)

    @torch.no_grad()
    def score(self, rows: int = 16, width: int = 256) -> None:
        """What charlm.score computes per chunk: the loss and the top-5 of every position. Plain head: logits,
        cross-entropy, topk. Adaptive head: the same over its full log-probabilities, and ``AdaptiveHead.score``
        (fast NLL + pruned exact top-5), timed on the same batch."""
        width = min(width, self.block) if self.arch == "gpt" else width
        x, y = get_batch(self.ids, rows, width, self.gen)
        t = time.perf_counter()
        out, _ = self.body(x)
        t_body = time.perf_counter() - t
        t = time.perf_counter()
        logits = self.head(out) if self.head is not None else out
        F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1), reduction="sum")
        logits.topk(5, dim=-1)
        self.score_times.append((t_body + time.perf_counter() - t, rows * width))
        if self.head is not None:
            t = time.perf_counter()
            self.head.score(out, y)
            self.fast_score_times.append(t_body + time.perf_counter() - t)
            t = time.perf_counter()
            self.head.score(out, y, k=0)
            self.loss_only_times.append(t_body + time.perf_counter() - t)


def table(variants: list[Variant], rows: list[tuple[str, list[float], int]], unit: str) -> None:
    base: dict[str, float] = {}
    print(f"| arch | variant | params | {unit}/s (fastest) | median ms | vs Shakespeare |")
    print("|---|---|---|---|---|---|")
    for v, (name, times, per) in zip(variants, rows, strict=True):
        rate = per / min(times)
        base.setdefault(v.arch, rate)  # the first variant of each arch is Shakespeare
        print(f"| {v.arch} | {name} | {v.params / 1e6:.2f} M | {rate:,.0f} | {statistics.median(times) * 1e3:.0f} "
              f"| {rate / base[v.arch]:.2f}x |")  # fmt: skip


def bench_models(archs: list[str], rounds: int, sections: list[str]) -> None:
    poems = build_corpus(builtin_text(POEMS), name=POEMS)
    shakespeare = load_corpus(CORPUS)
    variants = []
    for arch in archs:
        variants += [Variant("shakespeare, plain head", arch, shakespeare, False, 32),
                     Variant("poems, plain head (before issue 13)", arch, poems, False, 32),
                     Variant("poems, adaptive head", arch, poems, True, 32),
                     Variant("poems, charlm's adaptive model (head in the config)", arch, poems, True, 32,
                             wired=True)]  # fmt: skip
    if "training" in sections:
        for v in variants:  # warm-up: first-call allocations and kernel choices
            v.step()
            v.times.clear()
        print(f"\n## training step, batch 32 x block 64, {rounds} interleaved rounds (load {os.getloadavg()[0]:.2f})")
        for _ in range(rounds):
            for v in variants:
                v.step()
        print(f"# load after: {os.getloadavg()[0]:.2f}")
        table(variants, [(v.name, v.times, v.batch * v.block) for v in variants], "tokens")
    if "scoring" in sections:
        for v in variants:
            v.score()
            v.score_times.clear()
            v.fast_score_times.clear()
            v.loss_only_times.clear()
        print(f"\n## scoring forward (no grad), {rounds} interleaved rounds (load {os.getloadavg()[0]:.2f})")
        for _ in range(rounds):
            for v in variants:
                v.score()
        print(f"# load after: {os.getloadavg()[0]:.2f}")
        rows, shown = [], []
        for v in variants:
            rows.append((v.name + (", full log-probs" if v.head is not None else ""), [t for t, _ in v.score_times],
                         v.score_times[0][1]))  # fmt: skip
            shown.append(v)
            if v.head is not None:
                rows.append((v.name + ", AdaptiveHead.score", v.fast_score_times, v.score_times[0][1]))
                rows.append((v.name + ", AdaptiveHead.score, loss only", v.loss_only_times, v.score_times[0][1]))
                shown += [v, v]
        table(shown, rows, "tokens")


def bench_sampling(rounds: int, n: int = 200) -> None:
    print(f"\n## sampling one character: filter + draw, microseconds (fastest of {rounds} x {n} calls)")
    print(f"# load before: {os.getloadavg()[0]:.2f}")
    print("| V | logits | setting | filter_dense + softmax + multinomial | sample_top | speed-up |")
    print("|---|---|---|---|---|---|")
    gen = torch.Generator().manual_seed(0)
    for V in (66, 6258):
        for scale in (3.0, 1.0):  # 3: a peaked nucleus (~100 tokens at 6,258); 1: a flat one (the fallback)
            logits = torch.randn(V, generator=torch.Generator().manual_seed(1)) * scale
            for T, k, p in ((0.8, 0, 1.0), (0.8, 0, 0.9), (0.8, 40, 0.9)):

                def ref(logits=logits, T=T, k=k, p=p):
                    return torch.multinomial(torch.softmax(filter_dense(logits / T, k, p), -1), 1, generator=gen)

                def new(logits=logits, T=T, k=k, p=p):
                    return sample_top(logits, T, k, p, generator=gen)

                best = {ref: float("inf"), new: float("inf")}
                for _ in range(rounds):
                    for fn in (ref, new):
                        t = time.perf_counter()
                        for _ in range(n):
                            fn()
                        best[fn] = min(best[fn], (time.perf_counter() - t) / n * 1e6)
                setting = f"T {T}" + (f", top-k {k}" if k else "") + (f", top-p {p}" if p < 1 else "")
                print(f"| {V} | randn x {scale:g} | {setting} | {best[ref]:.0f} | {best[new]:.0f} "
                      f"| {best[ref] / best[new]:.2f}x |")  # fmt: skip
    print(f"# load after: {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", default="gru,lstm,gpt")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--sections", default="training,scoring,sampling")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    header("large vocabularies: the poems (6,258 ids) against Shakespeare (66)")
    sections = args.sections.split(",")
    if "training" in sections or "scoring" in sections:
        bench_models(args.archs.split(","), args.rounds, sections)
    if "sampling" in sections:
        bench_sampling(args.rounds)


if __name__ == "__main__":
    main()
