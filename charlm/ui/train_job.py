"""What the Train tab's ``/train`` event does, as top-level functions: plan a run from the form, then stream it.

``plan_new`` and ``plan_resume`` turn the form into a ``Job`` (run folder, corpus, configs) or raise a
``CharlmError`` that names the problem; ``stream`` drives the trainer and yields the tab's outputs about once a
second. Whatever happens (done, Stop, a closed tab, an error), the checkpoint saved so far becomes a model of the
session.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import pandas as pd

from charlm.cleaning import CleanOptions, clean_text
from charlm.corpora import load_source
from charlm.data import Corpus, build_corpus
from charlm.errors import CharlmError, TrainingError
from charlm.models import ModelConfig, config_parameters, preset_config
from charlm.runs import Run, create_run, safe_name
from charlm.train import DEFAULT_LR, TrainConfig, TrainEvent, train
from charlm.ui.common import fmt_time
from charlm.ui.registry import ModelRegistry, Session

YIELD_EVERY = 1.0  # seconds between updates sent to the page
MAX_PLOT_POINTS = 1500


@dataclass
class Job:
    """One training run the tab is about to start or resume."""

    run: Run
    corpus: Corpus
    model_config: ModelConfig | None  # None when resuming: the checkpoint has it
    cfg: TrainConfig
    resume: bool
    rows: list[dict] = field(default_factory=list)  # loss plot rows so far (a resumed run keeps its history)


def overrides(block_size, n_layer, n_embd, n_head, hidden_size, dropout) -> dict:
    """The advanced settings that differ from the preset (0 or empty = the preset's value)."""
    vals = dict(block_size=block_size, n_layer=n_layer, n_embd=n_embd, n_head=n_head, hidden_size=hidden_size)
    out = {k: int(v) for k, v in vals.items() if v and int(v) > 0}
    if dropout and float(dropout) > 0:
        out["dropout"] = float(dropout)
    return out


def plan_new(registry: ModelRegistry, sess: Session, form: dict) -> Job:
    """A new run from the form's fields (the ``/train`` parameters), checked against the server's limits."""
    limits = registry.limits
    form, recipe_train, _ = recipe_for_form(form)  # arch "auto": the best measured recipe for the budget
    text, corpus_name = load_source(form["source"], form["corpus_file"], form["pasted_text"], form["builtin"],
                                    limits.max_upload_bytes)  # fmt: skip
    opts = CleanOptions(bool(form["lowercase"]), bool(form["collapse_whitespace"]), int(form["min_count"] or 0))
    text, _ = clean_text(text, opts)
    corpus = build_corpus(text, name=corpus_name)
    arch, size = form["arch"], form["size"]
    try:
        extra = overrides(*(form[k] for k in ("block_size", "n_layer", "n_embd", "n_head", "hidden_size", "dropout")))
        mcfg = preset_config(arch, size, corpus.vocab.size, **extra)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    n_params = config_parameters(mcfg)
    if n_params > limits.max_params:
        raise TrainingError(f"this model would have {n_params:,} parameters; this server allows "
                            f"{limits.max_params:,}. Choose a smaller size")  # fmt: skip
    cfg = TrainConfig(
        batch_size=int(form["batch_size"] or 32), max_steps=int(form["max_steps"] or 0) or None,
        time_budget=float(form["time_budget"]), lr=float(form["lr"]) if form["lr"] else DEFAULT_LR[arch],
        eval_interval=int(form["eval_interval"] or 100), eval_chars=20_000, seed=int(form["seed"] or 0),
        sample_chars=120, **recipe_train,
    )  # fmt: skip
    name = registry.unique_name(sess.key, form["model_name"] or f"{Path(corpus_name).stem}-{arch}-{size}")
    run = create_run(sess.dir, name, corpus_name, text, f"run-{safe_name(name)}-{int(time.time() * 1000)}")
    sess.last_run = run.dir
    return Job(run, corpus, mcfg, cfg, resume=False)


def plan_resume(sess: Session, form: dict) -> Job:
    """Continue the session's last run on the same text, for the form's time budget (and steps) more."""
    from charlm.runs import open_run

    run = open_run(sess.last_run) if sess.last_run is not None else None
    if run is None or not run.can_resume():
        raise TrainingError("there is no earlier run in this session to resume; train a model first")
    done = run.progress()
    steps = int(form["max_steps"] or 0)
    cfg = TrainConfig(max_steps=done["step"] + steps if steps else None,
                      time_budget=done["elapsed"] + float(form["time_budget"]),
                      eval_interval=int(form["eval_interval"] or 100), sample_chars=120)  # fmt: skip
    return Job(run, run.corpus(), None, cfg, resume=True, rows=run.loss_rows())


def check_form(form: dict, max_seconds: int) -> None:
    budget = float(form["time_budget"] or 0)
    if not 0 < budget <= max_seconds:
        raise TrainingError(f"the time budget must be between 1 and {max_seconds} seconds")
    if int(form["max_steps"] or 0) < 0:
        raise TrainingError("max steps must be 0 (no limit) or more")


def plot_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows or [], columns=["step", "loss", "split"])
    train_part = df[df["split"] == "train"]
    if len(train_part) > MAX_PLOT_POINTS:  # keep the payload small: thin the noisy training curve only
        keep = train_part.iloc[:: math.ceil(len(train_part) / MAX_PLOT_POINTS)]
        df = pd.concat([keep, df[df["split"] != "train"]]).sort_values("step", kind="stable")
    return df


class Progress:
    """The status line and the model this run has registered so far."""

    def __init__(self, registry: ModelRegistry, sess: Session, job: Job) -> None:
        self.registry, self.sess, self.job = registry, sess, job
        self.name = job.run.name
        c = job.corpus
        self.head = f"**{self.name}** · {c.name} · {c.n_chars:,} chars · vocabulary {c.vocab.size - 1}"
        self.registered = job.resume
        if job.resume:
            self.name = registry.add(sess.key, self.name, job.run.best, "trained", replace=True)

    def line(self, ev: TrainEvent) -> str:
        cfg = self.job.cfg
        parts = [self.head, f"step {ev.step:,}" + (f" / {cfg.max_steps:,}" if cfg.max_steps else "")]
        if ev.tokens_per_sec:
            parts.append(f"{ev.tokens_per_sec:,.0f} chars/s")
        parts.append(f"elapsed {fmt_time(ev.elapsed)}, ETA {fmt_time(ev.eta)}")
        vals = [r["loss"] for r in self.job.rows if r["split"] == "validation"]
        if vals:
            parts.append(f"validation {min(vals) / math.log(2):.3f} bits/char (best)")
        return " · ".join(parts)

    def register_first_best(self, ev: TrainEvent) -> bool:
        """The first ``best/`` save puts the model in the picker: chat with it while it trains."""
        if self.registered or ev.kind != "saved" or not ev.path or Path(ev.path).name != "best":
            return False
        self.registered = True
        self.name = self.registry.add(self.sess.key, self.name, self.job.run.best, "trained", replace=True)
        return True

    def finish(self, reason: str) -> str | None:
        """Register the best checkpoint as this session's model and zip it; returns the zip's path."""
        if not (self.job.run.best / "model.safetensors").is_file():
            return None
        self.name = self.registry.add(self.sess.key, self.name, self.job.run.best, "trained", replace=True)
        zip_path = str(self.registry.zip_model(self.name, self.sess.key))
        self.sess.last_result = (self.name, zip_path, reason)
        return zip_path

    def final_message(self, final: TrainEvent | None) -> str:
        s = final.summary if final is not None else {}
        bpc = s.get("best_val_bpc")
        how = "stopped" if final is not None and final.kind == "stopped" else f"finished ({s.get('reason', 'done')})"
        return (
            f"{self.head} · **{how}** after {s.get('steps', 0):,} steps in {fmt_time(s.get('elapsed_sec'))}"
            + (f" · validation {bpc:.3f} bits/char" if bpc is not None else "")
            + f". **{self.name}** is now selected in the model picker: chat with it in the Chat tab, download it "
            "below, or tick *Resume my last run* to train it further."
        )


def stream(registry: ModelRegistry, sess: Session, job: Job, progress: gr.Progress) -> Iterator[tuple]:
    """Train and yield (plot, status, sample, model name, zip, picker) about once a second."""
    sess.stop = stop = threading.Event()
    sess.run_done.clear()
    events = train(job.corpus, job.model_config, job.cfg, job.run.dir, resume=job.resume, should_stop=stop.is_set,
                   name=job.run.name)  # fmt: skip
    p, rows, key = Progress(registry, sess, job), job.rows, sess.key
    sample_text, last, final, tick = "", 0.0, None, None
    try:
        for ev in events:
            if ev.kind == "step":
                tick = ev  # the latest step event: the status shows its rate and ETA
                rows.append({"step": ev.step, "loss": ev.loss, "split": "train"})
            elif ev.kind == "eval":
                rows.append({"step": ev.step, "loss": ev.val_loss, "split": "validation"})
                sample_text = ev.sample or sample_text
            elif ev.kind in ("done", "stopped"):
                final = ev
                break
            new_model = p.register_first_best(ev)
            if new_model or ev.kind == "eval" or time.monotonic() - last >= YIELD_EVERY:
                now = tick or ev
                progress(now.progress, desc=f"step {now.step}")
                picker, named = (gr.update(choices=registry.choices(key)), p.name) if new_model else (gr.skip(),) * 2
                yield plot_frame(rows), p.line(now), sample_text, named, gr.skip(), picker
                last = time.monotonic()
    except GeneratorExit:  # Stop (cancel) or a closed tab: let the trainer save, then keep the model
        stop.set()
        try:
            for _ in events:
                pass
            p.finish("stopped")
        except Exception:  # noqa: BLE001 - the session folder may already be gone (tab closed)
            pass
        raise
    except CharlmError:
        p.finish("error")
        raise
    finally:
        sess.run_done.set()
    zip_path = p.finish(final.summary.get("reason", "done") if final is not None else "done")
    yield (plot_frame(rows), p.final_message(final), sample_text, p.name, zip_path,
           gr.update(choices=registry.choices(key), value=p.name))  # fmt: skip


# --- Default recipe (issue 11): architecture "auto" trains the best measured recipe for the time budget -------------
AUTO = "auto"


def recipe_for_form(form: dict) -> tuple[dict, dict, str]:
    """For ``arch="auto"``: the form with the recipe's architecture, size, context length, batch size and learning
    rate (fields the user set, i.e. not 0 or "auto", keep their value), the recipe's other training settings
    (weight decay, schedule), and the line that says which recipe was chosen and why. Another architecture passes
    through (size "auto" is then "tiny", the tab's default before recipes)."""
    from charlm.device import cpu_share
    from charlm.recipes import choose_recipe, explain

    if form.get("arch") != AUTO:
        return (dict(form, size="tiny") if form.get("size") == AUTO else form), {}, ""
    budget, share = float(form["time_budget"] or 1), cpu_share()
    r = choose_recipe(budget, share)
    size = r.size if form.get("size") in (AUTO, None, "") else form["size"]
    form = dict(form, arch=r.arch, size=size, block_size=form["block_size"] or r.block_size,
                batch_size=form["batch_size"] or r.batch_size, lr=form["lr"] or r.lr)  # fmt: skip
    train = {"weight_decay": r.weight_decay, "min_lr_ratio": r.min_lr_ratio, "warmup_steps": r.warmup_steps}
    return form, train, explain(r, budget, share)
