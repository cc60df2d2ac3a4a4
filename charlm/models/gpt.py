"""A small decoder-only transformer (GPT) with a key/value cache for fast incremental decoding.

Shape of the code follows nanoGPT's model.py: token + position embeddings, pre-LayerNorm blocks of causal
self-attention and an MLP, a final LayerNorm, and an output layer that shares the token-embedding matrix -- or,
for a large vocabulary, an adaptive softmax (``charlm.models.output``) with the embedding left untied.

Decoding: without a cache, generating character n re-runs attention over all n previous characters (nanoGPT's
sample.py does this, ~80 chars/s on a laptop). With the cache each step only computes the new character's query,
key and value and attends to the stored keys/values. The cache holds at most ``block_size`` positions; the
sampler slides the window when it is full (see ``charlm.generation.sample``).

Batched decoding (``decode_step``): several independent texts, each at its own position, advance by one
character in one forward pass. Every row writes its new key/value at its own position of a preallocated cache and
attends over the whole cache with a mask that hides the slots beyond its position, so the shapes never depend on
where each row is (``charlm.generation.batched`` serves many chat replies this way).

Switches (``ModelConfig``; all off by default, as in the models trained before them): ``mlp="relu2"`` (ReLU
squared: sparse, cheap, and it trained faster than GELU in modded-nanogpt), ``qk_norm`` (queries and keys
RMS-normalised per head, so attention scores cannot blow up however large the weights grow), ``zero_init`` (each
block's output projections start at zero: every block starts as the identity and the residual stream is clean) and
``logit_cap`` (``cap * tanh(logits / cap)``: no logit beyond +-cap, so the model cannot grow over-confident) and
``value_embeds`` (each layer gets its own table of one vector per character, added to the attention's values:
modded-nanogpt's value embeddings, which let every layer read "which character is at that position" directly,
not only through the residual stream; vocab x width more parameters per layer).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from charlm.models.base import LanguageModel, linear
from charlm.models.output import AdaptiveHead


class KVCache:
    """Per-layer keys and values of the positions seen so far, preallocated to the full context."""

    def __init__(self, n_layer: int, batch: int, n_head: int, block_size: int, head_dim: int, device, dtype):
        shape = (n_layer, batch, n_head, block_size, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0  # number of positions filled
        self.block_size = block_size

    def first_rows(self, batch: int) -> KVCache:
        """Its first ``batch`` rows as an empty cache over the same memory (for a pre-fill that reuses it: the
        slots beyond what a pre-fill writes are never read)."""
        view = object.__new__(KVCache)
        view.k, view.v, view.pos, view.block_size = self.k[:, :batch], self.v[:, :batch], 0, self.block_size
        return view


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (torch's has no bias=False before 2.1; kept explicit for clarity)."""

    def __init__(self, ndim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

        self.qk_norm = config.qk_norm

    def qkv(self, x: torch.Tensor, ve: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of x (B, T, C), each (B, nh, T, hd); with ``qk_norm`` q and k RMS-normalised,
        with a value embedding ``ve`` (B, T, C) added to the values."""
        B, T, C = x.shape
        # one view + permute instead of split and three view/transposes: fewer operators per decoding step
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        if self.qk_norm:
            q, k = rms_norm(q), rms_norm(k)
        if ve is not None:
            v = v + ve.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        return q, k, v

    def forward(self, x: torch.Tensor, cache: KVCache | None, ve: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x, ve)  # (B, nh, T, hd)
        dropout = self.dropout if self.training else 0.0
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:
            p = cache.pos
            cache.k[self.layer, :, :, p : p + T] = k
            cache.v[self.layer, :, :, p : p + T] = v
            k = cache.k[self.layer, :, :, : p + T]
            v = cache.v[self.layer, :, :, : p + T]
            if T == 1:  # one new query sees every stored position: no mask needed
                y = F.scaled_dot_product_attention(q, k, v)
            elif p == 0:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # new query i sits at absolute position p + i and sees keys 0 .. p + i
                mask = torch.ones(T, p + T, dtype=torch.bool, device=x.device).tril(diagonal=p)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """x scaled to unit root-mean-square over its last dimension (no learned gain)."""
    return F.rms_norm(x, (x.shape[-1],), eps=1e-6)


def relu2(x: torch.Tensor) -> torch.Tensor:
    return F.relu(x).square()


class MLP(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)
        self.act = relu2 if config.mlp == "relu2" else F.gelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class CappedLinear(nn.Linear):
    """A linear output layer whose logits are soft-capped: ``cap * tanh(logits / cap)``. A subclass (not a wrapper)
    so its weight keeps the name ``lm_head.weight`` and stays tied to the token embedding."""

    def __init__(self, in_features: int, out_features: int, cap: float) -> None:
        super().__init__(in_features, out_features, bias=False)
        self.cap = cap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cap * torch.tanh(super().forward(x) / self.cap)


class Block(nn.Module):
    """Pre-LayerNorm: normalising the input of each sub-layer keeps the residual path clean and training stable."""

    def __init__(self, config, layer: int) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, config.bias)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = LayerNorm(config.n_embd, config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None, ve: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, ve)
        return x + self.mlp(self.ln_2(x))


class GPT(LanguageModel):
    tied_keys = ("lm_head.weight",)  # stored once in the checkpoint, as wte.weight

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = LayerNorm(config.n_embd, config.bias)
        if config.head == "adaptive":  # its shortlist and clusters have no single V x C matrix to share
            self.lm_head = AdaptiveHead(config.n_embd, config.vocab_size, config.head_order, config.head_cutoffs,
                                        config.head_div)  # fmt: skip
            self.tied_keys = ()
        elif config.logit_cap:
            self.lm_head = CappedLinear(config.n_embd, config.vocab_size, config.logit_cap)
            self.lm_head.weight = self.wte.weight
        else:
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            # Tied weights: the same matrix maps ids to vectors and vectors back to scores. Fewer parameters, and
            # characters that look alike on the way in score alike on the way out (Press & Wolf, 2017).
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2: scale residual projections by depth
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
                if config.zero_init:  # drawn first all the same: the other weights get the same random numbers
                    nn.init.zeros_(p)
        # Value embeddings: built and drawn after everything else, so the other weights get the same random numbers
        # as without them (and a model without them has no such module: its parameter names are unchanged).
        self.value_embeds = None
        if config.value_embeds:
            self.value_embeds = nn.ModuleList(nn.Embedding(config.vocab_size, config.n_embd)
                                              for _ in range(config.n_layer))  # fmt: skip
            for table in self.value_embeds:
                nn.init.normal_(table.weight, mean=0.0, std=0.02)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def max_context(self) -> int:
        return self.config.block_size

    def init_state(self, batch_size: int = 1) -> KVCache:
        c = self.config
        p = self.wte.weight
        return KVCache(c.n_layer, batch_size, c.n_head, c.block_size, c.n_embd // c.n_head, p.device, p.dtype)

    @property
    def output_head(self) -> nn.Module:
        return self.lm_head

    def hidden(self, idx: torch.Tensor, state: KVCache | None = None):
        B, T = idx.shape
        start = state.pos if state is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(
                f"{start + T} positions exceed the context window of {self.config.block_size}; "
                "slide the window (re-prefill the most recent text)"
            )
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for i, block in enumerate(self.blocks):
            x = block(x, state, self.value_embeds[i](idx) if self.value_embeds is not None else None)
        if state is not None:
            state.pos += T
        return self.ln_f(x), state

    def decode_step(self, idx: torch.Tensor, cache: KVCache, pos: torch.Tensor) -> tuple[torch.Tensor, KVCache]:
        """One new character for each of ``n = len(idx)`` rows, row b at its own position ``pos[b]``.

        ``cache`` holds at least n rows (rows 0..n-1 are used and written in place; ``cache.pos`` is ignored).
        Returns logits (n, vocab) (an adaptive head's log-probabilities) and the cache.
        The same maths as ``forward`` with a cache, written for one position per row: 2-D activations, and
        attention over all ``block_size`` slots with ``-inf`` at the slots a row has not filled yet. A single row
        takes ``_decode_one`` instead.
        """
        n, C, nh = idx.shape[0], self.config.n_embd, self.config.n_head
        if n == 1:
            return self._decode_one(idx, cache, int(pos[0])), cache
        hd, T = C // nh, self.config.block_size
        x = self.wte(idx) + self.wpe(pos)  # (n, C)
        # one additive mask for every layer and head: row b sees slots 0..pos[b]
        rows = torch.arange(n, device=idx.device)
        slots = torch.arange(T, device=idx.device)
        bias = torch.zeros(n, 1, 1, T, device=idx.device, dtype=x.dtype)
        bias.masked_fill_((slots[None, :] > pos[:, None]).view(n, 1, 1, T), float("-inf"))
        for i, block in enumerate(self.blocks):
            attn, mlp = block.attn, block.mlp
            q, k, v = linear(attn.c_attn, block.ln_1(x)).view(n, 3, nh, hd).unbind(1)  # each (n, nh, hd)
            if attn.qk_norm:
                q, k = rms_norm(q), rms_norm(k)
            if self.value_embeds is not None:
                v = v + self.value_embeds[i](idx).view(n, nh, hd)
            k_cache, v_cache = cache.k[i, :n], cache.v[i, :n]  # views: (n, nh, T, hd)
            k_cache[rows, :, pos] = k  # each row stores its key/value at its own position
            v_cache[rows, :, pos] = v
            att = (q.unsqueeze(2) @ k_cache.transpose(-2, -1)) * (1.0 / math.sqrt(hd)) + bias  # (n, nh, 1, T)
            y = (att.softmax(-1) @ v_cache).view(n, C)
            x = x + linear(attn.c_proj, y)
            x = x + linear(mlp.c_proj, mlp.act(linear(mlp.c_fc, block.ln_2(x))))
        return self.lm_head(self.ln_f(x)), cache

    def _decode_one(self, idx: torch.Tensor, cache: KVCache, p: int) -> torch.Tensor:
        """``decode_step`` for a single row at position ``p``: logits (1, vocab).

        Attends over the filled slots only, with ``forward``'s own kernels in ``forward``'s order, so a text
        decoded alone is bit for bit ``charlm.generation.sample``'s (an int8 model would turn a 1e-7 difference
        into a different quantized activation now and then). Written as plain function calls (no module calls,
        masks or batch views): at one row a step is ~100 small operators and their Python costs as much as their
        maths (issue 22: -19% per int8 step, docs/benchmarks.md "A classroom").
        """
        C, nh, eps = self.config.n_embd, self.config.n_head, 1e-5
        hd = C // nh
        x = self.wte(idx) + self.wpe.weight[p]  # (1, C)
        for i, block in enumerate(self.blocks):
            attn, mlp, ln_1, ln_2 = block.attn, block.mlp, block.ln_1, block.ln_2
            q, k, v = linear(attn.c_attn, F.layer_norm(x, (C,), ln_1.weight, ln_1.bias, eps)).view(3, nh, hd)
            if attn.qk_norm:
                q, k = rms_norm(q), rms_norm(k)
            if self.value_embeds is not None:
                v = v + self.value_embeds[i](idx).view(nh, hd)
            k_cache, v_cache = cache.k[i, :1], cache.v[i, :1]  # (1, nh, T, hd)
            k_cache[0, :, p] = k
            v_cache[0, :, p] = v
            y = F.scaled_dot_product_attention(q.view(1, nh, 1, hd), k_cache[:, :, : p + 1], v_cache[:, :, : p + 1])
            x = x + linear(attn.c_proj, y.view(1, C))
            x = x + linear(mlp.c_proj, mlp.act(linear(mlp.c_fc, F.layer_norm(x, (C,), ln_2.weight, ln_2.bias, eps))))
        return self.lm_head(F.layer_norm(x, (C,), self.ln_f.weight, self.ln_f.bias, eps))
