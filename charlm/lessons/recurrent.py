"""Recurrent state, step by step: the first layer of an LSTM or GRU recomputed one character at a time from its
own weights, so the gates (how much to forget, to write, to show) can be seen, not just the output.

torch's fused ``nn.LSTM``/``nn.GRU`` never hands out its gates; the equations below are the ones torch documents,
and ``gates`` checks its own hidden states against the fused layer's (``max_error`` ~1e-6, float rounding).

LSTM:  i, f, g, o = σ(W_ii x + W_hi h + b), σ(...), tanh(...), σ(...);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
GRU:   r, z = σ(...), σ(...);  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));  h' = (1 - z) ⊙ n + z ⊙ h
"""

from __future__ import annotations

import numpy as np
import torch

from charlm.errors import DataError
from charlm.lessons import check_text


def _split(w: torch.Tensor, n: int) -> list[torch.Tensor]:
    return list(w.chunk(n, dim=0))


@torch.no_grad()
def gates(model, vocab, text: str) -> dict:
    """Per character of ``text``: the mean of each gate over the first layer's units, the hidden state h (and the
    LSTM's cell c), and the largest difference between this recomputation and the fused layer."""
    check_text(text, 2)
    arch = model.config.arch
    if arch not in ("lstm", "gru") or type(getattr(model, "rnn", None)).__name__ not in ("LSTM", "GRU"):
        raise DataError("gates exist in LSTM and GRU models; pick an LSTM or GRU model (e.g. shakespeare-lstm)")
    rnn = model.rnn
    w_ih, w_hh = rnn.weight_ih_l0.float(), rnn.weight_hh_l0.float()
    b_ih, b_hh = rnn.bias_ih_l0.float(), rnn.bias_hh_l0.float()
    ids = torch.tensor(vocab.encode(text).ids, device=w_ih.device)
    x = model.embed(ids).float()
    H = rnn.hidden_size
    h, c = torch.zeros(H, device=x.device), torch.zeros(H, device=x.device)
    names = ("input", "forget", "cell", "output") if arch == "lstm" else ("reset", "update", "new")
    rows: dict[str, list[float]] = {n: [] for n in names}
    hs, cs = [], []
    for t in range(len(ids)):
        gi, gh = w_ih @ x[t] + b_ih, w_hh @ h + b_hh
        if arch == "lstm":
            i, f, g, o = _split(gi + gh, 4)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            vals = (i, f, g, o)
            cs.append(c.cpu().numpy())
        else:
            ir, iz, in_ = _split(gi, 3)
            hr, hz, hn = _split(gh, 3)
            r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            n = torch.tanh(in_ + r * hn)
            h = (1 - z) * n + z * h
            vals = (r, z, n)
        for name, v in zip(names, vals, strict=True):
            rows[name].append(float(v.mean()))
        hs.append(h.cpu().numpy())
    hidden = np.stack(hs)
    max_error = _layer0_error(model, ids, hidden)
    return {"arch": arch, "chars": list(text), "gates": rows, "hidden": hidden,
            "cell": np.stack(cs) if cs else None, "max_error": max_error}  # fmt: skip


def _layer0_error(model, ids: torch.Tensor, hidden: np.ndarray) -> float:
    """Difference from torch's own single-layer kernel run with layer 0's weights."""
    rnn = model.rnn
    cls = type(rnn)
    one = cls(rnn.input_size, rnn.hidden_size, num_layers=1, batch_first=True).to(ids.device)
    one.load_state_dict({k: getattr(rnn, k) for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")})
    out, _ = one(model.embed(ids)[None].float())
    return float(np.abs(hidden - out[0].cpu().numpy()).max())


__all__ = ["gates"]
