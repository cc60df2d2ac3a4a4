"""How well a model predicts a text: loss in nats per character, bits per character, perplexity, top-k accuracy.

Every character after the first is scored with as much preceding context as the model can use:
- recurrent models read the text as a few parallel streams, each warmed up on the text just before it, carrying
  their state across chunks;
- the GPT reads overlapping windows (stride half the context) and scores only each window's new characters, so
  every character sees at least half a context window.

A model with an adaptive output layer (large vocabularies) is scored through the head's own ``score``: the exact
loss from its fast path and an exact top-5 without materialising all 6,258 log-probabilities, which would be
slower than a plain head (docs/benchmarks.md). ``top_k=False`` skips the top-1/top-5 accuracy altogether: the
trainer's periodic evaluation needs only the loss (3-6x cheaper with an adaptive head).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from charlm.budget import LOGIT_BLOCK, score_batch
from charlm.device import autocast
from charlm.models.output import AdaptiveHead
from charlm.vocab import UNK_ID

LN2 = math.log(2.0)
_CHUNK = 256
_WARMUP = 256


def _accumulate(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, acc: dict) -> None:
    logits = logits.float()
    mask = mask & (targets != UNK_ID)
    if not mask.any():
        return
    lg, tg = logits[mask], targets[mask]
    acc["nll"] += F.cross_entropy(lg, tg, reduction="sum").item()
    if acc["top1"] is not None:
        _count_top(lg.topk(min(5, lg.shape[-1]), dim=-1).indices, tg, acc)
    acc["n"] += int(mask.sum().item())


def row_blocks(n_rows: int, vocab_size: int) -> list[slice]:
    """Row slices whose logits hold at most ``LOGIT_BLOCK`` entries (at least one row each): scoring and
    inspection never materialise T x V logits at once, whatever the vocabulary (issue 19: 2,000 characters over a
    million-character vocabulary were 8 GB of logits)."""
    step = max(1, LOGIT_BLOCK // max(1, vocab_size))
    return [slice(i, min(n_rows, i + step)) for i in range(0, n_rows, step)]


def _accumulate_linear(head, h: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, acc: dict) -> None:
    """``_accumulate`` from the hidden vectors: only the scored rows go through the head, a block at a time."""
    mask = mask & (targets != UNK_ID)
    if not mask.any():
        return
    hs, tg = h[mask], targets[mask]
    for rows in row_blocks(len(hs), head.out_features):
        _accumulate(head(hs[rows]), tg[rows], torch.ones(len(tg[rows]), dtype=torch.bool, device=tg.device), acc)


def _count_top(top5: torch.Tensor, tg: torch.Tensor, acc: dict) -> None:
    acc["top1"] += (top5[:, 0] == tg).sum().item()
    acc["top5"] += (top5 == tg[:, None]).any(dim=-1).sum().item()


def _accumulate_adaptive(head: AdaptiveHead, h: torch.Tensor, targets: torch.Tensor, mask, acc: dict) -> None:
    """``_accumulate`` for an adaptive head, from the hidden vectors: the head's exact NLL and top-5."""
    mask = mask & (targets != UNK_ID)
    if not mask.any():
        return
    hs, tgs = h[mask].float(), targets[mask]
    for rows in row_blocks(len(hs), head.vocab_size):  # a cluster's expansion is rows x its size: in blocks
        tg = tgs[rows]
        nll, top5 = head.score(hs[rows], tg, k=5 if acc["top1"] is not None else 0)
        acc["nll"] += nll.double().sum().item()
        if acc["top1"] is not None:
            _count_top(top5, tg, acc)
    acc["n"] += int(mask.sum().item())


def _run(model, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, acc: dict, state=None):
    """Score one chunk (``x`` -> targets ``y`` where ``mask``) into ``acc``; returns the model's new state."""
    head = model.output_head
    if isinstance(head, AdaptiveHead):
        h, state = model.hidden(x, state)
        _accumulate_adaptive(head, h, y, mask, acc)
    elif isinstance(head, torch.nn.Linear):
        h, state = model.hidden(x, state)
        _accumulate_linear(head, h, y, mask, acc)
    else:
        logits, state = model(x, state)
        _accumulate(logits, y, mask, acc)
    return state


@torch.no_grad()
def score_ids(
    model: torch.nn.Module,
    ids: np.ndarray,
    max_chars: int | None = None,
    precision: str = "fp32",
    streams: int = 16,
    progress: Callable[[float], None] | None = None,
    top_k: bool = True,
) -> dict:
    """Mean next-character loss over ``ids`` (all of it unless ``max_chars`` caps it); ``progress(fraction)`` is
    called as the work goes (a progress bar). ``top_k`` False leaves out the top-1/top-5 accuracy (NaN)."""
    if max_chars is not None and len(ids) > max_chars:
        ids = ids[:max_chars]
    ids_t = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    acc = {"nll": 0.0, "top1": 0 if top_k else None, "top5": 0 if top_k else None, "n": 0}
    n = len(ids_t)
    if n >= 2:
        with autocast(device, precision):
            if model.max_context:
                batch = score_batch(model.config) if hasattr(model, "config") else 32
                _score_windows(model, ids_t, acc, device, batch=batch, progress=progress)
            else:
                _score_streams(model, ids_t, acc, device, streams, progress=progress)
    model.train(was_training)
    return _summary(acc, n_unknown=int((ids_t[1:] == UNK_ID).sum()) if n >= 2 else 0)


def _summary(acc: dict, n_unknown: int = 0) -> dict:
    n = acc["n"]
    loss = acc["nll"] / n if n else float("nan")
    n_top = n if acc["top1"] is not None else 0  # 0: the top-k was not asked for
    return {
        "loss": loss,
        "bpc": loss / LN2,
        "perplexity": math.exp(loss) if n else float("nan"),
        "n_chars": n,
        "n_unknown": n_unknown,
        "top1": acc["top1"] / n_top if n_top else float("nan"),
        "top5": acc["top5"] / n_top if n_top else float("nan"),
    }


def _score_windows(model, ids: torch.Tensor, acc: dict, device, batch: int = 32, progress=None) -> None:
    C = model.max_context
    n_targets = len(ids) - 1
    stride = max(1, C // 2)
    starts = list(range(0, max(1, n_targets - C + 1), stride))
    if starts[-1] + C < n_targets:
        starts.append(n_targets - C)
    rows = []
    scored_upto = 0  # targets [0, scored_upto) already counted (target j predicts ids[j + 1])
    for s in starts:
        length = min(C, n_targets - s)
        first_new = max(0, scored_upto - s)
        rows.append((s, length, first_new))
        scored_upto = s + length
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        width = max(r[1] for r in chunk)
        x = torch.zeros(len(chunk), width, dtype=torch.long)
        y = torch.zeros_like(x)
        mask = torch.zeros_like(x, dtype=torch.bool)
        for j, (s, length, first_new) in enumerate(chunk):
            x[j, :length] = ids[s : s + length]
            y[j, :length] = ids[s + 1 : s + 1 + length]
            mask[j, first_new:length] = True
        _run(model, x.to(device), y.to(device), mask.to(device), acc)
        if progress is not None:
            progress(min(1.0, (i + batch) / len(rows)))


def stream_batch(ids: torch.Tensor, streams: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """How a recurrent model reads ``ids``: (x, y, mask), each (S, width). The text is cut into S parallel streams
    (one per 512 targets, at most ``streams``; a text under 1,024 characters is one stream), each warmed up on the
    ``_WARMUP`` characters before its part, which it reads but does not score (``mask`` False). Inspection's
    per-character view reads the same batch, so its bits/char equal ``score_ids``'s at every length."""
    n_targets = len(ids) - 1
    S = max(1, min(streams, n_targets // 512))
    bounds = np.linspace(0, n_targets, S + 1).astype(int)
    rows = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        w = min(_WARMUP, a)
        rows.append((a - w, w, b - a))  # input start, warm-up length, scored length
    width = max(w + length for _, w, length in rows)
    x = torch.zeros(S, width, dtype=torch.long)
    y = torch.zeros_like(x)
    mask = torch.zeros_like(x, dtype=torch.bool)
    for j, (start, w, length) in enumerate(rows):
        x[j, : w + length] = ids[start : start + w + length]
        y[j, : w + length] = ids[start + 1 : start + 1 + w + length]
        mask[j, w : w + length] = True
    return x, y, mask


def _score_streams(model, ids: torch.Tensor, acc: dict, device, streams: int, progress=None) -> None:
    x, y, mask = (t.to(device) for t in stream_batch(ids, streams))
    width = x.shape[1]
    state = model.init_state(x.shape[0])
    for t in range(0, width, _CHUNK):
        state = _run(model, x[:, t : t + _CHUNK], y[:, t : t + _CHUNK], mask[:, t : t + _CHUNK], acc, state)
        if progress is not None:
            progress(min(1.0, (t + _CHUNK) / width))


def score_text(
    loaded, text: str, max_chars: int | None = None, progress: Callable[[float], None] | None = None
) -> dict:
    """Score a text under a loaded checkpoint; characters outside its vocabulary are counted, not scored."""
    enc = loaded.vocab.encode(text)
    result = score_ids(loaded.model, np.asarray(enc.ids, dtype=np.int64), max_chars=max_chars, progress=progress)
    result["unknown_chars"] = list(enc.unknown)
    return result
