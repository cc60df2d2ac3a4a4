"""Text metrics that are right on English *and* Chinese: BLEU, chrF, TER, ROUGE, F1, exact match.

The scores come from sacrebleu and rouge-score themselves; this module chooses settings that work for Chinese
(``charlm.evaluation.tokens``) and validates the input, because both libraries fail silently on bad input
(sacrebleu truncates to the shorter of hypotheses and references).

Each metric is one class below: its settings, its explanation, its corpus score and its per-example score. A
score carries a signature built from the metric's settings, as sacrebleu's do, so any number can be reproduced.
Adding a metric means adding a class and listing it in ``METRICS``. This module never imports gradio or torch.
"""

from __future__ import annotations

import importlib.metadata
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from sacrebleu.metrics import BLEU, CHRF, TER

from charlm.errors import BudgetError, DataError
from charlm.evaluation.files import check_caps
from charlm.evaluation.tokens import ARTICLES, SENTENCE_ENDS, CJKAwareTokenizer, f1_tokens, resolve_tokenize
from charlm.evaluation.tokens import split_sentences as split_sentences
from charlm.text import normalize_newlines

Refs = Sequence[Sequence[str]]  # refs[i]: the references of hypothesis i (at least one; "" fills a gap)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def signature(settings: dict[str, object]) -> str:
    """``key:value|key:value``, the form sacrebleu uses: every setting that can change a score."""
    return "|".join(f"{k}:{v}" for k, v in settings.items())


class Metric:
    """One metric with fixed settings. ``score`` returns the corpus scores (0-100, one per key in ``keys``)
    and, when ``row_key`` is set, one score per example for the per-example table."""

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]
    row_key: ClassVar[str | None] = None
    explanation: ClassVar[str]

    def __init__(self, tokenize: str, lowercase: bool, time_limit: float | None = None) -> None:
        self.tokenize, self.lowercase, self.time_limit = tokenize, lowercase, time_limit
        self.details: str | None = None  # a longer description of the corpus score, where the library gives one
        self.warning: str | None = None  # why a score is missing (NaN), when it is

    def score(self, hyps: list[str], refs: Refs) -> tuple[dict[str, float], list[float] | None]:
        raise NotImplementedError

    def signature(self) -> str:
        raise NotImplementedError


def _streams(refs: Refs) -> list[list[str | None]]:
    """sacrebleu wants reference *streams*; a hypothesis with fewer references gets None (not "") there."""
    n_refs = max(len(rs) for rs in refs)
    return [[rs[k] if k < len(rs) else None for rs in refs] for k in range(n_refs)]


class _Sacre(Metric):
    """sacrebleu's own metric objects: scores and signatures exactly as sacrebleu makes them."""

    def _metric(self, sentence: bool):
        raise NotImplementedError

    def score(self, hyps: list[str], refs: Refs) -> tuple[dict[str, float], list[float] | None]:
        self._corpus = self._metric(sentence=False)
        result = self._corpus.corpus_score(hyps, _streams(refs))
        self.details, corpus = str(result), {self.keys[0]: result.score}
        if self.row_key is None:
            return corpus, None
        sent = self._metric(sentence=True)
        return corpus, [sent.sentence_score(h, list(rs)).score for h, rs in zip(hyps, refs, strict=True)]

    def signature(self) -> str:
        return str(self._corpus.get_signature())


class Bleu(_Sacre):
    name = "bleu"
    keys, row_key = ("bleu",), "bleu"
    explanation = (
        "BLEU: how many 1- to 4-word sequences of the output also appear in the reference, with a penalty for "
        "outputs that are too short. Corpus-level, 0-100; higher is better. Tokenizer matters: Chinese needs `zh` "
        "(one token per character)."
    )

    def _metric(self, sentence: bool) -> BLEU:
        # sentence BLEU needs effective order: a short segment without a 4-gram match would otherwise score 0
        return BLEU(tokenize=self.tokenize, lowercase=self.lowercase, effective_order=sentence)


class Chrf(_Sacre):
    name = "chrf"
    keys, row_key = ("chrf",), "chrf"
    explanation = (
        "chrF: F-score over character 1- to 6-grams. Needs no word splitting, so it works on Chinese without a word "
        "segmenter and suits rich morphology; higher is better. On Chinese its numbers run well below ROUGE-L's "
        "(when you score Chinese, the notes above say why)."
    )

    def _metric(self, sentence: bool) -> CHRF:
        return CHRF(lowercase=self.lowercase)


class Ter(_Sacre):
    name = "ter"
    keys = ("ter",)
    explanation = (
        "TER: edits (insert, delete, substitute, shift) needed to turn the output into the reference, per reference "
        "word. LOWER is better; 0 means identical."
    )
    # TER's search for shifts grows like (words)^3.5 on dissimilar segments: 72 words took 1 s here, 143 words 11 s.
    # With a time limit, segments are scored one by one (sacrebleu's own per-segment statistics, so the corpus
    # score is identical) and TER is left out, with a warning, if the next segment could not finish in time.
    seconds_per_word_3_5 = 3.1e-7  # measured worst case (unrelated texts), bench notes in docs/reliability.md

    def _metric(self, sentence: bool) -> TER:
        asian = self.tokenize in ("zh", "char")  # Asian-aware TER when BLEU also cuts per character
        return TER(normalized=asian, asian_support=asian, case_sensitive=False)

    def score(self, hyps: list[str], refs: Refs) -> tuple[dict[str, float], list[float] | None]:
        if self.time_limit is None:
            return super().score(hyps, refs)
        self._corpus = ter = self._metric(sentence=False)
        cache = ter._cache_references(_streams(refs))  # also fixes the signature's nrefs, as corpus_score does
        deadline, stats = time.monotonic() + self.time_limit, []
        for h, rs, ref_info in zip(hyps, refs, cache, strict=True):
            words = max(len(x.split()) for x in (h, *rs))
            if time.monotonic() + self.seconds_per_word_3_5 * words**3.5 > deadline:
                self.warning = (f"TER was left out: its search for word shifts on long, dissimilar segments would take "
                                f"more than {self.time_limit:g} s here (a segment of {words} words); the other "
                                "metrics are complete")  # fmt: skip
                return {"ter": float("nan")}, None
            stats.append(ter._compute_segment_statistics(ter._preprocess_segment(h), ref_info))
        result = ter._aggregate_and_compute(stats)
        self.details = str(result)
        return {"ter": result.score}, None


class Rouge(Metric):
    name = "rouge"
    types = ("rouge1", "rouge2", "rougeL", "rougeLsum")
    keys, row_key = types, "rougeL"
    explanation = (
        "ROUGE-1/2: overlap of single words / word pairs (F-measure). ROUGE-L: longest common subsequence "
        "(order-aware). ROUGE-Lsum: ROUGE-L per sentence, for multi-sentence summaries. Chinese characters count "
        "as words."
    )
    use_stemmer = True

    def score(self, hyps: list[str], refs: Refs) -> tuple[dict[str, float], list[float] | None]:
        from rouge_score import rouge_scorer  # (here: importing it, and nltk, costs over a second)

        scorer = rouge_scorer.RougeScorer(list(self.types), tokenizer=CJKAwareTokenizer(self.use_stemmer))
        sums, rows = dict.fromkeys(self.types, 0.0), []
        for h, rs in zip(hyps, refs, strict=True):
            r = scorer.score_multi([split_sentences(x) for x in rs], split_sentences(h))
            for t in self.types:
                sums[t] += float(r[t].fmeasure)
            rows.append(100 * float(r["rougeL"].fmeasure))
        return {t: 100 * v / len(hyps) for t, v in sums.items()}, rows

    def signature(self) -> str:
        return signature({"tok": "cjk-aware", "stem": "yes" if self.use_stemmer else "no", "agg": "mean",
                          "lsum": f"split-at-{SENTENCE_ENDS}", "version": _version("rouge-score")})  # fmt: skip


class _TokenMatch(Metric):
    """SQuAD-style metrics over bilingual tokens (``f1_tokens``), best over the references."""

    def _one(self, pred: str, gold: str) -> float:
        raise NotImplementedError

    def score(self, hyps: list[str], refs: Refs) -> tuple[dict[str, float], list[float] | None]:
        rows = [100 * max(self._one(h, r) for r in rs) for h, rs in zip(hyps, refs, strict=True)]
        return {self.keys[0]: sum(rows) / len(rows)}, rows

    def signature(self) -> str:
        settings = {"method": "squad-bilingual", "norm": "nfkc+lc", "punct": "P*S*", "articles": ",".join(ARTICLES)}
        return signature(settings | {"cjk": "char", "multi-ref": "max", "empty": "v2"})


def token_f1(pred: str, gold: str) -> float:
    """Token F1 in [0, 1]; both empty scores 1 (the SQuAD v2 rule), one empty scores 0."""
    p, g = f1_tokens(pred), f1_tokens(gold)
    if not p or not g:
        return float(p == g)
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def exact_match(pred: str, gold: str) -> float:
    """1.0 when the normalised token lists are equal, else 0.0."""
    return float(f1_tokens(pred) == f1_tokens(gold))


class TokenF1(_TokenMatch):
    name = "f1"
    keys, row_key = ("f1",), "f1"
    explanation = (
        "F1 (SQuAD-style): bag-of-tokens overlap between output and reference. F1 = 2PR/(P+R), where P is PRECISION "
        "(shared tokens / output tokens) and R is recall (shared tokens / reference tokens) - P is not accuracy. "
        "Punctuation, case and a/an/the are ignored; each Chinese character is a token."
    )
    _one = staticmethod(token_f1)


class ExactMatch(_TokenMatch):
    name = "exact_match"
    keys, row_key = ("exact_match",), "exact_match"
    explanation = (
        "Exact match: 100 if the normalised output equals a normalised reference, else 0; averaged over examples."
    )
    _one = staticmethod(exact_match)


METRICS: tuple[type[Metric], ...] = (Bleu, Chrf, Ter, Rouge, TokenF1, ExactMatch)
SCORE_KEYS = tuple(k for m in METRICS for k in m.keys)
EXPLANATIONS = {m.name: m.explanation for m in METRICS}


@dataclass
class MetricScore:
    """One corpus score with its signature, like a sacrebleu score object."""

    name: str
    score: float
    signature: str

    def __str__(self) -> str:
        return f"{self.name} = {self.score:.2f} | {self.signature}"


@dataclass
class EvalReport:
    """Corpus scores (0-100, keys ``SCORE_KEYS``), their signatures and one row per example."""

    scores: dict[str, float]
    signatures: dict[str, str]
    tokenize: str
    n_segments: int
    rows: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)

    def metric(self, key: str) -> MetricScore:
        return MetricScore(key, self.scores[key], self.signatures[key])

    def to_json_dict(self) -> dict:
        """The CLI's ``--json`` object (a score that was left out is null)."""
        scores = {k: (None if math.isnan(v) else v) for k, v in self.scores.items()}
        return {**scores, "n_segments": self.n_segments, "tokenize": self.tokenize,
                "signatures": dict(self.signatures)}  # fmt: skip

    def to_full_dict(self) -> dict:
        """Everything, for the downloadable JSON report."""
        return {**self.to_json_dict(), "details": self.details, "warnings": self.warnings,
                "explanations": EXPLANATIONS, "examples": self.rows}  # fmt: skip

    def summary_rows(self) -> list[dict]:
        """One row per metric for a summary table."""
        return [{"metric": k, "score": round(self.scores[k], 2), "tokenizer": self.tokenize,
                 "signature": self.signatures[k]} for k in SCORE_KEYS]  # fmt: skip


def _validate(hyps: Sequence[str], refs: Refs) -> None:
    if isinstance(hyps, str) or not isinstance(hyps, Sequence):
        raise DataError("hypotheses must be a list of strings")
    if not hyps:
        raise DataError("no hypotheses to score")
    if isinstance(refs, str) or len(refs) != len(hyps):
        n = "a string" if isinstance(refs, str) else f"{len(refs)} reference entries"
        raise DataError(f"{len(hyps)} hypotheses but {n}; refs[i] must list the references of hypothesis i")
    for i, (h, rs) in enumerate(zip(hyps, refs, strict=True), start=1):
        if not isinstance(h, str):
            raise DataError(f"hypothesis {i} is {type(h).__name__}, not text")
        if isinstance(rs, str) or not isinstance(rs, Sequence) or not rs:
            raise DataError(f"references of hypothesis {i} must be a non-empty list of strings")
        if not all(isinstance(r, str) for r in rs):
            raise DataError(f"a reference of hypothesis {i} is not text")


def _clean(refs: Refs, warnings: list[str]) -> list[list[str]]:
    """Drop empty references where another one exists (sacrebleu wants ``None`` for gaps, not '')."""
    out = []
    for i, rs in enumerate(refs, start=1):
        kept = [r for r in rs if r.strip()]
        if len(kept) < len(rs):
            warnings.append(
                f"reference line {i} is empty"
                + ("" if kept else "; it scores 0 (F1/EM: 1 if the hypothesis is empty too)")
            )
        out.append(kept or [""])
    return out


def comparison_cells(hyps: Sequence[str], refs: Refs) -> int:
    """Hypothesis tokens x reference tokens, summed over examples: the size of ROUGE-L's tables, the bulk of the
    work of an evaluation (about 6 µs per cell in rouge-score's Python)."""
    return sum(len(f1_tokens(h)) * sum(len(f1_tokens(r)) for r in rs) for h, rs in zip(hyps, refs, strict=True))


def evaluate_texts(
    hyps: Sequence[str],
    refs: Refs,
    tokenize: str = "auto",
    lowercase: bool = False,
    max_cells: int | None = None,
    time_limit: float | None = None,
) -> EvalReport:
    """Score hypotheses against references with every metric in ``METRICS``.

    ``refs[i]`` is the list of references of ``hyps[i]`` (any number each); see ``files.streams_to_refs`` for
    one-file-per-reference-set input. ``tokenize`` applies to BLEU (and picks Asian-aware TER for ``zh``/``char``);
    ROUGE and F1 always use the CJK-aware tokenizer, which equals rouge-score's on English. A server bounds the work
    with ``max_cells`` (refused up front) and ``time_limit`` (TER, the one metric whose cost explodes, is left out).
    """
    _validate(hyps, refs)
    hyps = [normalize_newlines(h) for h in hyps]
    refs = [[normalize_newlines(r) for r in rs] for rs in refs]
    check_caps(hyps, refs)
    if max_cells is not None and (cells := comparison_cells(hyps, refs)) > max_cells:
        raise BudgetError(
            f"this evaluation compares {cells:,} pairs of tokens (ROUGE-L compares every hypothesis token with every "
            f"reference token); this server allows {max_cells:,} (CHARLM_MAX_EVAL_CELLS): use fewer or shorter lines"
        )
    warnings = [f"hypothesis line {i} is empty" for i, h in enumerate(hyps, start=1) if not h.strip()]
    refs = _clean(refs, warnings)
    tok = resolve_tokenize(tokenize, [*hyps, *(r for rs in refs for r in rs)])
    scores, signatures, details = {}, {}, {}
    rows = [
        {"line": i, "hypothesis": h, "reference": rs[0]} for i, (h, rs) in enumerate(zip(hyps, refs, strict=True), 1)
    ]
    for metric_type in METRICS:
        metric = metric_type(tok, lowercase, time_limit)
        corpus, per_example = metric.score(hyps, refs)
        scores |= corpus
        signatures |= dict.fromkeys(corpus, metric.signature())
        if per_example is not None:
            for row, value in zip(rows, per_example, strict=True):
                row[metric.row_key] = value
        if metric.details:  # e.g. BLEU's n-gram precisions and brevity penalty
            details[metric.name] = metric.details
        if metric.warning:
            warnings.append(metric.warning)
    return EvalReport(scores={k: scores[k] for k in SCORE_KEYS}, signatures=signatures, tokenize=tok,
                      n_segments=len(hyps), rows=rows, warnings=warnings, details=details)  # fmt: skip
