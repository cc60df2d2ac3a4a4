"""What the Train tab's ``/train`` event does, as top-level functions: plan a run from the form, then stream it.

``plan_new`` and ``plan_resume`` turn the form into a ``Job`` (run folder, corpus, configs) or raise a
``CharlmError`` that names the problem; ``stream`` drives the trainer and yields the tab's outputs about once a
second. Whatever happens (done, Stop, a closed tab, an error), the checkpoint saved so far becomes a model of the
session.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import pandas as pd

from charlm.budget import check, check_char_cost, training_step_cost
from charlm.cleaning import CleanOptions, clean_text
from charlm.corpora import load_source
from charlm.data import Corpus, build_corpus
from charlm.errors import CharlmError, TrainingError
from charlm.fit import diagnose, text_too_short
from charlm.models import ModelConfig, config_parameters, preset_config
from charlm.optim import default_lr
from charlm.storage.run import Run
from charlm.train import TrainConfig, TrainEvent, train
from charlm.ui.common import fmt_time
from charlm.ui.i18n import corpus_label, text_or, ui_text
from charlm.ui.model_card import overfit_notice
from charlm.ui.registry import ModelRegistry
from charlm.ui.sessions import Session

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
    note: str = ""  # what the server changed in the request (a lowered batch size)


def overrides(block_size, n_layer, n_embd, n_head, hidden_size, dropout) -> dict:
    """The advanced settings that differ from the preset (0 or empty = the preset's value)."""
    vals = dict(block_size=block_size, n_layer=n_layer, n_embd=n_embd, n_head=n_head, hidden_size=hidden_size)
    out = {k: int(v) for k, v in vals.items() if v and int(v) > 0}
    if dropout and float(dropout) > 0:
        out["dropout"] = float(dropout)
    return out


def plan_new(registry: ModelRegistry, sess: Session, form: dict, lang: str = "en") -> Job:
    """A new run from the form's fields (the ``/train`` parameters), checked against the server's limits."""
    limits = registry.limits
    text, corpus_name = load_source(form["source"], form["corpus_file"], form["pasted_text"], form["builtin"],
                                    limits.max_upload_bytes)  # fmt: skip
    opts = CleanOptions(bool(form["lowercase"]), bool(form["collapse_whitespace"]), int(form["min_count"] or 0))
    text, _ = clean_text(text, opts)
    corpus = build_corpus(text, name=corpus_name)
    # arch "auto": the best measured recipe for the budget and the size of the text's vocabulary
    form, recipe_train, _ = recipe_for_form(form, corpus.vocab.size)
    arch, size = form["arch"], form["size"]
    try:
        extra = overrides(*(form[k] for k in ("block_size", "n_layer", "n_embd", "n_head", "hidden_size", "dropout")))
        mcfg = preset_config(arch, size, corpus.vocab.size, **extra)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    n_params = config_parameters(mcfg)
    if n_params > limits.max_params:
        raise TrainingError(f"this model would have {n_params:,} parameters; this server allows "
                            f"{limits.max_params:,} (CHARLM_MAX_PARAMS). Choose a smaller size")  # fmt: skip
    check_char_cost(mcfg, limits.max_char_mflop, n_params)
    batch, note = fit_batch(mcfg, int(form["batch_size"] or 32), limits, lang)
    cfg = TrainConfig(
        batch_size=batch, max_steps=int(form["max_steps"] or 0) or None,
        time_budget=float(form["time_budget"]), optimizer=form["optimizer"],
        lr=float(form["lr"]) if form["lr"] else default_lr(form["optimizer"], arch),
        eval_interval=int(form["eval_interval"] or 100), eval_chars=20_000, seed=int(form["seed"] or 0),
        sample_chars=120, save_every=limits.save_every, **recipe_train,
    )  # fmt: skip
    name = registry.unique_name(sess.key, form["model_name"] or default_model_name(corpus_name, arch, size))
    run = registry.new_run(sess.key, name, corpus_name, text)
    return Job(run, corpus, mcfg, cfg, resume=False, note=note)


def default_model_name(corpus_name: str, arch: str, size: str) -> str:
    """A short, readable name for a new model: the text's first word or two, the architecture and the size
    ("五言绝句-gru-tiny", "Python-documentation-gpt-small", "verses-lstm-tiny"), not the whole corpus label."""
    label = re.split(r"[(,（，]", Path(corpus_name).stem if corpus_name.endswith(".txt") else corpus_name)[0]
    words = label.split() or ["model"]
    short = words[:1] if not words[0].isascii() else words[:2]
    return "-".join([*short, arch, size])


def fit_batch(mcfg: ModelConfig, batch: int, limits, lang: str = "en") -> tuple[int, str]:
    """The batch size whose training step fits the server's budget: lowered if needed, refused if even one window
    is too costly. Returns (batch, a note for the user in ``lang`` when it was lowered)."""
    one = training_step_cost(mcfg, 1)
    check(one, limits.max_step_gflop, limits.max_step_mb, f"one training step with context {mcfg.block_size} (batch 1)",
          "CHARLM_MAX_STEP_GFLOP", "CHARLM_MAX_STEP_MB")  # fmt: skip
    fits = int(min(limits.max_step_gflop / one.gflop, limits.max_step_mb / max(one.mb, 1e-9)))
    if batch <= fits:
        return batch, ""
    return max(1, fits), ui_text(lang, "train.batch_lowered", old=f"{batch:,}", new=f"{max(1, fits):,}",
                              gflop=f"{limits.max_step_gflop:g}", mb=f"{limits.max_step_mb:g}")  # fmt: skip


def plan_resume(registry: ModelRegistry, sess: Session, form: dict) -> Job:
    """Continue the user's last run on the same text, for the form's time budget (and steps) more."""
    run = registry.last_run(sess.key)
    if run is None:
        raise TrainingError("there is no earlier run of yours to resume; train a model first")
    done = run.progress()
    steps = int(form["max_steps"] or 0)
    cfg = TrainConfig(max_steps=done["step"] + steps if steps else None,
                      time_budget=done["elapsed"] + float(form["time_budget"]),
                      eval_interval=int(form["eval_interval"] or 100), sample_chars=120,
                      save_every=registry.limits.save_every)  # fmt: skip
    return Job(run, run.corpus(), None, cfg, resume=True, rows=run.loss_rows())


def check_train_form(form: dict, max_seconds: int) -> None:
    budget = float(form["time_budget"] or 0)
    if not 0 < budget <= max_seconds:
        raise TrainingError(f"the time budget must be between 1 and {max_seconds} seconds")
    if int(form["max_steps"] or 0) < 0:
        raise TrainingError("max steps must be 0 (no limit) or more")


PLOT_COLUMNS = ["step", "bits/char", "split"]
SERIES = ("train", "validation")


def plot_frame(rows: list[dict], lang: str = "en") -> pd.DataFrame:
    """The loss rows (nats) as the plot's frame in bits/char, the unit of every other loss a learner reads.

    Each series has at least one row (an empty placeholder before the first evaluation): the browser's plot fixes
    its colours and legend from the first data it draws, so a series absent then is never drawn later."""
    df = pd.DataFrame(rows or [], columns=["step", "loss", "split"])
    train_part = df[df["split"] == "train"]
    if len(train_part) > MAX_PLOT_POINTS:  # keep the payload small: thin the noisy training curve only
        keep = train_part.iloc[:: math.ceil(len(train_part) / MAX_PLOT_POINTS)]
        df = pd.concat([keep, df[df["split"] != "train"]]).sort_values("step", kind="stable")
    missing = [{"step": 0, "loss": math.nan, "split": s} for s in SERIES if not (df["split"] == s).any()]
    if missing:
        df = pd.concat([df, pd.DataFrame(missing)], ignore_index=True) if len(df) else pd.DataFrame(missing)
    out = pd.DataFrame({"step": df["step"].astype(int), "bits/char": df["loss"].astype(float) / math.log(2),
                        "split": df["split"].map(lambda s: ui_text(lang, f"train.curve.{s}"))})  # fmt: skip
    return out[PLOT_COLUMNS].reset_index(drop=True)


class Progress:
    """The status line, and the model this run makes available in the picker."""

    def __init__(self, registry: ModelRegistry, sess: Session, job: Job, lang: str = "en") -> None:
        self.registry, self.sess, self.job, self.lang = registry, sess, job, lang
        self.name = job.run.name
        c = job.corpus
        self.head = ui_text(lang, "train.status.head", name=self.name, corpus=corpus_label(lang, c.name),
                         chars=f"{c.n_chars:,}", vocab=c.vocab.size - 1)  # fmt: skip
        if job.note:
            self.head += f" · ⚠ {job.note}"
        self.notes = ""  # a paragraph below every status line: a text too short for the model
        n_params = config_parameters(job.model_config) if job.model_config is not None else 0
        if text_too_short(c.n_chars, n_params):
            self.notes = "\n\n⚠ " + ui_text(lang, "train.short_text", chars=f"{c.n_chars:,}", params=f"{n_params:,}")
        self.listed = job.run.checkpoint is not None  # a resumed run is in the picker already

    def line(self, ev: TrainEvent) -> str:
        cfg, lang = self.job.cfg, self.lang
        parts = [self.head, ui_text(lang, "train.status.step", step=f"{ev.step:,}")
                 + (f" / {cfg.max_steps:,}" if cfg.max_steps else "")]  # fmt: skip
        if ev.tokens_per_sec:
            parts.append(ui_text(lang, "train.status.rate", rate=f"{ev.tokens_per_sec:,.0f}"))
        parts.append(ui_text(lang, "train.status.time", elapsed=fmt_time(ev.elapsed, lang), eta=fmt_time(ev.eta, lang)))
        vals = [r["loss"] for r in self.job.rows if r["split"] == "validation"]
        if vals:
            parts.append(ui_text(lang, "train.status.best", bpc=f"{min(vals) / math.log(2):.3f}"))
        return " · ".join(parts) + self.notes

    def first_checkpoint(self, ev: TrainEvent) -> bool:
        """The first save puts the model in the picker: chat with it while it trains."""
        if self.listed or ev.kind != "saved" or not ev.path:
            return False
        self.listed = True
        return True

    def finish(self, final: TrainEvent | None) -> str | None:
        """Zip the model the run made and remember the outcome (a cancelled event cannot show it itself);
        returns the zip's path (None when nothing was saved)."""
        if self.job.run.checkpoint is None:
            return None
        zip_path = str(self.registry.zip_model(self.name, self.sess.key))
        self.sess.last_result = (self.name, zip_path, self.final_message(final))
        return zip_path

    def final_message(self, final: TrainEvent | None) -> str:
        s, lang = (final.summary if final is not None else {}), self.lang
        bpc = s.get("best_val_bpc")
        if final is not None and final.kind == "stopped":
            how = ui_text(lang, "train.status.stopped")
        else:
            reason = s.get("reason", "done")
            how = ui_text(lang, "train.status.finished", reason=text_or(lang, f"train.reason.{reason}", reason))
        head = (
            ui_text(lang, "train.status.final", head=self.head, how=how, steps=f"{s.get('steps', 0):,}",
                 time=fmt_time(s.get("elapsed_sec"), lang))
            + (ui_text(lang, "train.status.validation", bpc=f"{bpc:.3f}") if bpc is not None else "")
            + ui_text(lang, "train.status.next", name=self.name)
        )  # fmt: skip
        return head + self.kept_message() + self.notes

    def kept_message(self) -> str:
        """Which weights the model is (best validation at step N) and, when the run overfitted, why the latest
        weights were not kept, with the way to keep them too."""
        fit, lang = diagnose(self.job.rows), self.lang
        if fit is None:
            return ""
        out = "\n\n" + ui_text(lang, "train.kept", step=f"{fit.best_step:,}", bpc=f"{fit.best_val_bpc:.3f}")
        if fit.kept_early:
            out += " " + ui_text(lang, "train.kept.latest", step=f"{fit.last_step:,}", bpc=f"{fit.last_val_bpc:.3f}",
                                 name=self.name)  # fmt: skip
        if fit.overfitting:
            out += "\n\n⚠ " + overfit_notice(fit, lang)
        return out


def stream(
    registry: ModelRegistry, sess: Session, job: Job, progress: gr.Progress, lang: str = "en"
) -> Iterator[tuple]:
    """Train and yield (plot, status, sample, model name, zip, picker) about once a second; text in ``lang``."""
    stop = sess.stop  # the Stop button's flag (set anew when Train was clicked: a Stop while queued counts)
    sess.run_done.clear()
    sess.last_result = None
    sess.training = job.run.name
    events = train(job.corpus, job.model_config, job.cfg, job.run.dir, resume=job.resume, should_stop=stop.is_set,
                   name=job.run.name)  # fmt: skip
    p, rows, key = Progress(registry, sess, job, lang), job.rows, sess.key
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
            new_model = p.first_checkpoint(ev)
            if new_model or ev.kind == "eval" or time.monotonic() - last >= YIELD_EVERY:
                now = tick or ev
                progress(now.progress, desc=ui_text(lang, "train.status.step", step=now.step))
                picker, named = (gr.update(choices=registry.choices(key)), p.name) if new_model else (gr.skip(),) * 2
                yield plot_frame(rows, lang), p.line(now), sample_text, named, gr.skip(), picker
                last = time.monotonic()
    except GeneratorExit:  # a closed tab (or a cancelled event): let the trainer save, then keep the model
        stop.set()
        try:
            final = None
            for ev in events:
                final = ev if ev.kind in ("done", "stopped") else final
            p.finish(final)
        except Exception:  # noqa: BLE001 - the session folder may already be gone (tab closed)
            pass
        raise
    except CharlmError:
        p.finish(None)
        raise
    finally:
        sess.training = None
        sess.run_done.set()
    zip_path = p.finish(final)
    yield (plot_frame(rows, lang), p.final_message(final), sample_text, p.name, zip_path,
           gr.update(choices=registry.choices(key), value=p.name))  # fmt: skip


# --- Default recipe (issue 11): architecture "auto" trains the best measured recipe for the time budget -------------
AUTO = "auto"


def recipe_for_form(form: dict, vocab_size: int | None = None) -> tuple[dict, dict, str]:
    """For ``arch="auto"``: the form with the recipe's architecture, size, optimizer, context length, batch size and
    learning rate (fields the user set, i.e. not 0 or "auto", keep their value), the recipe's other training settings
    (weight decay, schedule), and the line that says which recipe was chosen and why. Another architecture passes
    through (size "auto" is then "tiny", the tab's default before recipes; optimizer "auto" is adamw).
    ``vocab_size``: the training text's, which picks the large-vocabulary recipes for a text such as Chinese
    (``charlm.recipes``)."""
    from charlm.device import cpu_share
    from charlm.recipes import choose_recipe, explain

    chosen = form.get("optimizer") not in (AUTO, None, "")
    if form.get("arch") != AUTO:
        form = form if chosen else dict(form, optimizer="adamw")
        return (dict(form, size="tiny") if form.get("size") == AUTO else form), {}, ""
    budget, share = float(form["time_budget"] or 1), cpu_share()
    r = choose_recipe(budget, share, vocab_size)
    size = r.size if form.get("size") in (AUTO, None, "") else form["size"]
    optimizer = form["optimizer"] if chosen else r.optimizer
    lr = form["lr"] or (r.lr if optimizer == r.optimizer else None)  # the recipe's rate is its optimizer's
    form = dict(form, arch=r.arch, size=size, block_size=form["block_size"] or r.block_size,
                batch_size=form["batch_size"] or r.batch_size, lr=lr, optimizer=optimizer)  # fmt: skip
    train = {"weight_decay": r.weight_decay, "min_lr_ratio": r.min_lr_ratio, "warmup_steps": r.warmup_steps,
             "schedule": r.schedule, "warmdown": r.warmdown, "average_last": r.average_last}  # fmt: skip
    return form, train, explain(r, budget, share)


def recipe_line(budget: float, lang: str = "en", share: float | None = None, vocab_size: int | None = None) -> str:
    """``charlm.recipes.explain`` in a language: which recipe "auto" trains for this budget, and why."""
    from charlm.device import cpu_share
    from charlm.recipes import BUSY_BELOW, choose_recipe

    share = cpu_share() if share is None else share
    r = choose_recipe(float(budget or 1), share, vocab_size)
    busy = ui_text(lang, "recipe.busy", share=f"{share:.0%}") if share < BUSY_BELOW else ""
    settings = ui_text(lang, "recipe.settings", arch=r.arch.upper(), size=r.size, optimizer=r.optimizer,
                    block=r.block_size, batch=r.batch_size, lr=f"{r.lr:g}", wd=f"{r.weight_decay:g}",
                    ratio=f"{r.min_lr_ratio:g}", warmup=r.warmup_steps, threads=r.threads)  # fmt: skip
    if r.schedule == "wsd":
        settings += ui_text(lang, "recipe.wsd", share=f"{r.warmdown:.0%}")
    if r.average_last:
        settings += ui_text(lang, "recipe.average", share=f"{r.average_last:.0%}")
    return ui_text(lang, "recipe.line", budget=f"{float(budget or 1):g}", busy=busy, settings=settings,
                measured_budget=f"{r.budget:g}", loss=f"{r.val_loss:.3f}", measured=r.measured,
                corpus=r.corpus)  # fmt: skip


def recipe_plain(budget: float, lang: str = "en", share: float | None = None, vocab_size: int | None = None) -> str:
    """The recipe "auto" trains, in plain words (what it is, for how long, why, how well it did, in bits/char); the
    full settings and the measurement (``recipe_line``, the CLI's line) go in a fold below it."""
    from charlm.device import cpu_share
    from charlm.recipes import BUSY_BELOW, choose_recipe

    share = cpu_share() if share is None else share
    r = choose_recipe(float(budget or 1), share, vocab_size)
    line = ui_text(lang, "recipe.plain", arch=r.arch.upper(), size=r.size, optimizer=r.optimizer,
                   budget=f"{float(budget or 1):g}", bpc=f"{r.val_loss / math.log(2):.2f}",
                   corpus=r.corpus)  # fmt: skip
    if share < BUSY_BELOW:
        line += " " + ui_text(lang, "recipe.plain.busy", share=f"{share:.0%}")
    details = recipe_line(budget, lang, share, vocab_size)
    return f"ℹ {line}\n\n<details><summary>{ui_text(lang, 'recipe.details')}</summary>\n\n{details}\n\n</details>"
