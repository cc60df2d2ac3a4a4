"""Character vectors: the embedding table seen in 2-D (PCA), each character's class, its nearest neighbours.

Every model starts by looking up a vector per character. Characters the model treats alike end up with similar
vectors; a 2-D projection shows the groups (vowels, capitals, digits, punctuation, Chinese characters...). The GPT
uses the same table at its output (tied weights; not with the adaptive head of a large vocabulary): there a
character's vector also decides how strongly the model predicts it. The unknown id (0) is left out: it never
appears in training text, so its vector is just its random initial value.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

CLASSES = ("lower", "upper", "digit", "punct", "space", "Han", "other")


def char_class(ch: str) -> str:
    """One of ``CLASSES``: what kind of character this is."""
    if ch.isspace():
        return "space"
    if unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH"):
        return "Han"
    if ch.islower():
        return "lower"
    if ch.isupper():
        return "upper"
    if ch.isdigit():
        return "digit"
    if unicodedata.category(ch)[0] in "PS":  # punctuation and symbols: , . ! ? ; : - ' " $ + ，。
        return "punct"
    return "other"


def embedding_table(model) -> np.ndarray:
    """(vocab - 1, width) character vectors, the unknown id left out."""
    layer = model.wte if model.config.arch == "gpt" else model.embed
    return layer.weight.detach().float().cpu().numpy()[1:]


@dataclass
class Projection:
    xy: np.ndarray  # (n, 2) coordinates on the first two principal components
    explained_variance: np.ndarray  # (2,) variance along each component, first (largest) first
    explained_variance_ratio: np.ndarray  # (2,) the same as a share of the total variance


def pca_2d(vectors: np.ndarray) -> Projection:
    """Principal components by SVD of the centred table (no library needed for two components)."""
    centred = vectors - vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)  # s sorted, largest first
    k = min(2, len(s))
    variance = s**2 / max(1, len(vectors) - 1)
    xy = centred @ vt[:k].T
    if k < 2:  # a one-character vocabulary: a single point
        xy = np.pad(xy, ((0, 0), (0, 2 - k)))
    total = variance.sum() or 1.0
    ev = np.pad(variance[:k], (0, 2 - k))
    return Projection(xy=xy, explained_variance=ev, explained_variance_ratio=ev / total)


def nearest_neighbours(
    vectors: np.ndarray, chars: list[str], k: int = 5, queries: list[int] | None = None, block: int = 2**20
) -> dict[str, list[tuple[str, float]]]:
    """The ``k`` most similar characters (cosine similarity of their vectors) of each character in ``queries``
    (indices into ``chars``; all of them by default). Computed a block of queries at a time against the whole
    table, keeping only each row's top ``k``: never the V x V matrix (issue 19: 12,000 characters were 3.6 GB)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    queries = list(range(len(chars))) if queries is None else list(queries)
    k = min(k, len(chars) - 1)
    out: dict[str, list[tuple[str, float]]] = {}
    step = max(1, block // max(1, len(chars)))
    for a in range(0, len(queries), step):
        q = np.asarray(queries[a : a + step])
        sim = unit[q] @ unit.T
        sim[np.arange(len(q)), q] = -np.inf
        if k <= 0:
            top = np.zeros((len(q), 0), dtype=np.int64)
        else:
            part = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < sim.shape[1] else np.argsort(-sim, axis=1)
            order = np.argsort(-np.take_along_axis(sim, part, axis=1), axis=1, kind="stable")
            top = np.take_along_axis(part, order, axis=1)
        for r, (i, row) in enumerate(zip(q.tolist(), top, strict=True)):
            out[chars[i]] = [(chars[j], float(sim[r, j])) for j in row]
    return out


MAX_POINTS = 300  # a larger vocabulary is shown by its most frequent characters (6,257 points are one blob)
# Groups of characters a reader can check by eye; a poem model puts each group's members close together (their
# mean cosine similarity is 0.27-0.49 against 0.04 for any two frequent characters). Both scripts are listed.
GROUPS = {
    "numbers": "一二三四五六七八九十百千萬万",
    "colours": "紅红白青黑黃黄綠绿紫碧翠",
    "directions": "東东西南北上下中",
    "seasons": "春夏秋冬",
    "nature": "山水風风月花雨雪雲云",
}


def char_group(ch: str) -> str | None:
    """The ``GROUPS`` name a character belongs to, or None."""
    return next((name for name, members in GROUPS.items() if ch in members), None)


def shown_chars(vocab_chars: list[str], frequency_order: list[int] | None, limit: int = MAX_POINTS) -> list[int]:
    """Which characters the 2-D view shows: all of a small vocabulary; of a large one the ``limit`` most frequent
    (``frequency_order``: indices, most frequent first; without it the vocabulary's order) plus every ``GROUPS``
    member, so that the groups can be seen."""
    n = len(vocab_chars)
    if n <= limit:
        return list(range(n))
    order = [i for i in (frequency_order or range(n)) if 0 <= i < n]
    keep = list(dict.fromkeys(order[:limit]))
    seen = set(keep)
    keep += [i for i, c in enumerate(vocab_chars) if i not in seen and char_group(c)]
    return keep
