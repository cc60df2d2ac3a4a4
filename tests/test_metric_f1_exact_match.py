"""Token F1 and exact match: vectors, and equality with the official SQuAD script on English."""

from __future__ import annotations

import pytest

from charlm.evaluation import evaluate_texts
from charlm.evaluation.text_metrics import exact_match, token_f1
from charlm.evaluation.tokens import f1_tokens
from tests.helpers import EN_H, EN_R, MIX_H, MIX_R, ZH_H, ZH_R

A = pytest.approx


@pytest.mark.parametrize(
    ("pred", "golds", "em", "f1"),
    [("the Eiffel Tower", ["Eiffel Tower"], 1, 1.0), ("in Paris, France", ["Paris"], 0, 0.5),
     ("Denver Broncos", ["Denver Broncos", "The Denver Broncos"], 1, 1.0),
     (EN_H, [EN_R], 0, 0.6666666666666665), ("An apple a day", ["apple day"], 1, 1.0),
     ("北京市", ["北京"], 0, 0.8), ("巴黎。", ["巴黎"], 1, 1.0), ("京北", ["北京"], 0, 1.0),
     (ZH_H, [ZH_R], 0, 0.7142857142857143), (MIX_H, [MIX_R], 0, 0.8181818181818182),
     ("我用Python写代码", ["用 python 写代码"], 0, 0.9090909090909091), ("", ["Paris"], 0, 0.0),
     ("", [""], 1, 1.0), ("ＡＢＣ１２３", ["abc123"], 1, 1.0)],
)  # fmt: skip
def test_f1_em_vectors(pred, golds, em, f1):
    assert max(exact_match(pred, g) for g in golds) == em
    assert max(token_f1(pred, g) for g in golds) == A(f1, abs=1e-9)
    r = evaluate_texts([pred], [golds])
    assert (r.scores["exact_match"], r.scores["f1"]) == A((100 * em, 100 * f1), abs=1e-9)


def test_f1_equals_official_squad_on_english():
    import re
    import string
    from collections import Counter

    def norm(s):
        s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())

    def squad_f1(p, g):
        pt, gt = norm(p).split(), norm(g).split()
        same = sum((Counter(pt) & Counter(gt)).values())
        return 0.0 if same == 0 else 2 * same / (len(pt) + len(gt))

    for p, g in [(EN_H, EN_R), ("in Paris, France", "Paris"), ("It is raining today.", "Today it rains.")]:
        assert token_f1(p, g) == A(squad_f1(p, g), abs=1e-12)
        assert exact_match(p, g) == float(norm(p) == norm(g))
    assert f1_tokens("The cat—isn't “here”.") == ["cat", "isn", "t", "here"]
