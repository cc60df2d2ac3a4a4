"""The GPT's attention weights, recorded from the real forward pass.

The model computes attention with ``F.scaled_dot_product_attention``, which never hands out its weights. A forward
hook on each attention layer takes the layer's actual input during a normal forward and recomputes the same
softmax(q kᵀ / √d + causal mask) the fused kernel computes, from the layer's own q, k, v projection. To show that
these are the weights the model used, the hook also rebuilds the layer's output from them (weights @ v, then the
output projection) and we report the largest difference from the real output: ~1e-7, float rounding (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from charlm.errors import DataError


@dataclass
class Attention:
    """``weights[layer][head]`` is a (T, T) tensor: row = query position, column = key position. With ``keep``
    one (layer, head) only, ``weights`` is (1, 1, T, T) and ``kept`` says which."""

    weights: torch.Tensor  # (n_layer, n_head, T, T), or (1, 1, T, T) for one kept head
    max_error: float  # max |output rebuilt from the recorded weights - the real layer output|, over all layers
    logits: torch.Tensor | None  # (T, vocab): the model's output of the same forward pass (None with ``keep``)
    kept: tuple[int, int] | None = None  # the one (layer, head) recorded, or None: all of them
    shape: tuple[int, int] = (0, 0)  # the model's (n_layer, n_head)


def _recompute(attn, x: torch.Tensor, ve: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights, output) of one CausalSelfAttention on input x (and its value embedding, if the model has them),
    written out as the fused kernel defines them."""
    B, T, C = x.shape
    q, k, v = attn.qkv(x, ve)  # (B, nh, T, hd), queries and keys normalised if the model does
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
    y = (weights @ v).transpose(1, 2).reshape(B, T, C)
    return weights, attn.resid_dropout(attn.c_proj(y))


@torch.no_grad()
def attention_maps(model, ids: list[int], keep: tuple[int, int] | None = None) -> Attention:
    """Run the GPT once on ``ids`` (at most its context) and record every layer's and head's attention, or only
    head ``keep = (layer, head)``: one layer's weights exist at a time either way, and the app keeps one head's
    (T x T) rather than layers x heads of them (issue 19)."""
    if model.config.arch != "gpt":
        raise DataError("attention maps exist only for the GPT (recurrent models have no attention)")
    if not 1 <= len(ids) <= model.max_context:
        raise DataError(f"attention reads 1 to {model.max_context} characters (the model's context), not {len(ids)}")
    n_layer, n_head = len(model.blocks), model.config.n_head
    if keep is not None and not (0 <= keep[0] < n_layer and 0 <= keep[1] < n_head):
        raise DataError(f"this model has {n_layer} layers of {n_head} heads; there is no layer {keep[0]} "
                        f"head {keep[1]}")  # fmt: skip
    recorded: list[torch.Tensor] = []
    errors: list[float] = []
    layer_of = {id(block.attn): i for i, block in enumerate(model.blocks)}

    def hook(module, args, output):
        weights, rebuilt = _recompute(module, args[0], args[2] if len(args) > 2 else None)
        if keep is None:
            recorded.append(weights[0].float().cpu())
        elif layer_of[id(module)] == keep[0]:
            recorded.append(weights[0, keep[1] : keep[1] + 1].float().cpu().clone())
        errors.append(float((rebuilt - output).abs().max()))
        del weights, rebuilt

    was_training = model.training
    model.eval()
    handles = [block.attn.register_forward_hook(hook) for block in model.blocks]
    try:
        device = next(model.parameters()).device
        h, _ = model.hidden(torch.tensor([ids], dtype=torch.long, device=device))
        # the logits only where they are small: T x V of a huge vocabulary is what issue 19 forbids
        logits = model.output_head(h) if keep is None and len(ids) * model.config.vocab_size <= 2**24 else None
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if keep is not None:
        return Attention(recorded[0][None], max(errors), None, keep, (n_layer, n_head))
    out = logits[0].float().cpu() if logits is not None else None
    return Attention(torch.stack(recorded), max(errors), out, None, (n_layer, n_head))
