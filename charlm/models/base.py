"""The one interface every architecture keeps, so training, scoring and sampling never ask what a model is.

    logits, state = model(idx, state)

``idx`` is (batch, time) ids; ``state`` is None to start fresh, or what the previous call returned: an LSTM/GRU/RNN
hidden state, or the GPT's key/value cache. Carrying it makes scoring chunk by chunk and sampling one character
per call cost O(1) per character instead of re-reading the whole text.

The "logits" are whatever the output layer gives: a linear head's raw scores, or an adaptive head's normalised
log-probabilities. Both work wherever logits do (softmax, top-k/top-p, cross-entropy), so callers never ask.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from charlm.models.output import head_loss

State = Any  # opaque to callers: pass back what the model returned

_INT8_LINEAR = "torch.ao.nn.quantized.dynamic.modules.linear"  # torch's dynamic int8 nn.Linear (models.quantize)
_LINEAR_INT8 = torch.ops.quantized.linear_dynamic.default


def linear(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` for a float ``nn.Linear`` or a dynamic int8 one, without ``nn.Module.__call__``.

    Why: a one-row decoding step is ~100 small operators, and a module call adds Python (hooks, the int8 module's
    checks) around each: with the GPT's other calls made plain too, its int8 step is a fifth shorter
    (docs/benchmarks.md, "A classroom"), with bit-identical results. Any other module is simply called.
    """
    kind = type(module)
    if kind is nn.Linear:
        return F.linear(x, module.weight, module.bias)
    int8 = sys.modules.get(_INT8_LINEAR)  # imported only once a model has been quantized
    if int8 is not None and kind is int8.Linear and module.version == 4:
        params = module._packed_params
        if params.dtype == torch.qint8:  # what the module's own forward calls, as it calls it (version 4)
            return _LINEAR_INT8(x, params._packed_params, reduce_range=True)  # (the overload: no Python dispatch)
    return module(x)


class LanguageModel(nn.Module, ABC):
    """Base class of every charlm model (GPT, RecurrentLM, Ensemble): what a new architecture must provide.

    The sampler calls ``max_context``, ``init_state`` and ``forward``; the batched engine ``decode_step``; scoring
    ``output_head`` and ``hidden`` (an adaptive head scores from the hidden vectors); training ``forward`` with
    targets. ``tests/test_models.py`` builds a minimal subclass and runs all of them through it.
    """

    config: Any  # the ModelConfig it was built from
    tied_keys: tuple[str, ...] = ()  # state-dict keys that alias another tensor (saved once)

    @property
    @abstractmethod
    def max_context(self) -> int | None:
        """How many positions the model can see at once; None when the state carries everything (recurrent)."""

    @abstractmethod
    def init_state(self, batch_size: int = 1) -> State:
        """A fresh state for ``batch_size`` rows (None where the layers start from zeros themselves)."""

    @property
    @abstractmethod
    def output_head(self) -> nn.Module | None:
        """The output layer: an ``nn.Linear`` (logits) or a ``charlm.models.output.AdaptiveHead`` (log-probs);
        None for a model without a single one (an ensemble)."""

    @abstractmethod
    def hidden(self, idx: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """The hidden vectors the output layer reads, (batch, time, width), and the new state: ``forward``
        without its last layer, for callers that use the head's own methods (``AdaptiveHead.score``)."""

    @abstractmethod
    def decode_step(self, idx: torch.Tensor, state: State, pos: torch.Tensor | None) -> tuple[torch.Tensor, State]:
        """One new character for each of ``n = len(idx)`` rows, row b at its own position ``pos[b]`` (None for a
        model whose state carries everything, a recurrent one): the logits
        (n, vocab) and the state (a state for at least n rows, updated in place or returned anew). Same maths as
        ``forward`` on a one-character input in eval mode; the batched engine (``charlm.generation.batched``)
        steps every live row with it."""

    def forward(self, idx: torch.Tensor, state: State = None, targets: torch.Tensor | None = None):
        """``logits, state``; with ``targets`` (batch, time) ``loss, state``: the mean next-character loss, through
        the head's own loss (DDP and torch.compile wrap ``forward``, so training's loss must come from here)."""
        h, state = self.hidden(idx, state)
        if targets is not None:
            return head_loss(self.output_head, h, targets), state
        return self.output_head(h), state
