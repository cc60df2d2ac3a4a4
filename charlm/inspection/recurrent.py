"""What an LSTM/GRU/RNN carries from character to character: the last layer's hidden state at each position, and
the units whose activation follows a simple property of the text (Karpathy's "unreasonable effectiveness" cells:
a unit that is on inside quotes, one that counts the position in the line), found automatically by correlation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from charlm.errors import DataError

QUOTES = {'"': '"', "“": "”", "「": "」", "『": "』", "«": "»"}  # opening -> closing (a plain " toggles)
BRACKETS = {"(": ")", "[": "]", "{": "}", "（": "）", "【": "】", "《": "》"}
ZH_PUNCT = set("，。！？；：、「」『』（）《》“”‘’…—【】·")
UNITS_PER_FEATURE = 3  # the best few units per feature are listed


@torch.no_grad()
def hidden_states(model, ids: list[int]) -> np.ndarray:
    """(len(ids), hidden_size): the last recurrent layer's output h_t after reading ``ids[: t + 1]``."""
    if model.config.arch == "gpt":
        raise DataError("hidden states are shown for recurrent models (LSTM, GRU, RNN); the GPT has attention")
    captured: list[torch.Tensor] = []
    handle = model.rnn.register_forward_hook(lambda mod, args, out: captured.append(out[0][0].float().cpu()))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model.hidden(torch.tensor([ids], dtype=torch.long, device=device))  # no output layer: no T x V logits
    finally:
        handle.remove()
        model.train(was_training)
    return captured[0].numpy()


def _span_flags(text: str, pairs: dict[str, str]) -> list[float]:
    """1.0 at characters inside an open pair (the opening character included, the closing one not)."""
    flags, stack = [], []
    for ch in text:
        if stack and ch == stack[-1]:
            stack.pop()
        elif ch in pairs:
            stack.append(pairs[ch])
        flags.append(1.0 if stack else 0.0)
    return flags


def _position_in_line(text: str) -> list[float]:
    out, col = [], 0
    for ch in text:
        out.append(float(col))
        col = 0 if ch == "\n" else col + 1
    return out


# feature name -> per-character values (the state at position t has read text[t])
FEATURES: dict[str, Callable[[str], list[float]]] = {
    "inside quotes": lambda t: _span_flags(t, QUOTES),
    "inside brackets": lambda t: _span_flags(t, BRACKETS),
    "position in line": _position_in_line,
    "after a newline": lambda t: [1.0 if c == "\n" else 0.0 for c in t],
    "upper case": lambda t: [1.0 if c.isupper() else 0.0 for c in t],
    "Chinese punctuation": lambda t: [1.0 if c in ZH_PUNCT else 0.0 for c in t],
}


def correlations(states: np.ndarray, text: str) -> dict[str, np.ndarray]:
    """Pearson correlation of every unit with every feature that varies in ``text`` (others are skipped)."""
    h = states - states.mean(axis=0)
    h_norm = np.sqrt((h**2).sum(axis=0))
    out = {}
    for name, fn in FEATURES.items():
        f = np.asarray(fn(text), dtype=np.float64)
        f = f - f.mean()
        f_norm = np.sqrt((f**2).sum())
        if f_norm == 0:  # the text never (or always) has this property: nothing to correlate with
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (h * f[:, None]).sum(axis=0) / (h_norm * f_norm)
        out[name] = np.nan_to_num(r)  # a unit that never changes correlates with nothing
    return out


def top_units(corr: dict[str, np.ndarray], per_feature: int = UNITS_PER_FEATURE) -> list[dict]:
    """The units that track each feature best, strongest |r| first: [{"feature", "unit", "correlation"}]."""
    rows = []
    for name, r in corr.items():
        for unit in np.argsort(-np.abs(r))[:per_feature]:
            rows.append({"feature": name, "unit": int(unit), "correlation": float(r[unit])})
    return sorted(rows, key=lambda row: -abs(row["correlation"]))
