"""See inside a model: per-character surprise, GPT attention, recurrent hidden state, character vectors.

    report = inspect_text(loaded, "ROMEO:\\nBut soft, what light")
    report.to_json()   # what ``python -m charlm inspect --json`` prints

One call computes everything the Inspect tab and the CLI show, from the model's own forward pass. Texts are capped
at ``MAX_CHARS`` characters (the cost of hidden-state maps and of a page full of coloured characters grows with the
length); attention covers the first ``model.max_context`` characters, the GPT's whole field of view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from charlm.budget import ATTENTION_CHARS, NEIGHBOUR_CHARS
from charlm.errors import DataError
from charlm.inspection.attention import Attention, attention_maps
from charlm.inspection.recurrent import GATES, correlations, gate_activations, hidden_states, top_units
from charlm.inspection.surprise import Surprise, surprise
from charlm.inspection.vectors import (
    CLASSES,
    MAX_POINTS,
    char_class,
    char_group,
    embedding_table,
    nearest_neighbours,
    pca_2d,
    shown_chars,
)
from charlm.vocab import describe_chars

MAX_CHARS = 2000  # longest text inspected at once (documented in the README and the CLI's --help)
JSON_DIGITS = 6  # attention and hidden-state values are rounded to this many decimals in JSON


@dataclass
class Report:
    arch: str
    text: str
    surprise: Surprise
    vocab_chars: list[str]
    embedding: dict  # chars, xy, explained_variance(_ratio), classes, neighbours, tied
    attention: Attention | None = None  # GPT: over attention_text
    attention_text: str = ""
    hidden: np.ndarray | None = None  # recurrent: (len(text), hidden_size)
    units: list[dict] = field(default_factory=list)  # recurrent: units that track simple features
    gates: dict[str, np.ndarray] | None = None  # LSTM/GRU: the last layer's gates, each (len(text), hidden_size)
    unknown_chars: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)  # what was capped or skipped, in words

    def top5(self, i: int) -> list[list]:
        """The model's five best guesses for predicted character ``i`` (``text[i + 1]``), with probabilities."""
        s = self.surprise
        return [[self.vocab_chars[j - 1] if j else "\ufffd", p] for j, p in zip(s.top_ids[i], s.top_probs[i],
                                                                               strict=True)]  # fmt: skip

    def most_surprising(self, n: int = 10) -> list[dict]:
        s, bits = self.surprise, self.surprise.bits
        return [{"position": i + 1, "char": s.chars[i], "prob": s.probs[i], "bits": bits[i], "top5": self.top5(i)}
                for i in s.most_surprising(n)]  # fmt: skip

    def to_json(self, arrays: bool = True) -> dict:
        """The CLI's JSON; ``arrays=False`` leaves out the attention and hidden-state values (the app keeps those
        as numpy arrays instead of nested lists)."""
        s = self.surprise
        out = {
            "arch": self.arch,
            "text": self.text,
            "bpc": s.bpc,
            "chars": [{"char": c, "prob": p, "top5": self.top5(i)} for i, (c, p) in enumerate(zip(s.chars, s.probs,
                                                                                                 strict=True))],
            "most_surprising": self.most_surprising(),
            "unknown_chars": list(self.unknown_chars),
            "embedding": self.embedding,
            "notes": self.notes,
        }  # fmt: skip
        if self.attention is not None:
            out["attention_chars"] = list(self.attention_text)
            out["attention_max_error"] = self.attention.max_error
            if arrays:
                out["attention"] = np.round(self.attention.weights.numpy().astype(np.float64), JSON_DIGITS).tolist()
        if self.hidden is not None:
            out["units"] = self.units
            if arrays:
                out["hidden"] = np.round(self.hidden.astype(np.float64), JSON_DIGITS).tolist()
        if self.gates is not None:
            out["gate_names"] = list(self.gates)
            if arrays:
                out["gates"] = {k: np.round(g.astype(np.float64), JSON_DIGITS).tolist() for k, g in self.gates.items()}
        return out


def vector_subset(vocab_chars: list[str], focus: str = "", most: int = NEIGHBOUR_CHARS) -> list[int]:
    """Which characters the vectors view shows (indices into ``vocab_chars``): all of them up to ``most``; beyond,
    those of the inspected text first, then the vocabulary's first ones. A million-character vocabulary is not a
    picture or a dropdown anyone can read, and its neighbour table would be 10¹² similarities (issue 19)."""
    if len(vocab_chars) <= most:
        return list(range(len(vocab_chars)))
    index = {c: i for i, c in enumerate(vocab_chars)} if len(focus) else {}
    chosen = dict.fromkeys(index[c] for c in focus if c in index)
    for i in range(len(vocab_chars)):
        if len(chosen) >= most:
            break
        chosen.setdefault(i, None)
    return sorted(list(chosen)[:most])


def embedding_view(model, vocab_chars: list[str], neighbours: int = 5, focus: str = "") -> dict:
    """The embedding table in 2-D with each character's class and nearest neighbours (JSON-ready). A vocabulary of
    more than ``MAX_POINTS`` characters is shown by its most frequent ones (the adaptive head's frequency order)
    and the members of ``GROUPS``; the projection is computed on those, so their structure is visible.
    Neighbours are searched in the whole table a block at a time (never V x V; issue 19). ``focus`` serves
    callers that name the inspected text: without a frequency order, a large vocabulary shows the text's
    characters first (``vector_subset``)."""
    vectors = embedding_table(model)
    order = getattr(model.config, "head_order", None)
    if order or len(vocab_chars) <= MAX_POINTS:
        shown = shown_chars(list(vocab_chars), [i - 1 for i in order if i > 0] if order else None)
    else:
        shown = vector_subset(list(vocab_chars), focus, most=MAX_POINTS)
    chars = [vocab_chars[i] for i in shown]
    proj = pca_2d(vectors[shown])
    return {
        "chars": chars,
        "total": len(vocab_chars),
        "by_frequency": order is not None,
        "xy": proj.xy.round(JSON_DIGITS).tolist(),
        "explained_variance": proj.explained_variance.tolist(),
        "explained_variance_ratio": proj.explained_variance_ratio.tolist(),
        "classes": [char_class(c) for c in chars],
        "groups": [char_group(c) for c in chars],
        "neighbours": {c: [[n, round(sim, 4)] for n, sim in nn] for c, nn in
                       nearest_neighbours(vectors, list(vocab_chars), neighbours, queries=shown).items()},
        "tied": bool(model.tied_keys),  # a linear-head GPT's output layer is this same table
        "vocab_chars": len(vocab_chars),
    }  # fmt: skip


def check_text(text: str, max_chars: int = MAX_CHARS) -> str:
    if len(text) < 2:
        raise DataError("give at least 2 characters to inspect (the first one has nothing before it to predict it)")
    if len(text) > max_chars:
        raise DataError(f"the text has {len(text):,} characters; inspection reads at most {max_chars:,} at once "
                        "(the inspect limit); shorten it")  # fmt: skip
    return text


def inspect_text(
    loaded,
    text: str,
    max_chars: int = MAX_CHARS,
    max_gflop: float | None = None,
    max_mb: float | None = None,
    attention_head: tuple[int, int] | None = None,
) -> Report:
    """Everything the Inspect tab shows for ``text`` under ``loaded`` (a LoadedModel).

    ``max_gflop`` / ``max_mb`` refuse a text whose inspection would cost more (``charlm.budget.inspection_cost``:
    vocabulary, attention, hidden states and vector tables counted) before any work. ``attention_head``
    ``(layer, head)`` records only that head's attention (the app: one T x T matrix per session, the others
    recomputed when picked); None records every layer and head (the CLI's JSON). Attention covers at most the
    first ``ATTENTION_CHARS`` characters."""
    from charlm.budget import check, inspection_cost

    text = check_text(text, max_chars)
    model, vocab = loaded.model, loaded.vocab
    if max_gflop is not None:
        cost = inspection_cost(model.config, loaded.n_params, len(text))
        check(cost, max_gflop, max_mb, f"inspecting {len(text):,} characters with this model",
              "CHARLM_MAX_REQUEST_GFLOP", "CHARLM_MAX_REQUEST_MB")  # fmt: skip
    enc = vocab.encode(text)
    report = Report(arch=model.config.arch, text=text, surprise=surprise(model, vocab, text),
                    vocab_chars=list(vocab.chars), embedding=embedding_view(model, vocab.chars, focus=text),
                    unknown_chars=enc.unknown)  # fmt: skip
    if enc.unknown:
        report.notes.append(f"the model never saw {describe_chars(enc.unknown)}: those characters are not scored")
    shown, total = len(report.embedding["chars"]), len(vocab.chars)
    if shown < total:
        if report.embedding.get("by_frequency"):
            report.notes.append(f"character vectors are shown for {shown:,} of the {total:,} characters: the most "
                                "frequent ones")  # fmt: skip
        else:
            report.notes.append(f"character vectors are shown for {shown:,} of the {total:,} characters: those of "
                                "the text first")  # fmt: skip
    if model.config.arch == "gpt":
        window = min(model.max_context, ATTENTION_CHARS)
        report.attention_text = text[:window]
        report.attention = attention_maps(model, enc.ids[:window], keep=attention_head)
        if len(text) > window:
            report.notes.append(f"attention is shown for the first {window} characters"
                                + (": the model's context" if window == model.max_context else ""))  # fmt: skip
    else:
        report.hidden = hidden_states(model, enc.ids)
        report.units = top_units(correlations(report.hidden, text))
        report.gates = gate_activations(model, enc.ids)
    return report


__all__ = ["ATTENTION_CHARS", "CLASSES", "GATES", "MAX_CHARS", "Report", "attention_maps", "char_class",
           "embedding_view", "gate_activations", "hidden_states", "inspect_text", "pca_2d", "surprise",
           "vector_subset"]  # fmt: skip
