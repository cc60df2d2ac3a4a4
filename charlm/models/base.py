"""The one interface every architecture keeps, so training, scoring and sampling never ask what a model is.

    logits, state = model(idx, state)

``idx`` is (batch, time) ids; ``state`` is None to start fresh, or what the previous call returned: an LSTM/GRU/RNN
hidden state, or the GPT's key/value cache. Carrying it makes scoring chunk by chunk and sampling one character
per call cost O(1) per character instead of re-reading the whole text.

The "logits" are whatever the output layer gives: a linear head's raw scores, or an adaptive head's normalised
log-probabilities. Both work wherever logits do (softmax, top-k/top-p, cross-entropy), so callers never ask.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from charlm.models.output import head_loss

State = Any  # opaque to callers: pass back what the model returned


class LanguageModel(nn.Module):
    """Base class of every charlm model (GPT, RecurrentLM)."""

    config: Any  # the ModelConfig it was built from
    tied_keys: tuple[str, ...] = ()  # state-dict keys that alias another tensor (saved once)

    @property
    def max_context(self) -> int | None:
        """How many positions the model can see at once; None when the state carries everything (recurrent)."""
        raise NotImplementedError

    def init_state(self, batch_size: int = 1) -> State:
        """A fresh state for ``batch_size`` rows (None where the layers start from zeros themselves)."""
        raise NotImplementedError

    @property
    def output_head(self) -> nn.Module | None:
        """The output layer: an ``nn.Linear`` (logits) or a ``charlm.models.output.AdaptiveHead`` (log-probs);
        None for a model without a single one (an ensemble)."""
        return None

    def hidden(self, idx: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """The hidden vectors the output layer reads, (batch, time, width), and the new state: ``forward``
        without its last layer, for callers that use the head's own methods (``AdaptiveHead.score``)."""
        raise NotImplementedError

    def forward(self, idx: torch.Tensor, state: State = None, targets: torch.Tensor | None = None):
        """``logits, state``; with ``targets`` (batch, time) ``loss, state``: the mean next-character loss, through
        the head's own loss (DDP and torch.compile wrap ``forward``, so training's loss must come from here)."""
        h, state = self.hidden(idx, state)
        if targets is not None:
            return head_loss(self.output_head, h, targets), state
        return self.output_head(h), state
