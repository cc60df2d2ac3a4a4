"""``python -m charlm eval``: score hypotheses against references with the same core the Evaluate tab uses."""

from __future__ import annotations

import argparse
import json
import sys

from charlm.errors import DataError
from charlm.evaluation import SCORE_KEYS, TOKENIZERS, classification_scores, evaluate_texts
from charlm.evaluation.files import read_lines_file, read_table, streams_to_refs


def add_parser(subparsers) -> None:
    """Register the ``eval`` sub-command."""
    p = subparsers.add_parser(
        "eval",
        help="score hypotheses against references (BLEU, chrF, TER, ROUGE, F1, exact match)",
        description="Score hypotheses against one or more references. Files hold one segment per line "
        "(UTF-8; CRLF, a BOM and one trailing newline are fine), or use --jsonl/--csv with named columns.",
    )
    p.add_argument("--hyp", metavar="FILE", help="hypotheses, one per line")
    p.add_argument("--ref", metavar="FILE", action="append", default=[], help="references; repeat for more")
    p.add_argument("--jsonl", "--csv", dest="table", metavar="FILE", help="JSONL or CSV file with columns")
    p.add_argument("--hyp-col", default=None, help="hypothesis column of --jsonl/--csv (default: guessed)")
    p.add_argument("--ref-col", action="append", default=None, help="reference column(s) of --jsonl/--csv; repeatable")
    p.add_argument("--tokenize", default="auto", choices=TOKENIZERS, help="BLEU tokenizer (default: auto)")
    p.add_argument("--lowercase", action="store_true", help="case-insensitive BLEU and chrF")
    p.add_argument("--labels", action="store_true", help="treat lines as class labels: accuracy and P/R/F1 averages")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> tuple[list[str], list[list[str]]]:
    if args.table:
        if args.hyp or args.ref:
            raise DataError("use either --jsonl/--csv or --hyp/--ref, not both")
        return read_table(args.table, args.hyp_col, args.ref_col)
    if not args.hyp or not args.ref:
        raise DataError("give --hyp FILE and at least one --ref FILE (or --jsonl FILE)")
    hyps = read_lines_file(args.hyp)
    if not hyps:
        raise DataError(f"{args.hyp}: no lines")
    streams = [read_lines_file(r) for r in args.ref]
    return hyps, streams_to_refs(hyps, streams, names=list(args.ref))


def _print_labels(hyps: list[str], refs: list[list[str]], as_json: bool) -> None:
    scores = classification_scores(hyps, [rs[0] for rs in refs])
    if as_json:
        print(json.dumps(scores, ensure_ascii=False))
        return
    print(f"accuracy  {scores['accuracy']:.4f}  (n = {scores['n']})")
    print("          precision  recall  f1      (F1 = 2PR/(P+R), P = precision)")
    for avg in ("micro", "macro", "weighted"):
        vals = [scores[f"{avg}_{m}"] for m in ("precision", "recall", "f1")]
        print(f"{avg:<9} " + "  ".join(f"{v:.4f}" for v in vals))


def run(args: argparse.Namespace) -> int:
    """Score and print a table (or ``--json``); user errors raise ``DataError`` (exit code 2)."""
    hyps, refs = _load(args)
    if args.labels:
        _print_labels(hyps, refs, args.json)
        return 0
    report = evaluate_texts(hyps, refs, tokenize=args.tokenize, lowercase=args.lowercase)
    for w in report.warnings[:20]:
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json_dict(), ensure_ascii=False))
        return 0
    print(f"{report.n_segments} segments, tokenize = {report.tokenize}")
    for key in SCORE_KEYS:
        print(f"{key:<12} {report.scores[key]:7.2f}  {report.signatures[key]}")
    print(report.details["bleu"])
    return 0
