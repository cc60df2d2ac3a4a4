"""One config and one interface for every architecture.

Every model is called as ``logits, state = model(idx, state)``: ``idx`` is (batch, time) ids, ``state`` is None
to start fresh or what the previous call returned. That single contract gives training (state None, whole
windows), scoring (state carried across chunks) and fast incremental sampling (one new character per call).
``loss, state = model(idx, state, targets)`` gives the mean training loss instead, through the output layer's
own loss (the adaptive head's fast one for large vocabularies, ``charlm.models.output``).

The output layer (``head``): "linear" (one matrix over the vocabulary, what every model before issue 13 has),
"adaptive" (an adaptive softmax over the ids in frequency order, for large vocabularies) or "auto" (a new model's
choice, made by the trainer from the training text: adaptive above ``ADAPTIVE_MIN_VOCAB`` ids). A checkpoint
always stores a resolved head; a config without one (every checkpoint before issue 13) is linear.

The GPT's switches from the modern small-GPT recipe (issue 20; each measured in docs/benchmarks.md, "Muon and the
GPT switches"): ``mlp`` "relu2" (ReLU squared instead of GELU), ``qk_norm`` (RMS-normalised queries and keys),
``zero_init`` (the blocks' output projections start at zero, so every block starts as the identity) and
``logit_cap`` (logits squashed by ``cap * tanh(logits / cap)``; 0 = off) and ``value_embeds`` (a per-layer table of
character vectors added to the attention's values). Their defaults are the models before
them, and a config at the defaults is saved without them, so old checkpoints load and score to every digit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from torch import nn

from charlm.models.base import LanguageModel, State
from charlm.models.output import (
    DIV_VALUE,
    adaptive_parameters,
    adaptive_problems,
    choose_cutoffs,
    frequency_order,
    use_adaptive,
)

ARCHS = ("gpt", "lstm", "gru", "rnn")
HEADS = ("linear", "adaptive", "auto")
MLPS = ("gelu", "relu2")
GPT_SWITCHES = {"mlp": "gelu", "qk_norm": False, "zero_init": False, "logit_cap": 0.0,
                "value_embeds": False}  # fmt: skip  # field: the old model's value
MAX_LOGIT_CAP = 1000.0
_HEAD_FIELDS = ("head_order", "head_cutoffs", "head_div")  # settings of the adaptive head only
# Far beyond anything that trains on a CPU; a config outside them is a mistake or an attack, refused before building.
MAX_SIZES = {"vocab_size": 0x110000 + 1, "n_layer": 64, "n_embd": 8192, "n_head": 256, "hidden_size": 16384,
             "block_size": 65536}  # fmt: skip


@dataclass
class ModelConfig:
    arch: str = "gpt"
    vocab_size: int = 66
    n_layer: int = 4
    n_embd: int = 128  # token embedding width (GPT: also the residual width)
    n_head: int = 4  # GPT only
    hidden_size: int = 256  # recurrent models only
    block_size: int = 128  # GPT: context window; recurrent: training window (they have no hard limit)
    dropout: float = 0.0
    bias: bool = False  # GPT: biases in Linear/LayerNorm (nanoGPT found them unnecessary)
    head: str = "linear"  # output layer: linear, adaptive or auto (module docstring)
    head_order: list[int] | None = None  # adaptive: the vocabulary id of each frequency rank (training text)
    head_cutoffs: list[int] | None = None  # adaptive: cluster boundaries in frequency ranks
    head_div: float = DIV_VALUE  # adaptive: each cluster's projection is this much narrower than the previous
    mlp: str = "gelu"  # GPT: the MLP's nonlinearity, gelu or relu2 (ReLU squared)
    qk_norm: bool = False  # GPT: RMS-normalise each head's queries and keys before attention
    zero_init: bool = False  # GPT: start the attention and MLP output projections at zero
    logit_cap: float = 0.0  # GPT: soft-cap the logits at +-logit_cap (cap * tanh(logit / cap)); 0 = no cap
    value_embeds: bool = False  # GPT: each layer adds its own embedding of the input characters to the values

    @property
    def width(self) -> int:
        """The width of the hidden vector the output layer reads."""
        return self.n_embd if self.arch == "gpt" else self.hidden_size

    def __post_init__(self) -> None:
        problems = []
        if self.arch not in ARCHS:
            problems.append(f"arch must be one of {', '.join(ARCHS)}, not {self.arch!r}")
        for name, most in MAX_SIZES.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
                problems.append(f"{name} must be an integer from 1 to {most:,}, not {value!r}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), not {self.dropout!r}")
        if self.arch == "gpt" and not problems and self.n_embd % self.n_head:
            problems.append(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not problems:
            problems += self._head_problems() + self._switch_problems()
        if problems:
            raise ValueError("; ".join(problems))

    def _head_problems(self) -> list[str]:
        if self.head not in HEADS:
            return [f"head must be one of {', '.join(HEADS)}, not {self.head!r}"]
        order, cutoffs = self.head_order, self.head_cutoffs
        if self.head != "adaptive":
            extra = [name for name in ("head_order", "head_cutoffs") if getattr(self, name) is not None]
            return [f"{', '.join(extra)} belong to the adaptive head, not a {self.head} one"] if extra else []
        for name, value in (("head_order", order), ("head_cutoffs", cutoffs)):
            if value is not None and not (isinstance(value, list) and all(type(v) is int for v in value)):
                return [f"{name} must be a list of integers"]
        if not isinstance(self.head_div, (int, float)) or not 1.0 <= self.head_div <= 64.0:
            return [f"head_div must be a number from 1 to 64, not {self.head_div!r}"]
        if order is None or cutoffs is None:  # not yet resolved: the trainer fills both from the training text
            return [] if order is None and cutoffs is None else ["head_order and head_cutoffs come together"]
        return adaptive_problems(self.width, self.vocab_size, order, cutoffs, self.head_div)

    def _switch_problems(self) -> list[str]:
        problems = []
        if self.mlp not in MLPS:
            problems.append(f"mlp must be one of {', '.join(MLPS)}, not {self.mlp!r}")
        for name in ("qk_norm", "zero_init", "value_embeds"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be true or false, not {getattr(self, name)!r}")
        cap = self.logit_cap
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not 0.0 <= cap <= MAX_LOGIT_CAP:
            problems.append(f"logit_cap must be a number from 0 (off) to {MAX_LOGIT_CAP:g}, not {cap!r}")
        if not problems and self.arch != "gpt":
            changed = [name for name, old in GPT_SWITCHES.items() if getattr(self, name) != old]
            if changed:
                problems.append(f"{', '.join(changed)} belong to the GPT, not a {self.arch} model")
        return problems

    @property
    def head_resolved(self) -> bool:
        """True when the output layer can be built: linear, or adaptive with its frequency order and cutoffs."""
        return self.head == "linear" or (self.head == "adaptive" and self.head_order is not None)

    def to_json(self) -> dict:
        """The config as saved in a checkpoint. A linear head's settings are left out, so a linear model's
        config reads exactly as before issue 13 (and older charlm versions can still load it); so are the GPT
        switches left at their old values (issue 20)."""
        obj = asdict(self)
        if self.head == "linear":
            for name in ("head", *_HEAD_FIELDS):
                obj.pop(name)
        for name, old in GPT_SWITCHES.items():
            if obj[name] == old:
                obj.pop(name)
        return obj

    @classmethod
    def from_json(cls, obj: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**obj)


def resolve_head(config: ModelConfig, counts: np.ndarray | None = None) -> ModelConfig:
    """The config with its output layer decided: "auto" becomes adaptive above ``ADAPTIVE_MIN_VOCAB`` ids (else
    linear), and an adaptive head gets its frequency order and cutoffs from ``counts`` (how often each id occurs
    in the training text, ``charlm.models.output.count_ids``) unless it has them already."""
    head = config.head
    if head == "auto":
        head = "adaptive" if use_adaptive(config.vocab_size) else "linear"
    if head == "linear":
        return replace(config, head="linear", head_order=None, head_cutoffs=None)
    if config.head_order is not None:
        return replace(config, head=head)
    if counts is None:
        raise ValueError("an adaptive head needs the training text's character counts (its frequency order)")
    return replace(config, head=head, head_order=frequency_order(counts), head_cutoffs=choose_cutoffs(counts))


def estimated_cutoffs(vocab_size: int) -> list[int]:
    """Cutoffs for an adaptive head whose text is not known yet (a size check before training): those of a text
    that follows Zipf's law exactly, which puts them later than real text does (more parameters: a safe guess;
    on the poems [616, 3952] against the real [488, 1960])."""
    return choose_cutoffs(np.array([1e9 / r for r in range(1, vocab_size + 1)]))


# Size presets shown in the app and the CLI. "small" trains in minutes on a laptop CPU.
PRESETS: dict[str, dict[str, dict]] = {
    "gpt": {
        "tiny": dict(n_layer=2, n_embd=64, n_head=4, block_size=64),
        "small": dict(n_layer=4, n_embd=128, n_head=4, block_size=64),
        "medium": dict(n_layer=6, n_embd=256, n_head=8, block_size=256, dropout=0.1),
    },
    "lstm": {
        "tiny": dict(n_layer=1, n_embd=32, hidden_size=128, block_size=64),
        "small": dict(n_layer=2, n_embd=64, hidden_size=256, block_size=64),
        "medium": dict(n_layer=3, n_embd=128, hidden_size=512, block_size=128, dropout=0.2),
    },
}
PRESETS["gru"] = PRESETS["lstm"]
PRESETS["rnn"] = PRESETS["lstm"]


def preset_config(arch: str, size: str, vocab_size: int, head: str = "auto", **overrides) -> ModelConfig:
    """A size preset's config for a new model, any setting overridable. The head defaults to "auto": the trainer
    picks linear or adaptive from the text's vocabulary (``resolve_head``)."""
    if arch not in PRESETS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {arch!r}")
    if size not in PRESETS[arch]:
        raise ValueError(f"size must be one of {', '.join(PRESETS[arch])}, not {size!r}")
    settings = {**PRESETS[arch][size], **{k: v for k, v in overrides.items() if v is not None}}
    return ModelConfig(arch=arch, vocab_size=vocab_size, head=head, **settings)


def build_model(config: ModelConfig) -> LanguageModel:
    """The model a config describes, freshly initialised. An "auto" head is resolved by the vocabulary size; an
    adaptive one needs its frequency order (``resolve_head`` with the training text's counts)."""
    if config.head != "linear":
        if config.head == "auto" and not use_adaptive(config.vocab_size):
            config = resolve_head(config)
        elif config.head_order is None:
            raise ValueError("an adaptive head needs its frequency order: resolve_head(config, counts) first")
    if config.arch == "gpt":
        from charlm.models.gpt import GPT

        return GPT(config)
    from charlm.models.recurrent import RecurrentLM

    return RecurrentLM(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def config_parameters(config: ModelConfig) -> int:
    """Parameters a config would have, without building anything: the size check that must come before building
    what an untrusted user asked for (tests check it against ``count_parameters(build_model(config))``).

    Exact for a resolved head; for an "auto" or adaptive head whose text is not known yet, the adaptive head is
    counted with ``estimated_cutoffs`` (a little more than the real text will give)."""
    v, c = config.vocab_size, config.n_embd
    head = config.head if config.head != "auto" else ("adaptive" if use_adaptive(v) else "linear")
    if head == "adaptive":
        cutoffs = config.head_cutoffs or estimated_cutoffs(v)
        output = adaptive_parameters(config.width, v, cutoffs, config.head_div)
    else:
        output = 0 if config.arch == "gpt" else config.hidden_size * v + v  # the GPT's linear head is wte (tied)
    if config.arch == "gpt":
        bias = int(config.bias)
        per_block = 12 * c * c + 2 * c + bias * 11 * c  # attention 4 C², MLP 8 C², two LayerNorms (+ biases)
        per_block += v * c if config.value_embeds else 0
        return (v + config.block_size) * c + config.n_layer * per_block + c * (1 + bias) + output
    h, gates = config.hidden_size, {"lstm": 4, "gru": 3, "rnn": 1}[config.arch]
    layers = sum(gates * h * ((c if i == 0 else h) + h + 2) for i in range(config.n_layer))
    return v * c + layers + output


__all__ = ["ARCHS", "GPT_SWITCHES", "HEADS", "MLPS", "PRESETS", "LanguageModel", "ModelConfig", "State",
           "build_model", "config_parameters", "count_parameters", "estimated_cutoffs", "preset_config",
           "resolve_head"]  # fmt: skip
