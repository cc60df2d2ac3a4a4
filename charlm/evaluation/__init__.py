"""Evaluation: text metrics that are right on Chinese, class-label metrics, reading inputs, model-based scores.

- ``text_metrics``: BLEU, chrF, TER, ROUGE, F1, exact match, each with a reproducible signature;
- ``tokens``: how Chinese and English text is cut into tokens for them;
- ``classification``: accuracy and precision/recall/F1 for labels;
- ``files``: hypotheses and references from pasted text, line files or JSONL/CSV tables, with size caps;
- ``with_model``: bits per char of a model on a text, and generate-then-score.
"""

from charlm.evaluation.classification import classification_scores
from charlm.evaluation.text_metrics import EXPLANATIONS, METRICS, SCORE_KEYS, EvalReport, evaluate_texts
from charlm.evaluation.tokens import TOKENIZERS
from charlm.evaluation.with_model import generate_and_score, score_model_on_text

__all__ = ["EXPLANATIONS", "METRICS", "SCORE_KEYS", "TOKENIZERS", "EvalReport", "classification_scores",
           "evaluate_texts", "generate_and_score", "score_model_on_text"]  # fmt: skip
