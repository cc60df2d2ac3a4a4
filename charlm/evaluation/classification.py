"""Accuracy and precision/recall/F1 for class labels (``python -m charlm eval --labels``)."""

from __future__ import annotations

from collections.abc import Sequence

from charlm.errors import DataError


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
