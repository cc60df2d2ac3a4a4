"""The trainer: an iterator of progress events, so the CLI can draw a tqdm bar and the app a live plot.

    for event in train(corpus, model_config, TrainConfig(max_steps=2000), "runs/demo"):
        ...

An optimizer from ``charlm.optim`` (SGD, momentum, Adam, AdamW, the default, or Muon) with linear warm-up then a
cosine decay (or ``schedule="wsd"``: constant, then a linear warm-down over the last ``warmdown`` share of the run),
gradient clipping, periodic validation (nats/char, bits/char, perplexity). With ``average_last`` the model that is
evaluated and saved is the running average of the weights over the last share of the run (the raw weights the
optimizer keeps stepping are saved in ``last/``'s resume state). The output folder holds
``best/`` (lowest validation loss) and ``last/`` (with optimizer and RNG state, for an exact resume). A stop
request saves and returns normally; a non-finite loss saves the last good weights and raises ``TrainingError``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from charlm import __version__, distributed
from charlm.data import Corpus, check_trainable, get_batch
from charlm.device import autocast, pick_device, pick_precision
from charlm.errors import CheckpointError, TrainingError
from charlm.models import ModelConfig, build_model, count_parameters, resolve_head
from charlm.models.output import count_ids, init_unigram_bias_, use_adaptive
from charlm.optim import DEFAULT_LR as OPTIMIZER_LR
from charlm.optim import DEFAULT_WEIGHT_DECAY, OPTIMIZERS, make_optimizer
from charlm.score import score_ids
from charlm.storage.checkpoint import ResumeState, load_checkpoint, save_checkpoint

# AdamW's peak learning rates per architecture, chosen by measurement on tinyshakespeare (docs/benchmarks.md): at
# these sizes, with warm-up, clipping and cosine decay, the recurrent nets learn fastest at rates far above the usual
# 2e-3. Every optimizer's rates: ``charlm.optim.default_lr``.
DEFAULT_LR = OPTIMIZER_LR["adamw"]


SCHEDULES = ("cosine", "wsd")


@dataclass
class TrainConfig:
    batch_size: int = 32
    max_steps: int | None = 2000
    time_budget: float | None = None  # seconds of wall-clock; the schedule follows whichever ends first
    lr: float = 2e-3
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 50
    weight_decay: float | None = None  # None: the optimizer's default (charlm.optim.DEFAULT_WEIGHT_DECAY)
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_seconds: float | None = None  # also evaluate every this many seconds (comparisons over time use it)
    eval_chars: int | None = 200_000  # cap on validation characters per periodic evaluation (None: all)
    val_fraction: float = 0.1
    seed: int = 1337
    device: str = "auto"
    precision: str = "auto"  # "fp32", "bf16" autocast, or "auto" (bf16 where measured to pay; charlm.device)
    sample_chars: int = 0  # a short sample at each evaluation (for the app)
    sample_prompt: str = "\n"
    compile: bool = False  # torch.compile the training forward: pays only on long runs (first compile 20-45 s)
    save_every: float | None = 30.0  # seconds of training between saves of last/: a crash loses at most this much
    optimizer: str = "adamw"  # sgd, momentum, adam, adamw or muon (charlm.optim)
    schedule: str = "cosine"  # after warm-up: "cosine" to the floor, or "wsd" (constant, then linear to the floor)
    warmdown: float = 0.2  # wsd: the share of the run (steps or time budget) spent decaying linearly to the floor
    average_last: float = 0.0  # evaluate and save the average of the weights over this last share of the run; 0 off

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.weight_decay is None:
            self.weight_decay = DEFAULT_WEIGHT_DECAY[self.optimizer]
        if self.eval_seconds is not None and not self.eval_seconds > 0:
            raise TrainingError(f"evaluation every N seconds needs N > 0, not {self.eval_seconds}")
        if self.max_steps is None and self.time_budget is None:
            raise TrainingError("give a step count or a time budget (or both)")
        if self.max_steps is not None and self.max_steps < 1:
            raise TrainingError(f"max steps must be at least 1, not {self.max_steps}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise TrainingError(f"time budget must be positive, not {self.time_budget}")
        if self.save_every is not None and not self.save_every > 0:
            raise TrainingError(f"save interval must be positive seconds, not {self.save_every}")
        if self.batch_size < 1 or self.eval_interval < 1:
            raise TrainingError("batch size and evaluation interval must be at least 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError(f"learning rate must be a positive number, not {self.lr}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise TrainingError(f"the learning-rate floor must be between 0 and 1 of the peak, not {self.min_lr_ratio}")
        if not self.weight_decay >= 0:
            raise TrainingError(f"weight decay must be 0 or more, not {self.weight_decay}")
        if self.schedule not in SCHEDULES:
            raise TrainingError(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if not 0 < self.warmdown <= 1:
            raise TrainingError(f"the warm-down must be a share of the run above 0 and at most 1, not {self.warmdown}")
        if not 0 <= self.average_last <= 1:
            raise TrainingError(f"weight averaging takes a share of the run from 0 (off) to 1, not {self.average_last}")
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
    """Linear warm-up, then down to ``lr * min_lr_ratio`` as ``progress`` (by steps or time) goes 0 -> 1: a cosine,
    or (``wsd``: warm-up, stable, decay) the peak until the last ``warmdown`` share, then a straight line. The
    stable phase trains at the full rate for longer; the short decay then settles the weights into the valley the
    high rate was bouncing across (Hägele et al., 2024; modded-nanogpt's schedule). Both follow ``progress``, so a
    time budget's warm-down starts at its last ``warmdown`` share of seconds."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    min_lr, p = cfg.lr * cfg.min_lr_ratio, min(1.0, progress)
    if cfg.schedule == "wsd":
        return cfg.lr if p <= 1 - cfg.warmdown else min_lr + (cfg.lr - min_lr) * (1 - p) / cfg.warmdown
    return min_lr + 0.5 * (cfg.lr - min_lr) * (1.0 + math.cos(math.pi * p))


# Settings a resumed run may change; everything else comes from the run being resumed.
RESUMABLE_CHANGES = ("max_steps", "time_budget", "eval_interval", "sample_chars", "device", "save_every")


class Trainer:
    """One training run: its model, optimizer, data and counters, with one method per phase.

    ``run()`` is the loop; ``train()`` below is the convenient iterator over it.
    """

    def __init__(
        self,
        corpus: Corpus,
        model_config: ModelConfig | None,
        cfg: TrainConfig,
        out_dir: str | Path,
        resume: bool = False,
        should_stop: Callable[[], bool] | None = None,
        name: str | None = None,
    ) -> None:
        self.corpus, self.out_dir, self.should_stop, self.name = corpus, Path(out_dir), should_stop, name
        device = pick_device(cfg.device)
        self.dist = distributed.setup(device)
        self.device = distributed.rank_device(device, self.dist)
        state = self._load_resume(cfg) if resume else None
        if state is not None:
            cfg = state_config(state, cfg)
        train_ids, self.val_ids = corpus.split(cfg.val_fraction)
        if state is None:
            self.model, self.model_config = self._new_model(model_config, cfg, train_ids)
        self.cfg = cfg
        mc = self.model_config
        self.precision = pick_precision(cfg.precision, self.device, mc.width)
        check_trainable(train_ids, self.val_ids, mc.block_size)
        self.train_ids = distributed.shard(train_ids, self.dist, mc.block_size + 1)  # each rank its own part
        self.model.train()
        # Weight averaging (``average_last``): the running mean of the weights after each step of the run's last
        # share, one tensor per parameter (None until the window opens). A resumed run's checkpoint holds the
        # average as its weights and the optimizer's raw weights in its resume state: put those back to train on.
        self.params = [p for _, p in self.model.named_parameters()]
        self.avg: list[torch.Tensor] | None = None
        self.avg_count = 0
        if state is not None and state.train_weights is not None:
            named = dict(self.model.named_parameters())
            if set(named) != set(state.train_weights):
                raise TrainingError(f"cannot resume from {self.out_dir.name}: its raw weights do not match the model")
            with torch.no_grad():
                self.avg = [p.detach().clone() for p in self.params]
                for name, p in named.items():
                    p.copy_(state.train_weights[name].to(p.device))
            self.avg_count = state.average_count
        self.optimizer = make_optimizer(self.model, cfg.lr, cfg.weight_decay, cfg.optimizer)
        # DDP averages gradients across processes in backward; checkpoints keep the plain module. The adaptive
        # head computes only the clusters that hold a batch's targets, so some of its weights may get no gradient.
        self.forward = self.model
        if self.dist.enabled:
            unused = mc.head == "adaptive"
            self.forward = torch.nn.parallel.DistributedDataParallel(self.model, find_unused_parameters=unused)
        if cfg.compile:
            self.forward = torch.compile(self.forward)
        self.batch_gen = torch.Generator().manual_seed(cfg.seed + self.dist.rank)
        self.step, self.best_val, self.history = 0, math.inf, []
        elapsed_before = 0.0
        if state is not None:
            self.optimizer.load_state_dict(state.optimizer)
            self.batch_gen.set_state(state.rng_batch)
            torch.set_rng_state(state.rng_torch)
            self.step, elapsed_before, self.history = state.step, state.elapsed, list(state.history)
            self.best_val = state.best_val if state.best_val is not None else math.inf
        self.t0 = time.perf_counter() - elapsed_before
        self.n_params = count_parameters(self.model)
        self.tokens_per_step = cfg.batch_size * mc.block_size * self.dist.world_size
        self.rate: float | None = None  # tokens/s, smoothed
        self.last_val: dict | None = None
        self.last_eval_step = -1
        self.last_eval_time = self.elapsed()
        self.has_val = len(self.val_ids) >= 2 and self.dist.is_main
        self.saved_at = self.elapsed()  # when last/ was last written (seconds of training)

    # --- set-up -----------------------------------------------------------------------------------------
    def _load_resume(self, cfg: TrainConfig) -> ResumeState:
        try:
            loaded = load_checkpoint(self.out_dir / "last", device=self.device, with_resume=True)
        except CheckpointError as exc:
            raise TrainingError(f"cannot resume from {self.out_dir.name}: {exc}") from None
        corpus_meta = loaded.meta.get("training", {}).get("corpus", {})
        if corpus_meta.get("sha256") and corpus_meta["sha256"] != self.corpus.sha256:
            raise TrainingError(
                f"{self.out_dir.name} was trained on a different text ({corpus_meta.get('name')}); "
                "resume needs the same file"
            )
        if loaded.vocab.chars != self.corpus.vocab.chars:
            raise TrainingError("the text's vocabulary differs from the checkpoint's; resume needs the same text")
        self.model, self.model_config = loaded.model, loaded.config
        return loaded.resume

    def _new_model(self, model_config: ModelConfig | None, cfg: TrainConfig, train_ids) -> tuple:
        """Build a fresh model: its output layer chosen from the training text (``resolve_head``: adaptive for a
        large vocabulary) and started at the text's unigram distribution where that pays (``unigram_start``)."""
        if model_config is None:
            raise TrainingError("a model configuration is needed to start training")
        if model_config.vocab_size != self.corpus.vocab.size:
            raise TrainingError(
                f"model vocab_size {model_config.vocab_size} != the text's {self.corpus.vocab.size} characters "
                "+ unknown"
            )
        counts = count_ids(train_ids, model_config.vocab_size)  # the whole training split: the same on every rank
        model_config = resolve_head(model_config, counts)
        torch.manual_seed(cfg.seed)
        model = build_model(model_config)
        if unigram_start(model_config):
            init_unigram_bias_(model.output_head, counts)
        return model.to(self.device), model_config

    # --- the loop -----------------------------------------------------------------------------------------
    def run(self) -> Iterator[TrainEvent]:
        """Step until a stop rule fires, evaluating and saving every ``eval_interval`` steps, then finish."""
        while not (reason := self.stop_reason()):
            yield self.train_step()
            if self.step % self.cfg.eval_interval == 0 or self.eval_time_due():
                yield from self.evaluate_and_save()
                yield self.save("last", "periodic")
            elif self.cfg.save_every and self.elapsed() - self.saved_at >= self.cfg.save_every:
                yield self.save("last", "periodic")
        # Final: make sure the last step was evaluated, then save both checkpoints.
        if self.last_eval_step != self.step:
            yield from self.evaluate_and_save()
        if not self.has_val or not (self.out_dir / "best").exists():
            yield self.save("best", "no validation split" if not self.has_val else reason)
        yield self.save("last", reason)
        distributed.cleanup(self.dist)
        yield self.final_event(reason)

    def stop_reason(self) -> str:
        """Why to stop now ("" to go on): a stop request, the step count or the time budget."""
        cfg, elapsed = self.cfg, self.elapsed()
        if self.should_stop is not None and self.should_stop():
            reason = "stopped"
        elif cfg.max_steps is not None and self.step >= cfg.max_steps:
            reason = "done"
        elif cfg.time_budget is not None and elapsed >= cfg.time_budget:
            reason = "time budget"
        else:
            reason = ""
        if self.dist.enabled:  # all ranks must leave at the same step
            _, any_stop, _ = distributed.reduce_step(0.0, bool(reason), self.dist, self.device)
            reason = reason or ("stopped" if any_stop else "")
        return reason

    def train_step(self) -> TrainEvent:
        """One optimizer step on a fresh random batch."""
        cfg = self.cfg
        progress = self.progress()
        lr = lr_at(cfg, self.step, progress)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        t_step = time.perf_counter()
        x, y = get_batch(self.train_ids, cfg.batch_size, self.model_config.block_size, self.batch_gen,
                         device=str(self.device))  # fmt: skip
        with autocast(self.device, self.precision):
            loss, _ = self.forward(x, targets=y)
        loss_value, _, nonfinite = distributed.reduce_step(loss.item(), False, self.dist, self.device)
        if nonfinite:
            self.save("last", "non-finite loss")  # the weights are still those of the last good step
            distributed.cleanup(self.dist)
            raise TrainingError(
                f"the loss became {loss_value} at step {self.step + 1}; training stopped and the last good weights "
                f"were saved. Try a lower learning rate (now {cfg.lr:g})"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip, foreach=True)
        self.optimizer.step()
        self.step += 1
        if cfg.average_last and self.progress() > 1 - cfg.average_last:
            self.accumulate_average()
        rate = self.tokens_per_step / (time.perf_counter() - t_step)
        self.rate = rate if self.rate is None else 0.9 * self.rate + 0.1 * rate
        if self.step % 10 == 0 or self.step == 1:
            self.history.append({"step": self.step, "train_loss": loss_value})
        elapsed, progress = self.elapsed(), self.progress()
        eta = elapsed * (1 - progress) / progress if progress > 0 else None
        return TrainEvent("step", self.step, cfg.max_steps, loss=loss_value, lr=lr, tokens_per_sec=self.rate,
                          elapsed=elapsed, eta=eta, progress=progress)  # fmt: skip

    def evaluate_and_save(self) -> Iterator[TrainEvent]:
        """Validate (rank 0), and keep the weights as ``best/`` when they are the best so far."""
        if not self.has_val:
            return
        ev = self.evaluate()
        yield ev
        if ev.is_best:
            yield self.save("best", "best validation")

    def eval_time_due(self) -> bool:
        """True when ``eval_seconds`` have passed since the last evaluation (or the start)."""
        return self.cfg.eval_seconds is not None and self.elapsed() - self.last_eval_time >= self.cfg.eval_seconds

    def evaluate(self) -> TrainEvent:
        cfg = self.cfg
        self.last_eval_step = self.step
        self.last_eval_time = self.elapsed()
        with self.averaged():
            res = score_ids(self.model, self.val_ids, max_chars=cfg.eval_chars, precision=self.precision,
                            top_k=False)  # fmt: skip
            sample = None
            if cfg.sample_chars:
                sample = _sample(self.model, self.corpus.vocab, cfg.sample_prompt, cfg.sample_chars, seed=self.step)
            self.model.train()
        self.last_val = {k: res[k] for k in ("loss", "bpc", "perplexity", "n_chars")}
        is_best = res["loss"] < self.best_val
        if is_best:
            self.best_val = res["loss"]
        self.history.append({"step": self.step, "val_loss": res["loss"]})
        return TrainEvent("eval", self.step, cfg.max_steps, elapsed=self.elapsed(), progress=self.progress(),
                          val_loss=res["loss"], val_bpc=res["bpc"], val_ppl=res["perplexity"], is_best=is_best,
                          sample=sample)  # fmt: skip

    def save(self, which: str, reason: str) -> TrainEvent:
        """Write ``best/`` (weights only) or ``last/`` (weights + resume state); rank 0 alone writes."""
        if which == "last":
            self.saved_at = self.elapsed()
        if not self.dist.is_main:
            return TrainEvent("saved", self.step, self.cfg.max_steps)
        training = self.summary(reason)
        with self.averaged() as raw:  # the saved model is the average; the raw weights go with the resume state
            resume = None
            if which == "last":
                best = self.best_val if math.isfinite(self.best_val) else None
                names = [name for name, _ in self.model.named_parameters()]
                resume = ResumeState(
                    step=self.step, elapsed=self.elapsed(), best_val=best, train_config=asdict(self.cfg),
                    optimizer=self.optimizer.state_dict(),
                    rng_batch=self.batch_gen.get_state(), rng_torch=torch.get_rng_state(),
                    history=self.history[-5000:], average_count=self.avg_count,
                    train_weights=dict(zip(names, raw, strict=True)) if raw is not None else None,
                )  # fmt: skip
            path = save_checkpoint(self.out_dir / which, self.model, self.corpus.vocab, self.model_config, training,
                                   resume, self.name)  # fmt: skip

        return TrainEvent("saved", self.step, self.cfg.max_steps, path=str(path), elapsed=training["elapsed_sec"])

    def final_event(self, reason: str) -> TrainEvent:
        final = self.summary(reason) | {"tokens_per_sec": self.rate, "checkpoint": str(self.out_dir / "best")}
        stopped = reason == "stopped"
        return TrainEvent(
            "stopped" if stopped else "done", self.step, self.cfg.max_steps, elapsed=final["elapsed_sec"],
            progress=self.progress() if stopped else 1.0, tokens_per_sec=self.rate, summary=final,
            val_loss=self.last_val["loss"] if self.last_val else None,
            val_bpc=self.last_val["bpc"] if self.last_val else None,
        )  # fmt: skip

    # --- weight averaging -----------------------------------------------------------------------------------
    @torch.no_grad()
    def accumulate_average(self) -> None:
        """Fold the current weights into the running mean (the first call starts it at them)."""
        self.avg_count += 1
        if self.avg is None:
            self.avg = [p.detach().clone() for p in self.params]
        else:
            for a, p in zip(self.avg, self.params, strict=True):
                a.lerp_(p.detach(), 1.0 / self.avg_count)

    @contextmanager
    def averaged(self) -> Iterator[list[torch.Tensor] | None]:
        """Inside: the model holds the averaged weights (yields copies of the raw ones; None when not averaging);
        after: the raw weights again, bit for bit."""
        if self.avg is None:
            yield None
            return
        with torch.no_grad():
            raw = [p.detach().clone() for p in self.params]
            for p, a in zip(self.params, self.avg, strict=True):
                p.copy_(a)
        try:
            yield raw
        finally:
            with torch.no_grad():
                for p, r in zip(self.params, raw, strict=True):
                    p.copy_(r)

    # --- derived values -------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def progress(self) -> float:
        """0..1, by steps or by the time budget, whichever is further along."""
        cfg, p = self.cfg, 0.0
        if cfg.max_steps:
            p = self.step / cfg.max_steps
        if cfg.time_budget:
            p = max(p, self.elapsed() / cfg.time_budget)
        return min(1.0, p)

    def summary(self, reason: str) -> dict:
        """What a checkpoint records about the run that made it."""
        best = self.best_val if math.isfinite(self.best_val) else None
        return {
            "steps": self.step,
            "reason": reason,
            "elapsed_sec": round(self.elapsed(), 2),
            "best_val_loss": best,
            "best_val_bpc": best / math.log(2) if best is not None else None,
            "last_val": self.last_val,
            "corpus": self.corpus.to_json(),
            "n_params": self.n_params,
            "train_config": asdict(self.cfg),
            "precision": self.precision,
            "world_size": self.dist.world_size,
            "device": str(self.device),
            "charlm_version": __version__,
        }


def unigram_start(config: ModelConfig) -> bool:
    """Whether a new model's output bias starts at the training text's log unigram (``init_unigram_bias_``).

    The adaptive head always: a large vocabulary's uniform start (ln 6,258 = 8.74 nats on the poems) is far from
    the unigram (6.45), and a short run spends its budget getting there. A linear head with a bias (recurrent
    models; the GPT's tied head has none) only for a large vocabulary too (measured on the poems: the Shakespeare
    recipe's 2-minute GRU scores 6.596 nats/char from a zero bias, 5.430 from the unigram). Small vocabularies keep
    the zero bias the shipped Shakespeare models were trained with."""
    if config.head == "adaptive":
        return True
    return config.arch != "gpt" and use_adaptive(config.vocab_size)


def state_config(state: ResumeState, cfg: TrainConfig) -> TrainConfig:
    """The resumed run's settings, except the few a resume may change (``RESUMABLE_CHANGES``)."""
    saved = dict(state.train_config) | {key: getattr(cfg, key) for key in RESUMABLE_CHANGES}
    return TrainConfig(**{f.name: saved[f.name] for f in fields(TrainConfig) if f.name in saved})


def _sample(model, vocab, prompt: str, n: int, seed: int) -> str:
    from charlm.generation.sample import sample_ids
    from charlm.generation.settings import Sampling

    return vocab.decode(sample_ids(model, vocab, prompt, Sampling(max_new_chars=n, temperature=0.8, seed=seed)))


def train(
    corpus: Corpus,
    model_config: ModelConfig | None,
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
    name: str | None = None,
) -> Iterator[TrainEvent]:
    """Train and yield events; ``should_stop()`` is polled every step (the app's Stop button, Ctrl-C).

    A generator, so nothing happens (not even loading a checkpoint to resume) until the first event is asked for.
    """
    yield from Trainer(corpus, model_config, cfg, out_dir, resume, should_stop, name).run()


def run_to_end(events: Iterator[TrainEvent]) -> TrainEvent:
    """Drain an event iterator and return the final event (handy in tests and scripts)."""
    final = None
    for event in events:
        final = event
    assert final is not None, "the trainer yielded nothing"
    return final


__all__ = ["TrainConfig", "TrainEvent", "Trainer", "train", "run_to_end", "lr_at"]
