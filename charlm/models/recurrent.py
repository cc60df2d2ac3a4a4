"""RNN / LSTM / GRU language model: embedding -> torch's fused recurrent layers -> linear head.

The recurrent state is the whole memory of the past, so sampling one character costs the same however long the
text is: no context window to slide.
"""

from __future__ import annotations

import torch
from torch import nn

from charlm.models.base import LanguageModel

_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentLM(LanguageModel):
    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.rnn = _LAYERS[config.arch](
            config.n_embd,
            config.hidden_size,
            num_layers=config.n_layer,
            dropout=config.dropout if config.n_layer > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        # A small embedding init keeps the never-trained unknown id (0) close to "no input".
        nn.init.normal_(self.embed.weight, std=0.1)
        if config.arch == "lstm":
            # Forget-gate bias 1: remember by default early in training (Jozefowicz et al., 2015).
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        p[config.hidden_size : 2 * config.hidden_size].fill_(1.0)

    @property
    def max_context(self) -> None:
        return None  # no hard limit: the state carries everything

    def forward(self, idx: torch.Tensor, state=None):
        x = self.drop(self.embed(idx))
        out, state = self.rnn(x, state)
        return self.head(self.drop(out)), state

    def init_state(self, batch_size: int = 1):
        """None: torch's recurrent layers start from zeros."""
        return None
