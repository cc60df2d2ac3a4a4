"""How text is cut into tokens for the metrics, so that Chinese counts per character and English per word.

sacrebleu's ``13a`` treats a run of Chinese characters as one word (BLEU 0) and rouge-score's default tokenizer
deletes every non-ASCII character (identical Chinese strings score 0); these helpers fix both without changing
anything on English.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import regex

from charlm.errors import DataError

TOKENIZERS = ("auto", "13a", "zh", "intl", "char", "none")  # BLEU's: sacrebleu's names, plus auto

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
_CJK_RE = regex.compile(rf"[{_CJK}]")
# One token per CJK character, otherwise runs of letters/digits. ``\w`` also matches Han, so CJK must be
# excluded from the word class, or "10写代码" would become one token.
_TOKEN_RE = regex.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_PUNCT_SYMBOL_RE = regex.compile(r"[\p{P}\p{S}]")
ARTICLES = ("a", "an", "the")  # dropped by SQuAD's F1/EM normalisation
# Sentence ends for ROUGE-Lsum: CJK/!? marks always, "." only before whitespace (so "3.10" stays whole).
SENTENCE_ENDS = "。！？.!?"
_SENTENCE_END_RE = re.compile(r"([。！？!?])\s*|(\.)\s+")


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


class CJKAwareTokenizer:
    """rouge-score tokenizer that keeps CJK: identical to rouge-score's default on ASCII English.

    rouge-score's ``Tokenizer`` interface is one ``tokenize`` method (``RougeScorer`` asks no more), so this does
    not subclass it: rouge-score and nltk are imported when a ROUGE score is first asked for, not when the app or
    the CLI starts (they took 1.7 s of the app's cold start, issue 22).
    """

    def __init__(self, use_stemmer: bool = True) -> None:
        if use_stemmer:
            from nltk.stem import porter

            self._stemmer = porter.PorterStemmer()
        else:
            self._stemmer = None

    def tokenize(self, text: str) -> list[str]:
        toks = _TOKEN_RE.findall(text.lower())
        if self._stemmer:
            toks = [self._stemmer.stem(t) if len(t) > 3 and t.isascii() else t for t in toks]
        return toks


def f1_tokens(text: str) -> list[str]:
    """SQuAD normalisation made bilingual: NFKC, lowercase, punctuation/symbols dropped, CJK per character."""
    text = _PUNCT_SYMBOL_RE.sub(" ", unicodedata.normalize("NFKC", text).lower())
    return [t for t in _TOKEN_RE.findall(text) if t not in ARTICLES]


def split_sentences(text: str) -> str:
    """Put each sentence on its own line for ROUGE-Lsum (rouge-score only splits at newlines)."""
    return "\n".join(s.strip() for s in _SENTENCE_END_RE.sub(r"\1\2\n", text).split("\n") if s.strip())
