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


def nearest_neighbours(vectors: np.ndarray, chars: list[str], k: int = 5) -> dict[str, list[tuple[str, float]]]:
    """Each character's ``k`` most similar characters by cosine similarity of their vectors."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1.0, norms)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1)[:, :k]
    return {c: [(chars[j], float(sim[i, j])) for j in order[i]] for i, c in enumerate(chars)}
