"""How surprised the model is by each character of a text: its probability, the top-5 alternatives, bits/char.

Every character after the first is predicted from as much preceding text as the model can use, exactly as
``charlm.score`` reads a text, so the bits/char here equal ``score_text``'s at every length (tested across the
switch at 1,024 characters): recurrent models read the text as ``score.stream_batch``'s streams (one stream below
1,024 characters; above, parallel streams each warmed up on the 256 characters before its part), the GPT reads
windows of its context with stride half a context and keeps each window's new predictions, so every character
sees at least half a context of history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from charlm.score import row_blocks, stream_batch
from charlm.vocab import UNK_ID

TOP_K = 5
_CHUNK = 256  # recurrent models read the text this many characters per call (the state carries across)


@dataclass
class Surprise:
    """Per predicted character (``text[1:]``): its probability and the model's top-5 guesses."""

    chars: list[str]  # the characters predicted, text[1:]
    probs: list[float | None]  # None where the character is unknown to the model (not scored)
    top_ids: list[list[int]]  # TOP_K ids per position, most likely first
    top_probs: list[list[float]]

    @property
    def bits(self) -> list[float | None]:
        """-log2(prob) per character: its surprise in bits."""
        return [None if p is None else -math.log2(max(p, 1e-45)) for p in self.probs]

    @property
    def bpc(self) -> float:
        known = [b for b in self.bits if b is not None]
        return sum(known) / len(known) if known else float("nan")

    def most_surprising(self, n: int = 10) -> list[int]:
        """Positions (into ``chars``) of the ``n`` least expected characters, most surprising first."""
        order = sorted((i for i, b in enumerate(self.bits) if b is not None), key=lambda i: -self.bits[i])
        return order[:n]


def _windows(n_targets: int, context: int) -> list[tuple[int, int, int]]:
    """(start, length, first new target) of each window: the rule of ``charlm.score._score_windows``."""
    stride = max(1, context // 2)
    starts = list(range(0, max(1, n_targets - context + 1), stride))
    if starts[-1] + context < n_targets:
        starts.append(n_targets - context)
    rows, done = [], 0
    for s in starts:
        length = min(context, n_targets - s)
        rows.append((s, length, max(0, done - s)))
        done = s + length
    return rows


def _rows_of(model, h: torch.Tensor, targets: torch.Tensor, out: dict) -> None:
    """Probability of each target and the top-5, from hidden vectors (N, width), a block of rows at a time: never
    N x V probabilities at once (``charlm.score.row_blocks``)."""
    head = model.output_head
    for rows in row_blocks(len(h), model.config.vocab_size):
        logits = head(h[rows]) if head is not None else h[rows]
        probs = torch.softmax(logits.float(), dim=-1)
        out["p"].append(probs.gather(1, targets[rows, None])[:, 0].cpu())
        top = probs.topk(min(TOP_K, probs.shape[1]), dim=-1)
        out["ids"].append(top.indices.cpu())
        out["vals"].append(top.values.cpu())


@torch.no_grad()
def next_char_top(model, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For every position j: the model's probability of ``ids[j + 1]``, and its top-5 ids and probabilities."""
    device = next(model.parameters()).device
    x = torch.tensor(ids, dtype=torch.long, device=device)
    n = len(ids) - 1
    out: dict = {"p": [], "ids": [], "vals": []}
    hidden = model.hidden if model.output_head is not None else model  # an ensemble gives its mixture directly
    if model.max_context:
        for s, length, first in _windows(n, model.max_context):
            h, _ = hidden(x[None, s : s + length])
            _rows_of(model if model.output_head is not None else _Identity(model), h[0, first:],
                     x[s + 1 + first : s + 1 + length], out)  # fmt: skip
    else:
        xs, ys, mask = (t.to(device) for t in stream_batch(x.cpu()))
        state = model.init_state(len(xs))
        parts = []
        for t in range(0, xs.shape[1], _CHUNK):
            h, state = hidden(xs[:, t : t + _CHUNK], state)
            parts.append((h, ys[:, t : t + _CHUNK], mask[:, t : t + _CHUNK]))
        # streams hold consecutive parts of the text: row-major order over (stream, time) is text order
        hs = torch.cat([p[0] for p in parts], dim=1)[mask]
        ts = torch.cat([p[1] for p in parts], dim=1)[mask]
        _rows_of(model if model.output_head is not None else _Identity(model), hs, ts, out)
    return torch.cat(out["p"])[:n], torch.cat(out["ids"])[:n], torch.cat(out["vals"])[:n]


class _Identity:
    """A model whose "hidden vectors" are already its logits (an ensemble's mixture)."""

    def __init__(self, model) -> None:
        self.config, self.output_head = model.config, None


def surprise(model, vocab, text: str) -> Surprise:
    """The model's probability of each character of ``text`` after the first, with its top-5 alternatives."""
    was_training = model.training
    model.eval()
    try:
        ids = vocab.encode(text).ids
        p_true, top_ids, top_probs = next_char_top(model, ids)
    finally:
        model.train(was_training)
    targets = ids[1:]
    return Surprise(
        chars=list(text[1:]),
        probs=[None if t == UNK_ID else float(p) for t, p in zip(targets, p_true.tolist(), strict=True)],
        top_ids=top_ids.tolist(),
        top_probs=top_probs.tolist(),
    )


@torch.no_grad()
def next_char_probs(model, ids: list[int]) -> torch.Tensor:
    """(len(ids) - 1, vocab) probabilities: row j is the model's distribution for ``ids[j + 1]``. The whole table,
    for small vocabularies and tests; ``surprise`` uses ``next_char_top``, which never holds it."""
    device = next(model.parameters()).device
    x = torch.tensor(ids, dtype=torch.long, device=device)
    n = len(ids) - 1
    out = torch.empty(n, model.config.vocab_size)
    if model.max_context:
        for s, length, first in _windows(n, model.max_context):
            logits, _ = model(x[None, s : s + length])
            out[s + first : s + length] = torch.softmax(logits[0, first:].float(), dim=-1).cpu()
    else:
        xs, _, mask = (t.to(device) for t in stream_batch(x.cpu()))
        state, chunks = model.init_state(len(xs)), []
        for t in range(0, xs.shape[1], _CHUNK):
            logits, state = model(xs[:, t : t + _CHUNK], state)
            chunks.append(torch.softmax(logits.float(), dim=-1).cpu())
        out[:] = torch.cat(chunks, dim=1)[mask.cpu()]  # streams hold consecutive parts: row-major is text order
    return out
