"""Decoding, seen from inside: the next-character distribution under temperature, top-k and top-p, and greedy vs
sampling vs beam search with the log-probability of each continuation.

The rules are the ones ``charlm.generation.sample`` applies (the tests compare the kept sets): divide the logits by the
temperature, keep the k best (and any tied with the k-th), keep the smallest set of best characters whose
probability reaches top-p (the best one always stays), renormalise over what is kept. The unknown id is never
drawn.
"""

from __future__ import annotations

import math

import torch

from charlm.errors import DataError
from charlm.generation.beam import beam_search, check_beam, continuation_logprob
from charlm.lessons import check_text
from charlm.vocab import UNK_ID

MAX_NEW = 80  # characters each decoder adds in the lesson


def check_settings(temperature: float, top_k: int, top_p: float) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and 0 < temperature <= 5):
        raise DataError(f"temperature must be above 0 and at most 5, not {temperature}")
    if not 0 <= top_k <= 10_000:
        raise DataError(f"top-k must be 0 (off) or a positive count, not {top_k}")
    if not 0 < top_p <= 1:
        raise DataError(f"top-p must be in (0, 1], not {top_p}")


def kept_mask(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Which ids survive temperature, top-k and top-p (a bool vector over the vocabulary)."""
    x = logits.float() / temperature
    x[UNK_ID] = float("-inf")
    keep = torch.isfinite(x)
    if 0 < top_k < int(keep.sum()):
        kth = torch.topk(x, top_k).values[-1]
        keep &= x >= kth
    if top_p < 1:
        probs = torch.softmax(x.masked_fill(~keep, float("-inf")), dim=-1)
        order = torch.argsort(probs, descending=True)
        sorted_p = probs[order]
        drop_sorted = sorted_p.cumsum(0) - sorted_p > top_p
        drop = torch.zeros_like(keep)
        drop[order] = drop_sorted
        keep &= ~drop
    return keep


@torch.inference_mode()
def next_logits(model, vocab, prompt: str) -> torch.Tensor:
    """The model's logits for the character after ``prompt`` (a GPT reads its last ``max_context`` characters)."""
    ids = vocab.encode(prompt).ids or [1]
    if model.max_context:
        ids = ids[-model.max_context :]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(torch.tensor([ids], device=device), model.init_state(1))
    finally:
        model.train(was_training)
    return logits[0, -1].float().cpu()


def next_char_table(model, vocab, prompt: str, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                    rows: int = 20) -> list[dict]:  # fmt: skip
    """The ``rows`` most likely next characters: probability as the model gives it, after the temperature, whether
    top-k/top-p keep it, and the renormalised probability it is drawn with (0 when cut)."""
    check_text(prompt)
    check_settings(temperature, top_k, top_p)
    logits = next_logits(model, vocab, prompt)
    p_model = torch.softmax(logits, dim=-1)
    scaled = logits / temperature
    scaled[UNK_ID] = float("-inf")
    p_temp = torch.softmax(scaled, dim=-1)
    keep = kept_mask(logits, temperature, top_k, top_p)
    p_final = torch.softmax(scaled.masked_fill(~keep, float("-inf")), dim=-1)
    order = torch.argsort(p_temp, descending=True)[: max(1, min(rows, 100))]
    return [{"char": vocab.chars[i - 1] if i else "\ufffd", "id": int(i), "p_model": float(p_model[i]),
             "p_temperature": float(p_temp[i]), "kept": bool(keep[i]), "p_final": float(p_final[i])}
            for i in order.tolist()]  # fmt: skip


def continuations(loaded, prompt: str, max_new_chars: int = 40, width: int = 4, temperature: float = 1.0,
                  top_k: int = 0, top_p: float = 1.0, seed: int = 0) -> list[dict]:  # fmt: skip
    """Greedy, one sample and beam search from the same prompt, each with its log-probability under the model
    (natural log; per character too, so different lengths compare)."""
    from charlm import Sampling, generate

    check_text(prompt)
    check_settings(temperature, top_k, top_p)
    if not 1 <= max_new_chars <= MAX_NEW:
        raise DataError(f"the lesson adds 1 to {MAX_NEW} characters, not {max_new_chars}")
    check_beam(width, max_new_chars)
    model, vocab = loaded.model, loaded.vocab
    window = model.max_context
    if window and max_new_chars >= window:
        raise DataError(f"this model sees {window} characters at once; add fewer than that")
    out = []
    for kind, temp in (("greedy", 0.0), ("sampled", temperature)):
        text = "".join(generate(loaded, prompt, Sampling(temp, top_k, top_p, max_new_chars, seed)))
        ids = vocab.encode(text).ids
        out.append({"kind": kind, "text": text, "logprob": continuation_logprob(model, vocab, prompt, ids)})
    best = beam_search(model, vocab, prompt, width, max_new_chars)[0]
    out.append({"kind": f"beam {width}", "text": best.text, "logprob": best.logprob})
    for row in out:
        row["per_char"] = row["logprob"] / max(1, len(row["text"]))
        row["repeats"] = repeated_share(row["text"])
    return out


def repeated_share(text: str, n: int = 4) -> float:
    """The share of the text's n-character pieces that occur more than once in it: high when decoding loops."""
    grams = [text[i : i + n] for i in range(len(text) - n + 1)]
    if not grams:
        return 0.0
    counts: dict[str, int] = {}
    for g in grams:
        counts[g] = counts.get(g, 0) + 1
    return sum(1 for g in grams if counts[g] > 1) / len(grams)


__all__ = ["MAX_NEW", "continuations", "kept_mask", "next_char_table", "next_logits", "repeated_share"]
