"""RNN / LSTM / GRU language model: embedding -> torch's fused recurrent layers -> output layer (linear, or an
adaptive softmax for a large vocabulary: ``charlm.models.output``).

The recurrent state is the whole memory of the past, so sampling one character costs the same however long the
text is: no context window to slide.

Decoding one character at a time (``decode_step``) calls torch's fused cell functions layer by layer instead of
``nn.LSTM`` itself: on the CPU a one-step ``nn.LSTM`` call goes through oneDNN's RNN primitive, which re-arranges
its weights on every call (~3 ms per layer for the shipped LSTM), while the cell is a plain matmul plus the gate
arithmetic (3x faster per character, docs/benchmarks.md). Long prompts still go through ``nn.LSTM`` (``forward``),
where oneDNN pays.
"""

from __future__ import annotations

import torch
from torch import nn

from charlm.models.base import LanguageModel
from charlm.models.output import AdaptiveHead

_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
_CELLS = {"lstm": torch.lstm_cell, "gru": torch.gru_cell, "rnn": torch.rnn_tanh_cell}


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
        if config.head == "adaptive":
            self.head = AdaptiveHead(config.hidden_size, config.vocab_size, config.head_order, config.head_cutoffs,
                                     config.head_div)  # fmt: skip
        else:
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

    @property
    def output_head(self) -> nn.Module:
        return self.head

    def hidden(self, idx: torch.Tensor, state=None):
        x = self.drop(self.embed(idx))
        if torch.is_autocast_enabled(x.device.type):
            # Under bf16 autocast the layer's weights are cast but the embedding's output is not, and oneDNN's
            # LSTM has no kernel for fp32 input with bf16 weights on CPUs without native bf16 (issue 17).
            x = x.to(torch.get_autocast_dtype(x.device.type))
        out, state = self.rnn(x, state)
        return self.drop(out), state

    def decode_step(self, idx: torch.Tensor, state, pos: torch.Tensor | None):
        """One new character for each of ``n = len(idx)`` rows: logits (n, vocab) (an adaptive head's
        log-probabilities) and the new state. ``pos`` is not needed: the state carries everything.

        ``state`` is what ``forward`` returns for n rows (``(h, c)`` for an LSTM, ``h`` otherwise; never None).
        Same maths as ``forward`` on a one-character input, in eval mode (no dropout).
        """
        if (
            type(self.rnn) is not _LAYERS[self.config.arch]
        ):  # an int8 copy (charlm.models.quantize): its own fused layer
            logits, state = self(idx[:, None], state)
            return logits[:, 0], state
        lstm = self.config.arch == "lstm"
        h_all, c_all = state if lstm else (state, None)
        cell = torch.rnn_relu_cell if getattr(self.rnn, "nonlinearity", "") == "relu" else _CELLS[self.config.arch]
        x, hs, cs = self.embed(idx), [], []
        for i in range(self.config.n_layer):
            weights = [getattr(self.rnn, f"{w}_l{i}") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            if lstm:
                h, c = cell(x, (h_all[i], c_all[i]), *weights)
                cs.append(c)
            else:
                h = cell(x, h_all[i], *weights)
            hs.append(h)
            x = h  # the next layer reads this layer's output (dropout between layers is off in eval mode)
        h_new = torch.stack(hs)
        return self.head(x), ((h_new, torch.stack(cs)) if lstm else h_new)

    def init_state(self, batch_size: int = 1):
        """None: torch's recurrent layers start from zeros."""
        return None
