"""The one interface every architecture keeps, so training, scoring and sampling never ask what a model is.

    logits, state = model(idx, state)

``idx`` is (batch, time) ids; ``state`` is None to start fresh, or what the previous call returned: an LSTM/GRU/RNN
hidden state, or the GPT's key/value cache. Carrying it makes scoring chunk by chunk and sampling one character
per call cost O(1) per character instead of re-reading the whole text.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

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

    def forward(self, idx: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        raise NotImplementedError
