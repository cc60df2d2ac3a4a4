"""One config and one interface for every architecture.

Every model is called as ``logits, state = model(idx, state)``: ``idx`` is (batch, time) ids, ``state`` is None
to start fresh or what the previous call returned. That single contract gives training (state None, whole
windows), scoring (state carried across chunks) and fast incremental sampling (one new character per call).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from torch import nn

from charlm.models.base import LanguageModel, State

ARCHS = ("gpt", "lstm", "gru", "rnn")
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
        if problems:
            raise ValueError("; ".join(problems))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**obj)


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


def preset_config(arch: str, size: str, vocab_size: int, **overrides) -> ModelConfig:
    if arch not in PRESETS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {arch!r}")
    if size not in PRESETS[arch]:
        raise ValueError(f"size must be one of {', '.join(PRESETS[arch])}, not {size!r}")
    settings = {**PRESETS[arch][size], **{k: v for k, v in overrides.items() if v is not None}}
    return ModelConfig(arch=arch, vocab_size=vocab_size, **settings)


def build_model(config: ModelConfig) -> LanguageModel:
    if config.arch == "gpt":
        from charlm.models.gpt import GPT

        return GPT(config)
    from charlm.models.recurrent import RecurrentLM

    return RecurrentLM(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def config_parameters(config: ModelConfig) -> int:
    """Parameters a config would have, without building anything: the size check that must come before building
    what an untrusted user asked for (tests check it against ``count_parameters(build_model(config))``)."""
    v, c = config.vocab_size, config.n_embd
    if config.arch == "gpt":
        bias = int(config.bias)
        per_block = 12 * c * c + 2 * c + bias * 11 * c  # attention 4 C², MLP 8 C², two LayerNorms (+ biases)
        return (v + config.block_size) * c + config.n_layer * per_block + c * (1 + bias)  # lm_head is wte (tied)
    h, gates = config.hidden_size, {"lstm": 4, "gru": 3, "rnn": 1}[config.arch]
    layers = sum(gates * h * ((c if i == 0 else h) + h + 2) for i in range(config.n_layer))
    return v * c + layers + h * v + v


__all__ = ["ARCHS", "PRESETS", "LanguageModel", "ModelConfig", "State", "build_model", "config_parameters",
           "count_parameters", "preset_config"]  # fmt: skip
