"""Beam search: keep the ``width`` most probable continuations at every step, not just the single best character.

Greedy decoding takes the most likely next character each time. It is short-sighted: a character that is likely
now can lead to a continuation that is unlikely as a whole, and a character model that always takes the best
guess soon repeats itself ("the the the"). Beam search keeps ``width`` partial continuations ("beams"), extends
each by every character, and keeps the ``width`` whose total log-probability is highest. Width 1 is greedy.
A wider beam usually, not always, finds a continuation at least as probable as greedy's (``tests/test_beam.py``
checks it on the shipped models).

Only the model interface is used (``model(idx, state)``, ``init_state``, ``max_context``) plus the vocabulary, so
this works for every architecture and for ensembles. All beams have the same length, so they advance together as
one batch; after each step the rows of the state (an LSTM's (h, c), a GPT's key/value cache) are reordered to
follow their parents. The unknown id is never chosen, as in ``charlm.generation.sample``; log-probabilities are
those of the model's full distribution.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from charlm.errors import CharlmError
from charlm.vocab import UNK_ID, CharVocab

MAX_WIDTH = 16
MAX_CHARS = 400  # characters one beam search may add
MAX_WORK = 4000  # width x characters: the cost of one search, in model rows stepped


@dataclass(frozen=True)
class Beam:
    """One continuation: its ids, its text, and the sum of the log-probabilities (natural log) of its characters."""

    ids: tuple[int, ...]
    text: str
    logprob: float


def check_beam(width: int, max_new_chars: int) -> None:
    """Refuse settings that make no sense or cost too much, before any work."""
    if not 1 <= width <= MAX_WIDTH:
        raise CharlmError(f"beam width must be between 1 and {MAX_WIDTH}, not {width}")
    if not 0 <= max_new_chars <= MAX_CHARS:
        raise CharlmError(f"beam search adds between 0 and {MAX_CHARS} characters, not {max_new_chars}")
    if width * max_new_chars > MAX_WORK:
        raise CharlmError(
            f"beam width {width} x {max_new_chars} characters is over the limit of {MAX_WORK:,}; "
            "use a narrower beam or fewer characters"
        )


def reorder_state(state, rows: torch.Tensor):
    """The state with its batch rows taken in the order ``rows`` (rows may repeat).

    Every charlm state keeps the batch in dimension 1 of its tensors (a recurrent layer's (layers, batch, hidden);
    the GPT cache's (layers, batch, heads, positions, dim)); containers (tuples, lists, objects such as the cache or
    an ensemble's state) are walked and copied, so the caller's state is never changed in place."""
    if state is None or isinstance(state, (int, float, str, bool)):
        return state
    if isinstance(state, torch.Tensor):
        return state.index_select(1, rows) if state.dim() >= 2 else state
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, rows) for s in state)
    if hasattr(state, "__dict__"):
        out = copy.copy(state)
        for key, value in vars(state).items():
            setattr(out, key, reorder_state(value, rows))
        return out
    raise TypeError(f"cannot reorder a model state of type {type(state).__name__}")


def _context(model, vocab: CharVocab, prompt: str | Sequence[int], max_new_chars: int) -> list[int]:
    """The prompt ids the model reads first; a GPT keeps the most recent ones that leave room for the output."""
    ids = vocab.encode(prompt).ids if isinstance(prompt, str) else list(prompt)
    ids = ids or ([vocab.id_of("\n")] if "\n" in vocab else [1])
    window = model.max_context
    if window:
        if max_new_chars >= window:
            raise CharlmError(
                f"this model sees {window} characters at once; beam search on it adds at most {window - 1}"
            )
        ids = ids[-(window - max_new_chars) :]
    return ids


@torch.inference_mode()
def beam_search(model, vocab: CharVocab, prompt: str | Sequence[int], width: int = 4,
                max_new_chars: int = 40) -> list[Beam]:  # fmt: skip
    """The ``width`` best continuations of ``prompt`` found by beam search, most probable first."""
    check_beam(width, max_new_chars)
    context = _context(model, vocab, prompt, max_new_chars)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        # every row reads the prompt once (one batch), so the state has ``width`` rows from the start
        state = model.init_state(width)
        x = torch.tensor([context] * width, device=device)
        logits, state = model(x, state)
        last = logits[:, -1]
        scores = torch.zeros(width, device=device)
        seqs: list[list[int]] = [[] for _ in range(width)]
        for step in range(max_new_chars):
            logp = torch.log_softmax(last.float(), dim=-1)
            total = scores[:, None] + logp
            total[:, UNK_ID] = float("-inf")
            if step == 0:  # all rows are the same prompt: take the first step from one row only
                total[1:] = float("-inf")
            flat = total.view(-1)
            k = min(width, int(torch.isfinite(flat).sum()))
            best = torch.topk(flat, k)
            parents = torch.div(best.indices, logp.shape[-1], rounding_mode="floor")
            chars = best.indices % logp.shape[-1]
            if k < width:  # fewer possible continuations than beams (a tiny vocabulary): repeat the last one
                pad = width - k
                parents = torch.cat([parents, parents[-1:].expand(pad)])
                chars = torch.cat([chars, chars[-1:].expand(pad)])
                best_values = torch.cat([best.values, best.values[-1:].expand(pad)])
            else:
                best_values = best.values
            seqs = [seqs[int(p)] + [int(c)] for p, c in zip(parents, chars, strict=True)]
            scores = best_values
            state = reorder_state(state, parents)
            logits, state = model(chars[:, None], state)
            last = logits[:, -1]
    finally:
        model.train(was_training)
    beams, seen = [], set()
    for seq, score in zip(seqs, scores.tolist(), strict=True):
        if tuple(seq) not in seen:
            seen.add(tuple(seq))
            beams.append(Beam(tuple(seq), vocab.decode(seq), float(score)))
    return sorted(beams, key=lambda b: -b.logprob)


@torch.inference_mode()
def continuation_logprob(model, vocab: CharVocab, prompt: str | Sequence[int], ids: Sequence[int]) -> float:
    """log p(ids | prompt) under the model, read the way ``beam_search`` reads it (same context for a GPT)."""
    context = _context(model, vocab, prompt, len(ids))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(torch.tensor([context + list(ids)], device=device), model.init_state(1))
    finally:
        model.train(was_training)
    if not ids:
        return 0.0
    logp = torch.log_softmax(logits[0, len(context) - 1 : -1].float(), dim=-1)
    return float(logp.gather(1, torch.tensor(list(ids), device=device)[:, None]).sum())


__all__ = ["MAX_CHARS", "MAX_WIDTH", "MAX_WORK", "Beam", "beam_search", "check_beam", "continuation_logprob",
           "reorder_state"]  # fmt: skip
