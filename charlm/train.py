"""The trainer: an iterator of progress events, so the CLI can draw a tqdm bar and the app a live plot.

    for event in train(corpus, model_config, TrainConfig(max_steps=2000), "runs/demo"):
        ...

AdamW with linear warm-up then cosine decay, gradient clipping, periodic validation (nats/char, bits/char,
perplexity). The output folder holds ``best/`` (lowest validation loss) and ``last/`` (with optimizer and RNG
state, for an exact resume). A stop request saves and returns normally; a non-finite loss saves the last good
weights and raises ``TrainingError``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from charlm import __version__, distributed
from charlm.checkpoint import flatten_optimizer, load_checkpoint, save_checkpoint, unflatten_optimizer
from charlm.data import Corpus, check_trainable, get_batch
from charlm.device import autocast, pick_device, pick_precision
from charlm.errors import CheckpointError, TrainingError
from charlm.models import ModelConfig, build_model, count_parameters
from charlm.score import score_ids

# Peak learning rates per architecture, chosen by measurement on tinyshakespeare (docs/benchmarks.md): at these
# sizes, with warm-up, clipping and cosine decay, the recurrent nets learn fastest at rates far above the usual 2e-3.
DEFAULT_LR = {"gpt": 3e-3, "lstm": 1.5e-2, "gru": 1.5e-2, "rnn": 2e-3}


@dataclass
class TrainConfig:
    batch_size: int = 32
    max_steps: int | None = 2000
    time_budget: float | None = None  # seconds of wall-clock; the schedule follows whichever ends first
    lr: float = 2e-3
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_chars: int | None = 200_000  # cap on validation characters per periodic evaluation (None: all)
    val_fraction: float = 0.1
    seed: int = 1337
    device: str = "auto"
    precision: str = "auto"  # "fp32", "bf16" autocast, or "auto" (bf16 where measured to pay; charlm.device)
    sample_chars: int = 0  # a short sample at each evaluation (for the app)
    sample_prompt: str = "\n"
    compile: bool = False  # torch.compile the training forward: pays only on long runs (first compile 20-45 s)

    def __post_init__(self) -> None:
        if self.max_steps is None and self.time_budget is None:
            raise TrainingError("give a step count or a time budget (or both)")
        if self.max_steps is not None and self.max_steps < 1:
            raise TrainingError(f"max steps must be at least 1, not {self.max_steps}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise TrainingError(f"time budget must be positive, not {self.time_budget}")
        if self.batch_size < 1 or self.eval_interval < 1:
            raise TrainingError("batch size and evaluation interval must be at least 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError(f"learning rate must be a positive number, not {self.lr}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise TrainingError(f"the learning-rate floor must be between 0 and 1 of the peak, not {self.min_lr_ratio}")
        if not self.weight_decay >= 0:
            raise TrainingError(f"weight decay must be 0 or more, not {self.weight_decay}")
        if self.precision not in ("fp32", "bf16", "auto"):
            raise TrainingError(f"precision must be fp32, bf16 or auto, not {self.precision!r}")


@dataclass
class TrainEvent:
    """One thing that happened. ``kind``: step, eval, saved, stopped, done."""

    kind: str
    step: int
    max_steps: int | None = None
    loss: float | None = None  # training loss of this step (nats/char)
    lr: float | None = None
    tokens_per_sec: float | None = None
    elapsed: float = 0.0
    eta: float | None = None  # seconds left, by steps or by time budget
    progress: float = 0.0  # 0..1
    val_loss: float | None = None
    val_bpc: float | None = None
    val_ppl: float | None = None
    is_best: bool = False
    sample: str | None = None
    path: str | None = None
    summary: dict = field(default_factory=dict)


def lr_at(cfg: TrainConfig, step: int, progress: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    min_lr = cfg.lr * cfg.min_lr_ratio
    return min_lr + 0.5 * (cfg.lr - min_lr) * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _progress(cfg: TrainConfig, step: int, elapsed: float) -> float:
    p = 0.0
    if cfg.max_steps:
        p = step / cfg.max_steps
    if cfg.time_budget:
        p = max(p, elapsed / cfg.time_budget)
    return min(1.0, p)


def _make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    # Decay matrices only: decaying biases, norms and embeddings' scale hurts more than it regularises.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel updates all parameters in one pass (measured 1.03-1.9x faster steps, docs/benchmarks.md).
    try:
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99), fused=True)
    except (RuntimeError, TypeError):  # a device or dtype without the fused kernel
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99), foreach=True)


def _sample(model, vocab, prompt: str, n: int, seed: int) -> str:
    from charlm.sample import sample_ids

    return vocab.decode(sample_ids(model, vocab, prompt, max_new_chars=n, temperature=0.8, seed=seed))


def train(
    corpus: Corpus,
    model_config: ModelConfig | None,
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
    name: str | None = None,
) -> Iterator[TrainEvent]:
    """Train and yield events; ``should_stop()`` is polled every step (the app's Stop button, Ctrl-C)."""
    out_dir = Path(out_dir)
    device = pick_device(cfg.device)
    dinfo = distributed.setup(device)
    device = distributed.rank_device(device, dinfo)
    trainer_state: dict = {}
    if resume:
        try:
            loaded = load_checkpoint(out_dir / "last", device=device, with_optimizer=True)
        except CheckpointError as exc:
            raise TrainingError(f"cannot resume from {out_dir}: {exc}") from None
        trainer_state = loaded.meta["_trainer_state"]
        corpus_meta = loaded.meta.get("training", {}).get("corpus", {})
        if corpus_meta.get("sha256") and corpus_meta["sha256"] != corpus.sha256:
            raise TrainingError(
                f"{out_dir} was trained on a different text ({corpus_meta.get('name')}); resume needs the same file"
            )
        if loaded.vocab.chars != corpus.vocab.chars:
            raise TrainingError("the text's vocabulary differs from the checkpoint's; resume needs the same text")
        saved_cfg = dict(trainer_state["train_config"])
        for key in (
            "max_steps",
            "time_budget",
            "eval_interval",
            "sample_chars",
            "device",
        ):  # may change on resume
            saved_cfg[key] = getattr(cfg, key)
        cfg = TrainConfig(**{f.name: saved_cfg[f.name] for f in fields(TrainConfig) if f.name in saved_cfg})
        model, model_config = loaded.model, loaded.config
    else:
        if model_config is None:
            raise TrainingError("a model configuration is needed to start training")
        if model_config.vocab_size != corpus.vocab.size:
            raise TrainingError(
                f"model vocab_size {model_config.vocab_size} != the text's {corpus.vocab.size} characters + unknown"
            )
        torch.manual_seed(cfg.seed)
        model = build_model(model_config).to(device)

    width = model_config.hidden_size if model_config.arch != "gpt" else model_config.n_embd
    precision = pick_precision(cfg.precision, device, width)
    train_ids, val_ids = corpus.split(cfg.val_fraction)
    block = model_config.block_size
    check_trainable(train_ids, val_ids, block)
    train_ids = distributed.shard(train_ids, dinfo, block + 1)  # each rank draws from its own part of the text
    model.train()
    optimizer = _make_optimizer(model, cfg)
    # DDP averages gradients across processes in backward; checkpoints keep the plain module.
    forward = torch.nn.parallel.DistributedDataParallel(model) if dinfo.enabled else model
    if cfg.compile:
        forward = torch.compile(forward)
    batch_gen = torch.Generator().manual_seed(cfg.seed + dinfo.rank)
    step, elapsed_before, best_val = 0, 0.0, math.inf
    history: list[dict] = []
    if resume:
        optimizer.load_state_dict(unflatten_optimizer(loaded.meta["_optimizer"], trainer_state["optimizer"]))
        batch_gen.set_state(loaded.meta["_optimizer"]["rng.batch"])
        torch.set_rng_state(loaded.meta["_optimizer"]["rng.torch"])
        step = trainer_state["step"]
        elapsed_before = trainer_state["elapsed"]
        best_val = trainer_state.get("best_val", math.inf)
        history = trainer_state.get("history", [])

    vocab = corpus.vocab
    n_params = count_parameters(model)
    tokens_per_step = cfg.batch_size * block * dinfo.world_size
    t0 = time.perf_counter() - elapsed_before
    last_val: dict | None = None
    last_eval_step = -1

    def summary(reason: str) -> dict:
        return {
            "steps": step,
            "reason": reason,
            "elapsed_sec": round(time.perf_counter() - t0, 2),
            "best_val_loss": best_val if math.isfinite(best_val) else None,
            "best_val_bpc": best_val / math.log(2) if math.isfinite(best_val) else None,
            "last_val": last_val,
            "corpus": corpus.to_json(),
            "n_params": n_params,
            "train_config": asdict(cfg),
            "precision": precision,
            "world_size": dinfo.world_size,
            "device": str(device),
            "charlm_version": __version__,
        }

    def save(kind: str, reason: str) -> TrainEvent:
        if not dinfo.is_main:  # rank 0 alone writes
            return TrainEvent("saved", step, cfg.max_steps)
        training = summary(reason)
        if kind == "last":
            tensors, rest = flatten_optimizer(optimizer.state_dict())
            tensors["rng.batch"] = batch_gen.get_state()
            tensors["rng.torch"] = torch.get_rng_state()
            state = {
                "step": step,
                "elapsed": time.perf_counter() - t0,
                "best_val": best_val if math.isfinite(best_val) else None,
                "train_config": asdict(cfg),
                "optimizer": rest,
                "history": history[-5000:],
            }
            path = save_checkpoint(out_dir / "last", model, vocab, model_config, training, tensors, state, name)
        else:
            path = save_checkpoint(out_dir / "best", model, vocab, model_config, training, name=name)
        return TrainEvent("saved", step, cfg.max_steps, path=str(path), elapsed=training["elapsed_sec"])

    def evaluate() -> TrainEvent:
        nonlocal best_val, last_val, last_eval_step
        last_eval_step = step
        res = score_ids(model, val_ids, max_chars=cfg.eval_chars, precision=precision)
        last_val = {k: res[k] for k in ("loss", "bpc", "perplexity", "n_chars")}
        is_best = res["loss"] < best_val
        if is_best:
            best_val = res["loss"]
        sample = None
        if cfg.sample_chars:
            sample = _sample(model, vocab, cfg.sample_prompt, cfg.sample_chars, seed=step)
            model.train()
        elapsed = time.perf_counter() - t0
        history.append({"step": step, "val_loss": res["loss"]})
        return TrainEvent(
            "eval",
            step,
            cfg.max_steps,
            elapsed=elapsed,
            progress=_progress(cfg, step, elapsed),
            val_loss=res["loss"],
            val_bpc=res["bpc"],
            val_ppl=res["perplexity"],
            is_best=is_best,
            sample=sample,
        )

    has_val = len(val_ids) >= 2 and dinfo.is_main
    rate = None
    reason = "done"
    while True:
        elapsed = time.perf_counter() - t0
        if should_stop is not None and should_stop():
            reason = "stopped"
        elif cfg.max_steps is not None and step >= cfg.max_steps:
            reason = "done"
        elif cfg.time_budget is not None and elapsed >= cfg.time_budget:
            reason = "time budget"
        else:
            reason = ""
        if dinfo.enabled:  # all ranks must leave at the same step
            _, any_stop, _ = distributed.reduce_step(0.0, bool(reason), dinfo, device)
            reason = reason or ("stopped" if any_stop else "")
        if reason:
            break
        progress = _progress(cfg, step, elapsed)
        lr = lr_at(cfg, step, progress)
        for group in optimizer.param_groups:
            group["lr"] = lr
        t_step = time.perf_counter()
        x, y = get_batch(train_ids, cfg.batch_size, block, batch_gen, device=str(device))
        with autocast(device, precision):
            logits, _ = forward(x)
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))
        loss_value, _, nonfinite = distributed.reduce_step(loss.item(), False, dinfo, device)
        if nonfinite:
            save("last", "non-finite loss")  # the weights are still those of the last good step
            distributed.cleanup(dinfo)
            raise TrainingError(
                f"the loss became {loss_value} at step {step + 1}; training stopped and the last good weights "
                f"were saved to {out_dir / 'last'}. Try a lower learning rate (now {cfg.lr:g})"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip, foreach=True)
        optimizer.step()
        step += 1
        dt = time.perf_counter() - t_step
        rate = tokens_per_step / dt if rate is None else 0.9 * rate + 0.1 * tokens_per_step / dt
        elapsed = time.perf_counter() - t0
        progress = _progress(cfg, step, elapsed)
        eta = elapsed * (1 - progress) / progress if progress > 0 else None
        if step % 10 == 0 or step == 1:
            history.append({"step": step, "train_loss": loss_value})
        yield TrainEvent(
            "step",
            step,
            cfg.max_steps,
            loss=loss_value,
            lr=lr,
            tokens_per_sec=rate,
            elapsed=elapsed,
            eta=eta,
            progress=progress,
        )
        if step % cfg.eval_interval == 0:
            if has_val:
                ev = evaluate()
                yield ev
                if ev.is_best:
                    yield save("best", "best validation")
            yield save("last", "periodic")

    # Final: make sure the last step was evaluated, then save both checkpoints.
    if has_val and last_eval_step != step:
        ev = evaluate()
        yield ev
        if ev.is_best:
            yield save("best", "best validation")
    if not has_val or not (out_dir / "best").exists():
        yield save("best", "no validation split" if not has_val else reason)
    yield save("last", reason)
    distributed.cleanup(dinfo)
    final = summary(reason)
    final["tokens_per_sec"] = rate
    final["checkpoint"] = str(out_dir / "best")
    yield TrainEvent(
        "stopped" if reason == "stopped" else "done",
        step,
        cfg.max_steps,
        elapsed=final["elapsed_sec"],
        progress=1.0 if reason != "stopped" else _progress(cfg, step, final["elapsed_sec"]),
        tokens_per_sec=rate,
        summary=final,
        val_loss=last_val["loss"] if last_val else None,
        val_bpc=last_val["bpc"] if last_val else None,
    )


def run_to_end(events: Iterator[TrainEvent]) -> TrainEvent:
    """Drain an event iterator and return the final event (handy in tests and scripts)."""
    final = None
    for event in events:
        final = event
    assert final is not None, "the trainer yielded nothing"
    return final


__all__ = ["TrainConfig", "TrainEvent", "train", "run_to_end", "lr_at"]
