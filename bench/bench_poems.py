"""Poem mode (issue 13): how often a model keeps the quatrain form free vs constrained, and what a poem costs.

For one checkpoint (default checkpoints/tang-poems-gru), seed i = 0..N-1 writes one poem for title i mod len(titles)
twice with ``charlm.poetry.write_poem``: free, then constrained (``QuatrainRule``), same seed, title and sampling
settings, interleaved so that both modes see the same machine load. Reported side by side:

- the form-check pass rate (``result.form.ok``), x/N and %;
- an independent check of the same poems (``independent_form_ok``: code points and positions, sharing no code
  with ``charlm.poetry``), so a constrained pass rate of 100% is not the form check agreeing with itself;
- the most common failure reasons in free mode (``result.form.problems()``, line numbers folded into "line N",
  each reason counted once per poem);
- milliseconds per poem, mean and p95 (prompt conversion, sampling and the form check: all of ``write_poem``,
  after one warm-up poem per mode that loads OpenCC's dictionaries);
- three example poems of each mode.

The model is loaded as ``python -m charlm poem`` loads it: int8 on the CPU (``--fp32`` for full precision).
Output: the command and machine facts, then markdown ready for docs/benchmarks.md; ``--json PATH`` writes every
poem with its timing.

    python bench/bench_poems.py                                  # 50 seeds, checkpoints/tang-poems-gru
    python bench/bench_poems.py --checkpoint /tmp/poem-dev --samples 10 --json /tmp/poems.json
    python bench/bench_poems.py --temperature 1.0 --titles 春晓,江雪 --fp32
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch
from _common import REPO, header

from charlm.errors import CharlmError
from charlm.generation.settings import Sampling
from charlm.models import config_parameters
from charlm.models.quantize import quantize_for_cpu
from charlm.poetry import write_poem
from charlm.storage.checkpoint import load_checkpoint

TITLES = ("春晓", "江雪", "静夜思", "登高", "送别", "秋思", "山居", "月夜", "听雨", "咏柳")  # simplified, as typed
MODES = ("free", "constrained")
EXAMPLES = 3
# Written out again here, not imported from charlm.poetry: the point of the independent check.
PUNCT_AT = {5: "，", 11: "。", 17: "，", 23: "。"}


def independent_form_ok(body: str) -> bool:
    """24 characters: '，' after the 5th and 15th Han character, '。' after the 10th and 20th, and every other one
    a CJK ideograph by its Unicode name (the corpus's definition, checked without charlm.poetry's regex)."""
    body = body.removesuffix("\n")
    if len(body) != 24:
        return False
    for p, ch in enumerate(body):
        want = PUNCT_AT.get(p)
        if want is not None and ch != want:
            return False
        if want is None and not unicodedata.name(ch, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY")):
            return False
    return True


def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: with 50 samples p95 is the 48th smallest)."""
    ordered = sorted(xs)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def load(path: str, fp32: bool):
    """The checkpoint as the poem CLI runs it on the CPU: int8 unless ``fp32``."""
    loaded = load_checkpoint(path)
    return loaded if fp32 else quantize_for_cpu(loaded)


def write_all(loaded, titles: list[str], samples: int, args: argparse.Namespace) -> list[dict]:
    """Every poem, free and constrained per seed, with its time in ms and its independent check."""
    kw = dict(script=args.script)
    sampling = Sampling(args.temperature, args.top_k, args.top_p)
    for constrained in (False, True):  # warm-up: OpenCC dictionaries, first-call allocations (seed outside 0..N-1)
        write_poem(loaded, titles[0], constrained=constrained, sampling=replace(sampling, seed=samples), **kw)
    rows = []
    for seed in range(samples):
        title = titles[seed % len(titles)]
        for mode in MODES:
            t0 = time.perf_counter()
            one = replace(sampling, seed=seed)
            result = write_poem(loaded, title, constrained=mode == "constrained", sampling=one, **kw)
            ms = (time.perf_counter() - t0) * 1000
            ok = independent_form_ok(result.poem_traditional)
            rows.append({"seed": seed, "title_typed": title, "mode": mode, "ms": ms, "independent_ok": ok,
                         **result.to_json()})  # fmt: skip
    return rows


def failure_reasons(rows: list[dict]) -> Counter:
    """Problems of the failed poems, "line 3 ..." folded into "line N ...", each counted once per poem."""
    counts: Counter = Counter()
    for r in rows:
        counts.update({re.sub(r"\bline \d+", "line N", p) for p in r["form_problems"]})
    return counts


def summarize(rows: list[dict]) -> dict:
    """Per mode: pass counts (form check and independent), timing, mean poem length, cut poems."""
    out = {}
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        ms = [r["ms"] for r in mine]
        out[mode] = {
            "n": len(mine),
            "ok": sum(r["well_formed"] for r in mine),
            "independent_ok": sum(r["independent_ok"] for r in mine),
            "disagree": sum(r["well_formed"] != r["independent_ok"] for r in mine),
            "ms_mean": statistics.fmean(ms),
            "ms_p95": percentile(ms, 95),
            "chars_mean": statistics.fmean(len(r["poem_traditional"]) for r in mine),
            "cut": sum(any("did not end" in n for n in r["notices"]) for r in mine),
        }
    return out


def print_markdown(rows: list[dict], summary: dict, args: argparse.Namespace) -> None:
    n = summary["free"]["n"]
    print(f"\nCheckpoint `{args.checkpoint}` ({'fp32' if args.fp32 else 'int8'}), {n} seeds, temperature "
          f"{args.temperature}, top-k {args.top_k}, top-p {args.top_p}, "
          f"titles {'、'.join(args.titles)}.\n")  # fmt: skip
    print("| mode | form check passes | independent check passes | ms/poem mean | ms/poem p95 | chars/poem | cut at "
          "the length cap |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for mode in MODES:
        s = summary[mode]
        print(f"| {mode} | {s['ok']}/{n} ({100 * s['ok'] / n:.0f}%) | {s['independent_ok']}/{n} "
              f"({100 * s['independent_ok'] / n:.0f}%) | {s['ms_mean']:.1f} | {s['ms_p95']:.1f} | "
              f"{s['chars_mean']:.1f} | {s['cut']} |")  # fmt: skip
    ratio = summary["constrained"]["ms_mean"] / summary["free"]["ms_mean"]
    print(f"\nConstrained / free time per poem: {ratio:.2f}x. Poems where the form check and the independent check "
          f"disagree: {summary['free']['disagree'] + summary['constrained']['disagree']}.")  # fmt: skip
    failed = [r for r in rows if r["mode"] == "free" and not r["well_formed"]]
    if failed:
        print(f"\nMost common failure reasons in free mode ({len(failed)} failed poems; a poem can have several):\n")
        print("| reason | poems |")
        print("|---|---|")
        for reason, count in failure_reasons(failed).most_common(args.reasons):
            print(f"| {reason} | {count} ({100 * count / len(failed):.0f}%) |")
    for mode in MODES:
        print(f"\nExamples, {mode} (seeds 0-{EXAMPLES - 1}):\n")
        for r in [r for r in rows if r["mode"] == mode][:EXAMPLES]:
            mark = "ok" if r["well_formed"] else "form: " + r["form"]
            print(f"    {r['title']}:{r['poem']}    ({mark})".replace("\n", "⏎"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "tang-poems-gru"),
                   help="checkpoint folder, or a training output folder (its best/ is used)")  # fmt: skip
    p.add_argument("--samples", type=int, default=50, help="seeds; each writes one free and one constrained poem")
    p.add_argument("--titles", type=lambda s: [t for t in s.split(",") if t], default=list(TITLES),
                   help="comma-separated titles, simplified or traditional; seed i uses title i mod count")  # fmt: skip
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--script", choices=["traditional", "simplified"], default="traditional",
                   help="the script of the examples (simplified adds OpenCC's conversion to the timing)")  # fmt: skip
    p.add_argument("--fp32", action="store_true", help="full-precision weights (default: int8, as the poem CLI)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--reasons", type=int, default=5, help="how many failure reasons to list")
    p.add_argument("--json", type=Path, help="write every poem with its timing and the summary here")
    args = p.parse_args(argv)
    if args.samples < 1 or not args.titles:
        p.error("--samples must be at least 1 and --titles non-empty")
    torch.set_num_threads(args.threads)
    header("bench_poems: quatrain form, free vs constrained decoding")
    try:
        loaded = load(args.checkpoint, args.fp32)
        n_params = config_parameters(loaded.config)  # from the config: an int8 copy packs its weights
        print(f"# model: {loaded.config.arch}, {n_params:,} parameters, vocabulary {loaded.vocab.size}")
        rows = write_all(loaded, args.titles, args.samples, args)
    except CharlmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = summarize(rows)
    print_markdown(rows, summary, args)
    if args.json:
        meta = {"argv": sys.argv, "checkpoint": args.checkpoint, "fp32": args.fp32, "temperature": args.temperature,
                "top_k": args.top_k, "top_p": args.top_p, "threads": args.threads, "titles": args.titles}  # fmt: skip
        args.json.write_text(json.dumps({"meta": meta, "summary": summary, "poems": rows}, ensure_ascii=False,
                                        indent=1), encoding="utf-8")  # fmt: skip
        print(f"\n# raw results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
