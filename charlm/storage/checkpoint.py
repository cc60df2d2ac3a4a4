"""Checkpoints are folders: ``model.safetensors`` + ``config.json``; resume state in ``optimizer.safetensors``.

Never pickle: safetensors holds only tensors and JSON only data, so opening a stranger's checkpoint cannot run
code. Every save writes a complete new folder next to the old one and swaps it in with renames, so a crash mid-save
leaves the previous checkpoint intact. Loading validates the config and every tensor's name and shape and turns
any problem into a ``CheckpointError`` that says what is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from charlm import __version__
from charlm.errors import CheckpointError, DataError
from charlm.models import LanguageModel, ModelConfig, build_model, config_parameters, count_parameters
from charlm.safejson import loads as bounded_json
from charlm.vocab import CharVocab

FORMAT = "charlm-checkpoint"
FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
OPTIM_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"
MAX_CONFIG_BYTES = 16 * 1024 * 1024
# A safetensors file starts with 8 bytes (the header's length) and a JSON header naming every tensor: ~100 bytes a
# tensor, so a few KB for any charlm model. A longer one is refused from those 8 bytes, before it is parsed (a 46 MB
# header took 37 s and 1 GB to parse).
MAX_SAFETENSORS_HEADER = 1024 * 1024
TRAIN_WEIGHTS = "train_weights."  # resume-state tensors: the raw weights under an average (ResumeState)


@dataclass
class ResumeState:
    """Everything beyond the weights that an exact resume needs, in named fields.

    On disk: the optimizer's tensors and both random generators in ``optimizer.safetensors``, the rest in
    ``trainer_state.json`` (JSON, so a person can read how far a run got).
    """

    step: int
    elapsed: float  # seconds of training so far (the time budget counts from the first run)
    best_val: float | None
    train_config: dict
    optimizer: dict  # torch optimizer state_dict
    rng_batch: torch.Tensor  # the batch sampler's generator state
    rng_torch: torch.Tensor  # torch's global generator (dropout)
    history: list[dict] = field(default_factory=list)  # {"step", "train_loss" | "val_loss"}, for plots
    # Weight averaging (the trainer's ``average_last``): once it has begun, the checkpoint's weights are the average
    # and these are the raw weights the optimizer steps (by parameter name); how many steps the average holds.
    train_weights: dict[str, torch.Tensor] | None = None
    average_count: int = 0

    def tensors(self) -> dict[str, torch.Tensor]:
        tensors, _ = _flatten_optimizer(self.optimizer)
        weights = {f"{TRAIN_WEIGHTS}{k}": v.detach().cpu().contiguous() for k, v in (self.train_weights or {}).items()}
        return tensors | weights | {"rng.batch": self.rng_batch, "rng.torch": self.rng_torch}

    def to_json(self) -> dict:
        _, rest = _flatten_optimizer(self.optimizer)
        obj = {"step": self.step, "elapsed": self.elapsed, "best_val": self.best_val,
               "train_config": self.train_config, "optimizer": rest, "history": self.history}  # fmt: skip
        if self.train_weights is not None:
            obj["average_count"] = self.average_count
        return obj

    @classmethod
    def from_files(cls, tensors: dict[str, torch.Tensor], obj: dict) -> ResumeState:
        weights = {k[len(TRAIN_WEIGHTS) :]: v for k, v in tensors.items() if k.startswith(TRAIN_WEIGHTS)}
        return cls(step=int(obj["step"]), elapsed=float(obj["elapsed"]), best_val=obj.get("best_val"),
                   train_config=dict(obj["train_config"]), optimizer=_unflatten_optimizer(tensors, obj["optimizer"]),
                   rng_batch=tensors["rng.batch"], rng_torch=tensors["rng.torch"],
                   history=list(obj.get("history", [])), train_weights=weights or None,
                   average_count=int(obj.get("average_count", 0)))  # fmt: skip


@dataclass
class LoadedModel:
    """A model ready to sample or score, with everything needed to interpret its ids."""

    model: LanguageModel
    vocab: CharVocab
    config: ModelConfig
    meta: dict = field(default_factory=dict)  # the whole config.json (training summary, corpus, version)
    path: Path | None = None
    resume: ResumeState | None = None  # only when loaded ``with_resume``

    @property
    def n_params(self) -> int:
        return count_parameters(self.model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def name(self) -> str:
        return self.meta.get("name") or (self.path.name if self.path else "model")


def _unique_state(model: LanguageModel) -> dict[str, torch.Tensor]:
    """State dict without tied aliases (safetensors refuses tensors that share memory)."""
    tied = set(model.tied_keys)
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if k not in tied}


def _atomic_dir_write(target: Path, write) -> None:
    """Write a folder's files into a sibling temp folder, then swap it in (rename is atomic on one disk)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        write(tmp)
        # mkdtemp and safetensors create private files; a checkpoint is meant to be shared (and served)
        os.chmod(tmp, 0o755)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def save_checkpoint(
    path: str | os.PathLike,
    model: LanguageModel,
    vocab: CharVocab,
    config: ModelConfig,
    training: dict | None = None,
    resume: ResumeState | None = None,
    name: str | None = None,
) -> Path:
    """Save atomically; ``resume`` (optimizer, RNG, step) makes the folder resumable."""
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "charlm_version": __version__,
        "name": name,
        "model": config.to_json(),
        "n_params": count_parameters(model),
        "vocab": vocab.to_json(),
        "training": training or {},
    }

    def write(folder: Path) -> None:
        save_file(_unique_state(model), str(folder / MODEL_FILE), metadata={"format": FORMAT})
        _write_json(folder / CONFIG_FILE, meta)
        if resume is not None:
            save_file(resume.tensors(), str(folder / OPTIM_FILE), metadata={"format": FORMAT})
            _write_json(folder / STATE_FILE, resume.to_json())

    _atomic_dir_write(Path(path), write)
    return Path(path)


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """Accept a checkpoint folder, a training output folder (uses its ``best``), or the config/model file."""
    p = Path(path)
    if p.is_file() and p.name in (CONFIG_FILE, MODEL_FILE):
        p = p.parent
    if not p.exists():
        raise CheckpointError(f"no checkpoint at {p.name or p}")
    if (p / CONFIG_FILE).is_file():
        return p
    for sub in ("best", "last"):
        if (p / sub / CONFIG_FILE).is_file():
            return p / sub
    raise CheckpointError(f"{p.name} is not a charlm checkpoint (no {CONFIG_FILE})")


def _short(path: Path) -> str:
    """How errors name a file: its folder and name, never the server's absolute path."""
    folder = path.parent.name
    return f"{folder}/{path.name}" if folder and not folder.startswith(".") else path.name  # .upload-*: internal


def read_meta(folder: Path) -> dict:
    cfg = folder / CONFIG_FILE
    if cfg.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{_short(cfg)} is too large to be a charlm config")
    try:
        meta = bounded_json(cfg.read_text(encoding="utf-8"), _short(cfg), MAX_CONFIG_BYTES)
    except DataError as exc:  # too big or too deeply nested
        raise CheckpointError(str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{_short(cfg)} is not valid JSON ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f'{_short(cfg)} is not a charlm checkpoint config (missing "format": "{FORMAT}")')
    if not isinstance(meta.get("format_version", 0), int) or meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{_short(cfg)} was written by a newer charlm ({meta.get('charlm_version')}); upgrade charlm"
        )
    return meta


_NUMBERS = ("steps", "elapsed_sec", "best_val_loss", "best_val_bpc", "n_params", "world_size")  # training metadata
_TEXTS = ("reason", "precision", "device", "charlm_version")


def _number(value: object) -> bool:
    """A number or nothing (NaN counts: a run whose validation text had no known character writes one)."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def check_training_meta(meta: dict) -> None:
    """Refuse a checkpoint whose metadata would break what reads it later (the model card, resuming): every known
    field of ``training`` and ``name`` with the type charlm writes. Uploads are all or nothing (issue 19)."""
    where = CONFIG_FILE
    name = meta.get("name")
    if name is not None and not isinstance(name, str):
        raise CheckpointError(f"{where}: the model's name must be text")
    tr = meta.get("training", {})
    if tr is None:
        return
    if not isinstance(tr, dict):
        raise CheckpointError(f"{where}: the training metadata must be an object")
    for key in _NUMBERS:
        if not _number(tr.get(key)):
            raise CheckpointError(f"{where}: training metadata {key} must be a number, not {str(tr[key])[:40]!r}")
    for key in _TEXTS:
        if tr.get(key) is not None and not isinstance(tr[key], str):
            raise CheckpointError(f"{where}: training metadata {key} must be text")
    for key in ("corpus", "last_val", "train_config"):
        if tr.get(key) is not None and not isinstance(tr[key], dict):
            raise CheckpointError(f"{where}: training metadata {key} must be an object")
    corpus = tr.get("corpus") or {}
    if corpus.get("name") is not None and not isinstance(corpus["name"], str):
        raise CheckpointError(f"{where}: training metadata corpus name must be text")
    for key in ("chars",):
        if not _number(corpus.get(key)):
            raise CheckpointError(f"{where}: training metadata corpus {key} must be a number")
    for key, value in (tr.get("last_val") or {}).items():
        if not _number(value):
            raise CheckpointError(f"{where}: training metadata last_val {str(key)[:40]} must be a number")


def _read_config(
    folder: Path, meta: dict, max_params: int | None, max_char_mflop: float | None = None
) -> tuple[ModelConfig, CharVocab]:
    """The model config and vocabulary, with the size (and the cost of a generated character) checked before
    anything is built."""
    where = _short(folder / CONFIG_FILE)
    try:
        config = ModelConfig.from_json(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} has an invalid model: {exc}") from None
    if max_params is not None:
        n = config_parameters(config)  # on the meta device: no memory, however big the config says it is
        if n > max_params:
            raise CheckpointError(f"this model has {n:,} parameters; this server accepts at most {max_params:,}")
    if max_char_mflop is not None:
        from charlm.budget import check_char_cost  # budget imports the models, as this module does

        check_char_cost(config, max_char_mflop)
    try:
        vocab = CharVocab.from_json(meta["vocab"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} has an invalid vocabulary: {exc}") from None
    if vocab.size != config.vocab_size:
        raise CheckpointError(f"{where}: the vocabulary has {vocab.size} ids but the model expects {config.vocab_size}")
    return config, vocab


def check_safetensors_header(path: Path, where: str) -> None:
    """Refuse a safetensors file whose header is longer than ``MAX_SAFETENSORS_HEADER``, from its first 8 bytes."""
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise CheckpointError(f"{where} is too short to be a safetensors file")
    size, total = int.from_bytes(head, "little"), path.stat().st_size
    if size > total - 8:  # a truncated file, or another format (a pickle's first bytes read as a huge length)
        raise CheckpointError(f"{where} is corrupt or not a safetensors file: it announces a {size:,}-byte header "
                              f"but holds {total:,} bytes")  # fmt: skip
    if size > MAX_SAFETENSORS_HEADER:
        raise CheckpointError(f"{where} has a {size:,}-byte header; a charlm checkpoint's is at most "
                              f"{MAX_SAFETENSORS_HEADER:,} bytes")  # fmt: skip


def _read_weights(folder: Path, model: LanguageModel) -> None:
    """Load ``model.safetensors`` into ``model`` after checking every tensor's name, shape and values."""
    model_file = folder / MODEL_FILE
    where = _short(model_file)
    if not model_file.is_file():
        raise CheckpointError(f"{folder.name} has no {MODEL_FILE}")
    check_safetensors_header(model_file, where)
    try:
        tensors = load_file(str(model_file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{where} is corrupt or not a safetensors file ({exc.__class__.__name__})") from None
    expected = _unique_state(model)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{where} does not match its config: missing {missing[:3]}, unexpected {extra[:3]}")
    for k, v in expected.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{where}: tensor {k} has shape {tuple(tensors[k].shape)}, the config implies {tuple(v.shape)}"
            )
        if not torch.isfinite(tensors[k].float()).all():
            raise CheckpointError(f"{where}: tensor {k} holds NaN or infinite values")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()}, strict=False)


def load_checkpoint(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    with_resume: bool = False,
    max_params: int | None = None,
    max_char_mflop: float | None = None,
) -> LoadedModel:
    """Load and validate; returns the model in eval mode. ``with_resume`` also reads the resume state;
    ``max_params`` refuses a bigger model and ``max_char_mflop`` one whose generated character would cost more
    (``charlm.budget.char_cost``), both before building it (for untrusted uploads)."""
    folder = resolve_checkpoint_dir(path)
    meta = read_meta(folder)
    check_training_meta(meta)
    config, vocab = _read_config(folder, meta, max_params, max_char_mflop)
    model = build_model(config)
    _read_weights(folder, model)
    model.to(device).eval()
    resume = read_resume(folder) if with_resume else None
    return LoadedModel(model=model, vocab=vocab, config=config, meta=meta, path=folder, resume=resume)


def read_resume(folder: Path) -> ResumeState:
    """The resume state saved beside a checkpoint's weights, with a clear error when it is missing or broken."""
    optim_file = folder / OPTIM_FILE
    if not optim_file.is_file():
        raise CheckpointError(f"{folder.name} has no optimizer state ({OPTIM_FILE}); it cannot be resumed")
    try:
        tensors = load_file(str(optim_file))
        obj = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        return ResumeState.from_files(tensors, obj)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder.name}: resume state is corrupt ({exc.__class__.__name__})") from None


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """torch optimizer state_dict -> (flat tensors for safetensors, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for idx, slots in state["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"state.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if not name.startswith("state."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    for idx, slots in rest.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(slots)
    return {"state": state, "param_groups": rest["param_groups"]}
