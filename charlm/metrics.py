"""Text metrics that are right on English *and* Chinese: BLEU, chrF, TER, ROUGE, F1, exact match.

The scores come from sacrebleu and rouge-score themselves; this module only chooses settings that work for
Chinese and validates the input, because with default settings both libraries fail silently on it:

* sacrebleu's default ``13a`` tokenizer treats a run of Chinese characters as one word (so BLEU is 0), and it
  truncates to the shorter of hypotheses and references. ``tokenize="auto"`` picks ``zh`` when Han or Kana is
  present, and the counts are checked before scoring.
* rouge-score's default tokenizer deletes every non-ASCII character, so identical Chinese strings score 0.
  ``CJKAwareTokenizer`` keeps each Han/Kana character as a token and is identical to the default on ASCII.

Every score is on a 0-100 scale and carries a signature string, like sacrebleu's metric objects, so a number
can always be reproduced. This module never imports gradio or torch.
"""

from __future__ import annotations

import importlib.metadata
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import regex
import sacrebleu
from nltk.stem import porter
from rouge_score import rouge_scorer, tokenizers
from sacrebleu.metrics import BLEU, CHRF, TER

from charlm.errors import DataError
from charlm.metrics_io import check_caps

TOKENIZERS = ("auto", "13a", "zh", "intl", "char", "none")
SCORE_KEYS = ("bleu", "chrf", "ter", "rouge1", "rouge2", "rougeL", "rougeLsum", "f1", "exact_match")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
_CJK_RE = regex.compile(rf"[{_CJK}]")
# One token per CJK character, otherwise runs of letters/digits. ``\w`` also matches Han, so CJK must be
# excluded from the word class, or "10写代码" would become one token.
_TOKEN_RE = regex.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_PUNCT_SYMBOL_RE = regex.compile(r"[\p{P}\p{S}]")
_ARTICLES = frozenset({"a", "an", "the"})
# Sentence ends for ROUGE-Lsum: CJK/!? marks always, "." only before whitespace (so "3.10" stays whole).
_SENTENCE_END_RE = re.compile(r"([。！？!?])\s*|(\.)\s+")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


ROUGE_SIGNATURE = f"tok:cjk-aware|stem:yes|agg:mean|lsum:split-at-。！？.!?|version:{_version('rouge-score')}"
F1_SIGNATURE = "squad-bilingual|norm:nfkc+lc|punct:P*S*|articles:en|cjk:char|multi-ref:max|empty:v2"

EXPLANATIONS = {
    "bleu": "BLEU: how many 1- to 4-word sequences of the output also appear in the reference, with a "
    "penalty for outputs that are too short. Corpus-level, 0-100; higher is better. Tokenizer matters: "
    "Chinese needs `zh` (one token per character).",
    "chrf": "chrF: F-score over character 1- to 6-grams. Needs no word splitting, so it is reliable for "
    "Chinese and for morphology; higher is better.",
    "ter": "TER: edits (insert, delete, substitute, shift) needed to turn the output into the reference, per "
    "reference word. LOWER is better; 0 means identical.",
    "rouge": "ROUGE-1/2: overlap of single words / word pairs (F-measure). ROUGE-L: longest common "
    "subsequence (order-aware). ROUGE-Lsum: ROUGE-L per sentence, for multi-sentence summaries. "
    "Chinese characters count as words.",
    "f1": "F1 (SQuAD-style): bag-of-tokens overlap between output and reference. F1 = 2PR/(P+R), where P is "
    "PRECISION (shared tokens / output tokens) and R is recall (shared tokens / reference tokens) - P is not "
    "accuracy. Punctuation, case and a/an/the are ignored; each Chinese character is a token.",
    "exact_match": "Exact match: 100 if the normalised output equals a normalised reference, else 0; "
    "averaged over examples.",
}


class CJKAwareTokenizer(tokenizers.Tokenizer):
    """rouge-score tokenizer that keeps CJK: identical to rouge-score's default on ASCII English."""

    def __init__(self, use_stemmer: bool = True) -> None:
        self._stemmer = porter.PorterStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        toks = _TOKEN_RE.findall(text.lower())
        if self._stemmer:
            toks = [self._stemmer.stem(t) if len(t) > 3 and t.isascii() else t for t in toks]
        return toks


def has_cjk(text: str) -> bool:
    """True when ``text`` has a Han, Hiragana or Katakana character."""
    return _CJK_RE.search(text) is not None


def resolve_tokenize(tokenize: str, texts: Sequence[str]) -> str:
    """Map ``auto`` to ``zh`` when any text has CJK characters (else ``13a``); validate explicit names."""
    tokenize = (tokenize or "auto").strip().lower()
    if tokenize not in TOKENIZERS:
        raise DataError(f"unknown tokenize {tokenize!r}; choose one of {', '.join(TOKENIZERS)}")
    if tokenize == "auto":
        return "zh" if any(t and has_cjk(t) for t in texts) else "13a"
    return tokenize


def f1_tokens(text: str) -> list[str]:
    """SQuAD normalisation made bilingual: NFKC, lowercase, punctuation/symbols dropped, CJK per character."""
    text = _PUNCT_SYMBOL_RE.sub(" ", unicodedata.normalize("NFKC", text).lower())
    return [t for t in _TOKEN_RE.findall(text) if t not in _ARTICLES]


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


def split_sentences(text: str) -> str:
    """Put each sentence on its own line for ROUGE-Lsum (rouge-score only splits at newlines)."""
    return "\n".join(s.strip() for s in _SENTENCE_END_RE.sub(r"\1\2\n", text).split("\n") if s.strip())


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
        """The CLI's ``--json`` object."""
        return {
            **self.scores,
            "n_segments": self.n_segments,
            "tokenize": self.tokenize,
            "signatures": dict(self.signatures),
        }

    def to_full_dict(self) -> dict:
        """Everything, for the downloadable JSON report."""
        return {
            **self.to_json_dict(),
            "details": self.details,
            "warnings": self.warnings,
            "explanations": EXPLANATIONS,
            "examples": self.rows,
        }

    def summary_rows(self) -> list[dict]:
        """One row per metric for a summary table."""
        return [
            {
                "metric": k,
                "score": round(self.scores[k], 2),
                "tokenizer": self.tokenize,
                "signature": self.signatures[k],
            }
            for k in SCORE_KEYS
        ]


def _validate(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> None:
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


def _clean(refs: Sequence[Sequence[str]], warnings: list[str]) -> list[list[str]]:
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


def evaluate_texts(
    hyps: Sequence[str], refs: Sequence[Sequence[str]], tokenize: str = "auto", lowercase: bool = False
) -> EvalReport:
    """Score hypotheses against references with every metric.

    ``refs[i]`` is the list of references of ``hyps[i]`` (any number each); see ``metrics_io.streams_to_refs``
    for one-file-per-reference-set input. ``tokenize`` applies to BLEU (and picks Asian-aware TER for
    ``zh``/``char``); ROUGE and F1 always use the CJK-aware tokenizer, which equals rouge-score's on English.
    """
    _validate(hyps, refs)
    hyps = [h.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n") for h in hyps]
    refs = [[r.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n") for r in rs] for rs in refs]
    check_caps(hyps, refs)
    warnings: list[str] = []
    for i, h in enumerate(hyps, start=1):
        if not h.strip():
            warnings.append(f"hypothesis line {i} is empty")
    refs = _clean(refs, warnings)
    tok = resolve_tokenize(tokenize, [*hyps, *(r for rs in refs for r in rs)])
    asian = tok in ("zh", "char")

    n_refs = max(len(rs) for rs in refs)
    streams = [[rs[k] if k < len(rs) else None for rs in refs] for k in range(n_refs)]
    bleu = BLEU(tokenize=tok, lowercase=lowercase)
    chrf, ter = CHRF(lowercase=lowercase), TER(normalized=asian, asian_support=asian, case_sensitive=False)
    bleu_score = bleu.corpus_score(list(hyps), streams)
    scores = {
        "bleu": bleu_score.score,
        "chrf": chrf.corpus_score(list(hyps), streams).score,
        "ter": ter.corpus_score(list(hyps), streams).score,
    }
    signatures = {
        "bleu": str(bleu.get_signature()),
        "chrf": str(chrf.get_signature()),
        "ter": str(ter.get_signature()),
    }

    sent_bleu = BLEU(tokenize=tok, lowercase=lowercase, effective_order=True)
    sent_chrf = CHRF(lowercase=lowercase)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=CJKAwareTokenizer(use_stemmer=True))
    sums = dict.fromkeys([*ROUGE_TYPES, "f1", "exact_match"], 0.0)
    rows = []
    for i, (h, rs) in enumerate(zip(hyps, refs, strict=True), start=1):
        rouge = scorer.score_multi([split_sentences(r) for r in rs], split_sentences(h))
        f1 = max(token_f1(h, r) for r in rs)
        em = max(exact_match(h, r) for r in rs)
        for t in ROUGE_TYPES:
            sums[t] += float(rouge[t].fmeasure)
        sums["f1"] += f1
        sums["exact_match"] += em
        rows.append(
            {
                "line": i,
                "hypothesis": h,
                "reference": rs[0],
                "bleu": sent_bleu.sentence_score(h, rs).score,
                "chrf": sent_chrf.sentence_score(h, rs).score,
                "rougeL": 100 * float(rouge["rougeL"].fmeasure),
                "f1": 100 * f1,
                "exact_match": 100 * em,
            }
        )
    n = len(hyps)
    scores.update({k: 100 * v / n for k, v in sums.items()})
    signatures.update(dict.fromkeys(ROUGE_TYPES, ROUGE_SIGNATURE))
    signatures.update(f1=F1_SIGNATURE, exact_match=F1_SIGNATURE)
    return EvalReport(
        scores={k: scores[k] for k in SCORE_KEYS},
        signatures=signatures,
        tokenize=tok,
        n_segments=n,
        rows=rows,
        warnings=warnings,
        details={"bleu": str(bleu_score)},
    )


def classification_scores(pred_labels: Sequence[str], true_labels: Sequence[str]) -> dict:
    """Accuracy and precision/recall/F1 (micro, macro, weighted, per class) for single-label predictions.

    F1 = 2PR/(P+R) where P is *precision* = TP/(TP+FP), not accuracy; they coincide only for micro averages
    of single-label tasks. Undefined ratios count as 0 (sklearn's ``zero_division=0``). Labels are stripped
    and compared exactly. All values are in [0, 1].
    """
    pred = [str(p).strip() for p in pred_labels]
    true = [str(t).strip() for t in true_labels]
    if len(pred) != len(true):
        raise DataError(f"{len(pred)} predicted labels but {len(true)} true labels")
    if not true:
        raise DataError("no labels to score")

    def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    per_class, counts = {}, {}
    for c in sorted(set(true) | set(pred)):
        tp = sum(p == c and t == c for p, t in zip(pred, true, strict=True))
        fp = sum(p == c and t != c for p, t in zip(pred, true, strict=True))
        fn = sum(p != c and t == c for p, t in zip(pred, true, strict=True))
        counts[c] = (tp, fp, fn)
        p, r, f = prf(tp, fp, fn)
        per_class[c] = {"precision": p, "recall": r, "f1": f, "support": tp + fn}
    micro = prf(*(sum(x[j] for x in counts.values()) for j in range(3)))
    k, n = len(per_class), len(true)
    out = {
        "accuracy": sum(p == t for p, t in zip(pred, true, strict=True)) / n,
        "n": n,
        "per_class": per_class,
    }
    for j, name in enumerate(("precision", "recall", "f1")):
        vals = [v[name] for v in per_class.values()]
        out[f"micro_{name}"] = micro[j]
        out[f"macro_{name}"] = sum(vals) / k
        out[f"weighted_{name}"] = sum(v[name] * v["support"] for v in per_class.values()) / n
    return out


def score_model_on_text(loaded, text: str) -> dict:
    """Bits per char, perplexity and next-character top-1/top-5 accuracy of a loaded model on ``text``."""
    from charlm.score import score_text  # lazy: keeps this module free of torch

    if not text.strip():
        raise DataError("the reference text is empty")
    return score_text(loaded, text)


def generate_and_score(
    loaded, prompts: Sequence[str], refs: Sequence[Sequence[str]], tokenize: str = "auto", **sampling
) -> EvalReport:
    """Generate a continuation for every prompt with ``loaded`` and score the outputs against ``refs``.

    ``sampling`` goes to ``charlm.sample.generate`` (``max_new_chars``, ``temperature``, ``top_k``, ``top_p``,
    ``seed``, ``stop``). Pass a ``seed`` for reproducible reports.
    """
    from charlm.sample import generate  # lazy: keeps this module free of torch

    if len(prompts) != len(refs):
        raise DataError(f"{len(prompts)} prompts but {len(refs)} references")
    outputs = ["".join(generate(loaded, p, **sampling)) for p in prompts]
    report = evaluate_texts(outputs, refs, tokenize=tokenize)
    for row, prompt in zip(report.rows, prompts, strict=True):
        row["prompt"] = prompt
    report.details["sampling"] = ", ".join(f"{k}={v}" for k, v in sorted(sampling.items()))
    report.details["sacrebleu"] = sacrebleu.__version__
    return report
