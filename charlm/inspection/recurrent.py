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


# gate names in the order of torch's packed weights (nn.LSTM: i, f, g, o; nn.GRU: r, z, n)
GATES = {"lstm": ("input", "forget", "output"), "gru": ("reset", "update")}


@torch.no_grad()
def gate_activations(model, ids: list[int]) -> dict[str, np.ndarray] | None:
    """The last recurrent layer's gates at each position, ``{name: (len(ids), hidden_size)}`` in [0, 1], computed
    from the layer's own weights with the equations the chapter teaches (None for a plain RNN, which has none):

    - LSTM: i, f, o = σ(W_i·x + U_i·h + b_i), …;  g = tanh(…);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
    - GRU:  r, z = σ(…);  n = tanh(W_n·x + b_in + r ⊙ (U_n·h + b_hn));  h' = (1 − z) ⊙ n + z ⊙ h

    ("update" is torch's z: near 1 the unit keeps its old value.) ``hidden_states`` runs torch's fused layer;
    the states these equations produce match it (``tests/test_inspection.py``)."""
    arch = model.config.arch
    if arch not in GATES:
        return None
    layer = model.rnn
    if not isinstance(layer, (torch.nn.LSTM, torch.nn.GRU)):  # an int8 copy: its weights are packed away
        return None
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        x = model.embed(torch.tensor(ids, dtype=torch.long, device=device)).float()  # (T, n_embd)
        for k in range(model.config.n_layer):
            w_ih, w_hh = getattr(layer, f"weight_ih_l{k}").float(), getattr(layer, f"weight_hh_l{k}").float()
            zero = torch.zeros(w_ih.shape[0], device=device)
            b_ih = getattr(layer, f"bias_ih_l{k}", zero).float()  # a layer built with bias=False has none
            b_hh = getattr(layer, f"bias_hh_l{k}", zero).float()
            xs = x @ w_ih.T + b_ih  # every position's input part at once; the recurrent part is sequential
            x, gates = (_lstm_layer if arch == "lstm" else _gru_layer)(xs, w_hh, b_hh)
    finally:
        model.train(was_training)
    return {name: g.cpu().numpy() for name, g in zip(GATES[arch], gates, strict=True)}


def _lstm_layer(xs: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor):
    size = w_hh.shape[1]
    h, c = xs.new_zeros(size), xs.new_zeros(size)
    outs, ins, fgs, ogs = [], [], [], []
    for t in range(xs.shape[0]):
        z = xs[t] + w_hh @ h + b_hh
        i, f, g, o = torch.sigmoid(z[:size]), torch.sigmoid(z[size : 2 * size]), torch.tanh(z[2 * size : 3 * size]), \
            torch.sigmoid(z[3 * size :])  # fmt: skip
        c = f * c + i * g
        h = o * torch.tanh(c)
        outs.append(h), ins.append(i), fgs.append(f), ogs.append(o)
    return torch.stack(outs), (torch.stack(ins), torch.stack(fgs), torch.stack(ogs))


def _gru_layer(xs: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor):
    size = w_hh.shape[1]
    h = xs.new_zeros(size)
    outs, rs, zs = [], [], []
    for t in range(xs.shape[0]):
        hh = w_hh @ h + b_hh
        r = torch.sigmoid(xs[t, :size] + hh[:size])
        z = torch.sigmoid(xs[t, size : 2 * size] + hh[size : 2 * size])
        n = torch.tanh(xs[t, 2 * size :] + r * hh[2 * size :])
        h = (1 - z) * n + z * h
        outs.append(h), rs.append(r), zs.append(z)
    return torch.stack(outs), (torch.stack(rs), torch.stack(zs))
