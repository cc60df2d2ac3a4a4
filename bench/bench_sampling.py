"""Sampling speed: the core's cached sampler against a naive full-window sampler, same model, same run.

For every checkpoint under checkpoints/ (or --checkpoints a,b): characters/s for --new characters and the time
to the first character after a 1,000-character prompt, for

- cached: ``charlm.generation.sample.sample_ids`` (KV cache / recurrent state, one new character per forward);
- naive:  nanoGPT's ``generate``: crop to the last ``block_size`` characters and run the whole window for
          every character (recurrent models: re-read the last ``block_size`` characters from a zero state);
- proto (GPT only): a prototype of the recommended sampler change, a static-shape decode step (the cache is
  attended in full with a position mask, so every step has the same shapes) under ``torch.inference_mode``,
  optionally ``torch.compile``d (``--compile``).

Variants are interleaved and repeated (--repeats); medians are reported with the load average.

    python bench/bench_sampling.py                      # all shipped models, threads 1
    python bench/bench_sampling.py --threads 1,2 --compile --repeats 5
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from _common import CORPUS, checkpoints, header, median

from charlm.generation.sample import sample_ids
from charlm.generation.settings import Sampling
from charlm.storage.checkpoint import load_checkpoint
from charlm.vocab import UNK_ID


@torch.no_grad()
def naive_sample_ids(model, vocab, prompt: str, max_new_chars: int, temperature: float = 0.8, seed: int = 0):
    """nanoGPT's generate(): full forward over the (cropped) window for every new character."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    window = getattr(model, "max_context", None) or model.config.block_size
    idx = torch.tensor([vocab.encode(prompt).ids])
    for _ in range(max_new_chars):
        logits, _ = model(idx[:, -window:], None)
        last = logits[0, -1].float() / temperature
        last[UNK_ID] = float("-inf")
        nxt = torch.multinomial(torch.softmax(last, -1), 1, generator=gen)
        idx = torch.cat([idx, nxt.view(1, 1)], dim=1)
        yield int(nxt)


def in_inference_mode(it):
    """Run a generator's every step under torch.inference_mode (the core sampler's no_grad stays inside it)."""
    while True:
        with torch.inference_mode():
            try:
                value = next(it)
            except StopIteration:
                return
        yield value


class StaticDecoder:
    """Prototype: GPT decode step with fixed shapes (attend to the whole preallocated cache under a mask).

    Same weights and maths as charlm.models.gpt; differences: one step function with no Python branching per
    layer, cache writes by ``index_copy_`` at a tensor position, the mask built from ``arange <= pos``, inference
    mode, and (optionally) ``torch.compile`` of that step, which fuses the per-layer elementwise ops.
    """

    def __init__(self, model, compile: bool = False):
        self.m = model
        c = model.config
        self.c = c
        self.hd = c.n_embd // c.n_head
        self.ar = torch.arange(c.block_size)
        self.step = torch.compile(self._step, dynamic=False, fullgraph=True) if compile else self._step

    def _step(self, tok, pos, k_cache, v_cache):
        m, c = self.m, self.c
        x = m.wte(tok) + m.wpe(pos)  # (1, 1, C)
        mask = (self.ar <= pos).view(1, 1, 1, -1)
        for i, blk in enumerate(m.blocks):
            h = F.layer_norm(x, (c.n_embd,), blk.ln_1.weight, blk.ln_1.bias, 1e-5)
            q, k, v = blk.attn.c_attn(h).view(1, 1, 3, c.n_head, self.hd).permute(2, 0, 3, 1, 4)
            k_cache[i].index_copy_(2, pos, k)
            v_cache[i].index_copy_(2, pos, v)
            y = F.scaled_dot_product_attention(q, k_cache[i], v_cache[i], attn_mask=mask)
            x = x + blk.attn.c_proj(y.transpose(1, 2).reshape(1, 1, c.n_embd))
            h = F.layer_norm(x, (c.n_embd,), blk.ln_2.weight, blk.ln_2.bias, 1e-5)
            x = x + blk.mlp.c_proj(F.gelu(blk.mlp.c_fc(h)))
        x = F.layer_norm(x, (c.n_embd,), m.ln_f.weight, m.ln_f.bias, 1e-5)
        return m.lm_head(x)[0, -1]

    @torch.inference_mode()
    def sample_ids(self, vocab, prompt: str, max_new_chars: int, temperature: float = 0.8, seed: int = 0):
        m, window = self.m, self.c.block_size
        keep = max(1, window // 2)
        m.eval()
        gen = torch.Generator().manual_seed(seed)
        context = vocab.encode(prompt).ids[-window:]

        def prefill(ctx):
            state = m.init_state(1)
            logits, state = m(torch.tensor([ctx]), state)
            return logits[0, -1], state

        last, state = prefill(context)
        for _ in range(max_new_chars):
            last = last.float() / temperature
            last[UNK_ID] = float("-inf")
            nxt = int(torch.multinomial(torch.softmax(last, -1), 1, generator=gen))
            yield nxt
            context.append(nxt)
            if state.pos >= window:
                context = context[-keep:]
                last, state = prefill(context)
                continue
            last = self.step(torch.tensor([[nxt]]), torch.tensor([state.pos]), state.k, state.v)
            state.pos += 1


def time_run(make_iter, n: int) -> tuple[float, float]:
    """(seconds to the first character, characters per second over the whole run including the first)."""
    t0 = time.perf_counter()
    it = make_iter()
    next(it)
    t1 = time.perf_counter()
    count = 1 + sum(1 for _ in it)
    t2 = time.perf_counter()
    assert count == n, (count, n)
    return t1 - t0, n / (t2 - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", help="comma-separated checkpoint folders (default: every checkpoints/*)")
    ap.add_argument("--new", type=int, default=500, help="new characters per cached run")
    ap.add_argument("--naive-new", type=int, default=100, help="new characters per naive run (it is slow)")
    ap.add_argument("--prompt-chars", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1", help="comma-separated torch.set_num_threads values to try")
    ap.add_argument("--compile", action="store_true", help="also time the torch.compile'd prototype")
    args = ap.parse_args()

    text = CORPUS.read_text(encoding="utf-8")
    prompt = text[len(text) // 2 : len(text) // 2 + args.prompt_chars]  # 1,000 characters of real text
    header("sampling: cached vs naive (medians of interleaved repeats)")
    print(f"# prompt {len(prompt)} chars; cached/proto {args.new} new chars, naive {args.naive_new} new chars")
    print("| model | threads | variant | chars/s | first char (ms) | speed vs naive |")
    print("|---|---|---|---|---|---|")
    for path in checkpoints(args.checkpoints):
        bench_one(path, args, prompt)
    header("done")


def bench_one(path, args, prompt: str) -> None:
    if True:
        loaded = load_checkpoint(path)
        model, vocab = loaded.model, loaded.vocab
        is_gpt = loaded.config.arch == "gpt"
        variants = {
            "cached (charlm.generation.sample)": lambda: sample_ids(
                model, vocab, prompt, Sampling(max_new_chars=args.new, seed=0)
            ),
            "naive (full window)": lambda: naive_sample_ids(model, vocab, prompt, args.naive_new),
        }
        counts = {"cached (charlm.generation.sample)": args.new, "naive (full window)": args.naive_new}
        variants["cached, called under torch.inference_mode"] = lambda: in_inference_mode(
            sample_ids(model, vocab, prompt, Sampling(max_new_chars=args.new, seed=0))
        )
        counts["cached, called under torch.inference_mode"] = args.new
        if is_gpt:
            proto = StaticDecoder(model)
            variants["proto: static step + inference_mode"] = lambda p=proto: p.sample_ids(vocab, prompt, args.new)
            counts["proto: static step + inference_mode"] = args.new
            if args.compile:
                cproto = StaticDecoder(model, compile=True)
                t0 = time.perf_counter()
                list(cproto.sample_ids(vocab, prompt, 40))  # compile + warm
                print(f"# {path.name}: torch.compile of the decode step took {time.perf_counter() - t0:.1f} s")
                variants["proto + torch.compile"] = lambda p=cproto: p.sample_ids(vocab, prompt, args.new)
                counts["proto + torch.compile"] = args.new
        for nt in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(nt)
            res: dict[str, list] = {k: [] for k in variants}
            for name, make in variants.items():  # warm-up
                time_run(make, counts[name])
            for _ in range(args.repeats):
                for name, make in variants.items():
                    res[name].append(time_run(make, counts[name]))
            naive_rate = median([r[1] for r in res["naive (full window)"]])
            for name, runs in res.items():
                ttfc, rate = median([r[0] for r in runs]), median([r[1] for r in runs])
                print(
                    f"| {path.name} ({loaded.config.arch}, {loaded.n_params / 1e6:.2f}M) | {nt} | {name} | "
                    f"{rate:,.0f} | {ttfc * 1e3:.1f} | {rate / naive_rate:.1f}x |"
                )


if __name__ == "__main__":
    main()
