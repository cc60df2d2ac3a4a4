"""The logit lens: what a GPT would predict if it stopped after each block.

A GPT adds each block's work to one running vector per position (the residual stream); only at the end does the
final LayerNorm and the output layer turn that vector into next-character scores. Applying that same final
LayerNorm and output layer to the stream after block 1, 2, ... shows how the prediction forms layer by layer
(nostalgebraist, 2020). After the last block this *is* the model's own prediction (tested), so the lens adds
nothing the model does not compute; the earlier rows are a view, not something the model outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from charlm.errors import DataError

TOP = 3  # best guesses kept per layer and position


@dataclass
class Lens:
    """``probs[l, t]`` is the distribution read after block ``l`` (row 0: the embeddings alone) for ``ids[t + 1]``."""

    probs: torch.Tensor  # (n_layer + 1, T, vocab)
    logits: torch.Tensor  # (T, vocab): the model's own output of the same forward pass

    def top(self, k: int = TOP) -> tuple[torch.Tensor, torch.Tensor]:
        """(values, ids) of the ``k`` most probable characters per layer and position."""
        return self.probs.topk(min(k, self.probs.shape[-1]), dim=-1)


@torch.no_grad()
def logit_lens(model, ids: list[int]) -> Lens:
    """Run the GPT once on ``ids`` (at most its context) and read every block's output through the final layers."""
    if model.config.arch != "gpt":
        raise DataError("the logit lens reads a GPT's blocks; recurrent models have no blocks to read")
    if not 1 <= len(ids) <= model.max_context:
        raise DataError(f"the logit lens reads 1 to {model.max_context} characters (the model's context), "
                        f"not {len(ids)}")  # fmt: skip
    streams: list[torch.Tensor] = []
    hooks = [block.register_forward_hook(lambda mod, args, out: streams.append(out)) for block in model.blocks]
    first = model.drop.register_forward_hook(lambda mod, args, out: streams.insert(0, out))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        logits, _ = model(torch.tensor([ids], dtype=torch.long, device=device))
        rows = [torch.softmax(model.output_head(model.ln_f(s)).float(), dim=-1)[0].cpu() for s in streams]
    finally:
        for h in (*hooks, first):
            h.remove()
        model.train(was_training)
    return Lens(torch.stack(rows), logits[0].float().cpu())


__all__ = ["Lens", "logit_lens"]
