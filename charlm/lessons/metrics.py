"""Evaluation: why accuracy is not enough, and why BLEU and ROUGE disagree.

- The model's next-character guesses on a text are labels: accuracy counts the right ones, but with many classes
  and a few frequent ones (space, e), macro precision/recall/F1 (each class counted equally) tell a different
  story: the model is good at common characters and poor at rare ones.
- BLEU asks how much of the *candidate's* n-grams appear in the reference (precision, with a brevity penalty);
  ROUGE-L asks how much of the *reference* the candidate covers in order (recall-oriented F). A short exact piece
  scores well on one and badly on the other.
"""

from __future__ import annotations

from charlm.lessons import check_text


def next_char_labels(loaded, text: str) -> dict:
    """The model's best guess for each next character of ``text`` as labels against the truth: accuracy and
    micro/macro precision, recall and F1 (``charlm.evaluation.classification``), and the per-class table."""
    from charlm.evaluation.classification import classification_scores
    from charlm.inspection.surprise import surprise

    check_text(text, 2)
    s = surprise(loaded.model, loaded.vocab, text)
    chars = loaded.vocab.chars
    pred = [chars[t[0] - 1] if t[0] else "\ufffd" for t in s.top_ids]
    return classification_scores(pred, s.chars) | {"pred": pred, "true": list(s.chars)}


def bleu_vs_rouge(candidate: str, reference: str) -> dict:
    """BLEU and ROUGE-L (and chrF) of one candidate against one reference, with BLEU's n-gram precisions."""
    from charlm.evaluation import evaluate_texts

    check_text(candidate)
    check_text(reference)
    report = evaluate_texts([candidate], [[reference]])
    return {"scores": dict(report.scores), "details": report.details.get("BLEU", {}), "warnings": report.warnings}


__all__ = ["bleu_vs_rouge", "next_char_labels"]
