"""Ensembles: several models that predict together by averaging their next-character distributions.

    p_ensemble(c | text) = (1/n) * sum_i p_i(c | text)

Averaging probabilities (not logits) is the textbook ensemble: each member keeps its own opinion and the mix is
never more confident than its most confident member. The ensemble is itself a ``LanguageModel`` whose "logits" are
log p_ensemble, so softmax gives back p_ensemble exactly and every existing caller (scoring, sampling with
temperature/top-k/top-p, the app) works unchanged. An ensemble of a model with itself is that model (tested).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from charlm.errors import CheckpointError
from charlm.models import LanguageModel
from charlm.storage.checkpoint import LoadedModel
from charlm.vocab import describe_chars


@dataclass
class EnsembleState:
    """Each member's own state, plus how many positions have been read (the sampler slides the GPT's window)."""

    members: list
    pos: int = 0


class Ensemble(LanguageModel):
    def __init__(self, members: Sequence[LanguageModel]) -> None:
        super().__init__()
        if len(members) < 2:
            raise CheckpointError("an ensemble needs at least two models")
        self.members = nn.ModuleList(members)
        self.config = members[0].config  # vocab_size is shared (checked by ``ensemble``)

    @property
    def max_context(self) -> int | None:
        """The smallest context of any member (None when every member is recurrent)."""
        contexts = [m.max_context for m in self.members if m.max_context]
        return min(contexts) if contexts else None

    def init_state(self, batch_size: int = 1) -> EnsembleState:
        return EnsembleState([m.init_state(batch_size) for m in self.members])

    @property
    def output_head(self) -> None:
        return None  # each member has its own: scoring and sampling go through ``forward``

    def hidden(self, idx: torch.Tensor, state: EnsembleState | None = None):
        raise TypeError("an ensemble has no single hidden layer: call the ensemble itself (forward)")

    def decode_step(self, idx: torch.Tensor, state: EnsembleState, pos: torch.Tensor | None):
        raise TypeError("an ensemble has no batched step: sample it with charlm.generation.sample")

    def forward(self, idx: torch.Tensor, state: EnsembleState | None = None):
        states = state.members if state is not None else [None] * len(self.members)
        log_probs, new_states = [], []
        for member, s in zip(self.members, states, strict=True):
            logits, s = member(idx, s)
            log_probs.append(torch.log_softmax(logits.float(), dim=-1))
            new_states.append(s)
        # log of the mean probability, computed without leaving log space (no underflow for rare characters)
        mixed = torch.logsumexp(torch.stack(log_probs), dim=0) - math.log(len(self.members))
        if state is None:
            return mixed, None
        state.members, state.pos = new_states, state.pos + idx.shape[1]
        return mixed, state


def check_same_vocab(models: Sequence[LoadedModel]) -> None:
    """Refuse models whose vocabularies differ, naming the characters that differ."""
    first = models[0]
    for other in models[1:]:
        if other.vocab.chars == first.vocab.chars:
            continue
        a, b = set(first.vocab.chars), set(other.vocab.chars)
        parts = []
        if a - b:
            parts.append(f"{first.name} has {describe_chars(sorted(a - b))} that {other.name} lacks")
        if b - a:
            parts.append(f"{other.name} has {describe_chars(sorted(b - a))} that {first.name} lacks")
        detail = "; ".join(parts) or "the same characters in a different order"
        raise CheckpointError(f"an ensemble needs models with the same vocabulary: {detail}")


def ensemble(models: Sequence[LoadedModel]) -> LoadedModel:
    """One loaded model that averages the members' next-character distributions."""
    if len(models) < 2:
        raise CheckpointError("an ensemble needs at least two models")
    check_same_vocab(models)
    devices = {str(m.device) for m in models}
    if len(devices) > 1:
        raise CheckpointError(f"ensemble members must be on one device, not {', '.join(sorted(devices))}")
    names = [m.name for m in models]
    model = Ensemble([m.model for m in models]).eval()
    meta = {"name": "ensemble of " + " + ".join(names), "members": names}
    return LoadedModel(model=model, vocab=models[0].vocab, config=models[0].config, meta=meta)
