"""Classification scores (accuracy, precision, recall, F1): equal to scikit-learn's."""

from __future__ import annotations

import pytest

from charlm.errors import DataError
from charlm.evaluation import classification_scores

A = pytest.approx


def test_classification_vectors_match_sklearn():
    true = ["cat", "dog", "cat", "bird", "dog", "cat", "猫", "猫"]
    pred = ["cat", "cat", "cat", "dog", "dog", "bird", "猫", "dog"]
    s = classification_scores(pred, true)
    assert s["accuracy"] == 0.5
    assert (s["micro_precision"], s["micro_recall"], s["micro_f1"]) == A((0.5, 0.5, 0.5))
    assert (s["macro_precision"], s["macro_recall"], s["macro_f1"]) == A((0.5, 0.41666666666666663, 0.4333333333))
    assert (s["weighted_precision"], s["weighted_recall"], s["weighted_f1"]) == A((0.5833333333, 0.5, 0.5166666666))
    assert s["per_class"]["猫"] == {"precision": 1.0, "recall": 0.5, "f1": A(0.6666666666), "support": 2}
    assert s["per_class"]["bird"]["precision"] == 0.0


def test_binary_precision_is_not_accuracy():
    s = classification_scores(["1", "1", "1", "0", "0", "0"], ["1", "0", "1", "1", "0", "1"])
    p = s["per_class"]["1"]
    assert (p["precision"], p["recall"], p["f1"]) == A((0.6666666666666666, 0.5, 0.5714285714285715))
    assert s["accuracy"] == 0.5
    with pytest.raises(DataError, match="3 predicted labels but 2 true labels"):
        classification_scores(["a", "b", "c"], ["a", "b"])
