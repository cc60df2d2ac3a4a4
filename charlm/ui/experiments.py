"""The Train tab's experiment sections: compare architectures/optimizers, and search hyperparameters (Optuna).

Both train on the text chosen in the Train tab's form (same source and cleaning), share the training slot with
``/train`` (so the server never runs more training at once than its limit), stream a live view about once a second,
and stop cleanly with their Stop button (the current run saves and the results so far are shown). The best model
of a comparison or a search joins the model picker.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from charlm.cleaning import CleanOptions, clean_text
from charlm.corpora import load_source
from charlm.data import build_corpus
from charlm.errors import TrainingError
from charlm.experiments.compare import MAX_RUNS, RunSpec, compare
from charlm.experiments.search import PRUNERS, SAMPLERS, SearchSpace, search
from charlm.models import ARCHS, PRESETS
from charlm.optim import OPTIMIZERS
from charlm.ui.common import session_key, user_errors
from charlm.ui.i18n import (
    axis_titles,
    corpus_label,
    lang_of,
    late_label,
    late_props,
    late_value,
    t,
    text_or,
    tr,
    ui_text,
)
from charlm.ui.registry import ModelRegistry

YIELD_EVERY = 1.0
_ORDER = ("adamw", "muon", *(o for o in OPTIMIZERS[::-1] if o not in ("adamw", "muon")))  # the default first
RUN_CHOICES = [f"{a}/{o}" for o in _ORDER for a in ARCHS]
TRIAL_COLUMNS = ["trial", "state", "arch", "optimizer", "lr", "width", "depth", "dropout", "params", "val bpc",
                 "steps", "seconds"]  # fmt: skip
_STOPS: dict[str, threading.Event] = {}  # session -> the Stop button's flag for its running experiment


def _stop_flag(key: str) -> threading.Event:
    _STOPS[key] = flag = threading.Event()
    return flag


def _corpus(form: SimpleNamespace, limits):
    text, name = load_source(form.source, form.corpus_file, form.pasted_text, form.builtin, limits.max_upload_bytes)
    text, _ = clean_text(text, CleanOptions(bool(form.lowercase), bool(form.collapse_whitespace),
                                            int(form.min_count or 0)))  # fmt: skip
    return build_corpus(text, name=name)


# one colour per run (Tableau 10): the plot's legend names every run of the comparison
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")  # fmt: skip


def _curve_frame(results, first: bool = False) -> pd.DataFrame | dict:
    """Every run's curve; with ``first``, the plot's update that also gives each run its colour.

    A run without points yet has an empty placeholder row, and the first update of a comparison names every run in
    the colour map: the browser's plot fixes its colours from the first data it draws and redraws only when the
    colour map changes, so a run absent then would never be drawn. Later updates are plain frames (the API's)."""
    rows = [{"seconds": s, "bits/char": b, "run": r.label} for r in results for s, b in r.curve]
    rows += [{"seconds": 0.0, "bits/char": float("nan"), "run": r.label} for r in results if not r.curve]
    frame = pd.DataFrame(rows, columns=["seconds", "bits/char", "run"])
    if not first:
        return frame
    return gr.update(value=frame, color_map={r.label: PALETTE[i % len(PALETTE)] for i, r in enumerate(results)})


COMPARE_COLUMNS = ["run", "params", "lr", "steps", "tokens/s", "best val bpc", "sample"]


def _compare_table(results, lang: str = "en") -> pd.DataFrame:
    """The runs so far; a Chinese reader gets Chinese headers (an English request, the API's names)."""
    table = _compare_rows(results)
    if lang == "en":
        return table
    return table.rename(columns={c: ui_text(lang, f"compare.col.{c}") for c in COMPARE_COLUMNS})


def _compare_rows(results) -> pd.DataFrame:
    rows = [{"run": r.label, "params": r.n_params, "lr": r.lr, "steps": r.steps,
             "tokens/s": round(r.tokens_per_sec or 0), "best val bpc": round(r.best_val_bpc, 4) if r.best_val_bpc
             else None, "sample": r.sample} for r in results]  # fmt: skip
    return pd.DataFrame(rows, columns=["run", "params", "lr", "steps", "tokens/s", "best val bpc", "sample"])


def _trial_table(rows, lang: str = "en") -> pd.DataFrame:
    """The trials so far; for a Chinese reader the headers and states are in Chinese (the API's English otherwise)."""
    state = (lambda s: s) if lang == "en" else (lambda s: text_or(lang, f"search.state.{s}", s))
    data = [[r.number, state(r.state), r.arch, r.optimizer, float(f"{r.lr:.3g}"), r.width, r.depth, r.dropout,
             r.n_params, round(r.val_bpc, 4) if r.val_bpc is not None else None, r.steps, r.seconds]
            for r in rows]  # fmt: skip
    table = pd.DataFrame(data, columns=TRIAL_COLUMNS)
    if lang == "en":
        return table
    return table.rename(columns={c: ui_text(lang, f"search.col.{c.replace(' ', '_')}") for c in TRIAL_COLUMNS})


def _register(registry: ModelRegistry, key: str, name: str, checkpoint: str, corpus_name: str):
    """Keep a run's best checkpoint as one of the user's models and select it; returns the picker update."""
    if not checkpoint or not (Path(checkpoint) / "model.safetensors").is_file():
        return gr.skip()
    name = registry.adopt(key, name, Path(checkpoint), corpus_name)
    return gr.update(choices=registry.choices(key), value=name)


def build_experiments(form: SimpleNamespace, model_picker: gr.Dropdown, registry: ModelRegistry) -> None:
    """Add the Compare and Search sections below the Train tab's form (``form``: its components by name)."""
    text_inputs = [form.source, form.corpus_file, form.pasted_text, form.builtin, form.lowercase,
                   form.collapse_whitespace, form.min_count]  # fmt: skip
    _compare_section(text_inputs, model_picker, registry)
    _search_section(text_inputs, model_picker, registry)


def _compare_section(text_inputs: list, model_picker, registry: ModelRegistry) -> None:
    limits = registry.limits
    with gr.Accordion(t("compare.title"), open=False, elem_id="compare"):
        gr.Markdown(t("compare.intro"))
        with gr.Row():
            runs = gr.CheckboxGroup(RUN_CHOICES, value=["gpt/adamw", "lstm/adamw", "gru/adamw"],
                                    label=t("compare.runs"), elem_id="compare-runs", scale=3)  # fmt: skip
            with gr.Column(scale=1):
                size = gr.Radio(list(PRESETS["gpt"]), value="tiny", label=t("compare.size"))
                budget = late_label(gr.Slider(5, limits.max_train_seconds, min(30, limits.max_train_seconds), step=5,
                                              elem_id="compare-budget"), "compare.seconds")  # fmt: skip
        with gr.Row():
            go_btn = gr.Button(t("compare.start"), variant="primary", elem_id="compare-btn")
            stop_btn = gr.Button(t("common.stop"), variant="stop", elem_id="compare-stop")
        status = gr.Markdown("", elem_id="compare-status")
        plot = gr.LinePlot(x="seconds", y="bits/char", color="run", label=t("compare.plot"),
                           color_title="", elem_id="compare-plot")  # fmt: skip
        late_props(plot, axis_titles("plot.axis.seconds", "plot.axis.bpc"))
        table = gr.DataFrame(pd.DataFrame(columns=COMPARE_COLUMNS), label=t("compare.table"), interactive=False,
                             wrap=True, elem_id="compare-table")  # fmt: skip
        late_value(table, lambda lang: _compare_table([], lang))

    @user_errors
    def run_compare(source, corpus_file, pasted_text, builtin, lowercase, collapse_whitespace, min_count,
                    runs, size, seconds_per_run, request: gr.Request, progress=gr.Progress()):  # noqa: B008  # fmt: skip
        """Train each run in turn for the same time; streams (plot, table, status, model picker)."""
        key, lang = session_key(request), lang_of(request)
        specs = [RunSpec.parse(r.replace("/", ":")) for r in runs or []]
        total = float(seconds_per_run) * max(1, len(specs))
        if total > limits.max_train_seconds:
            raise TrainingError(f"{len(specs)} runs × {seconds_per_run:g} s = {total:g} s is more than this server's "
                                f"{limits.max_train_seconds} s limit for one training job")  # fmt: skip
        form = SimpleNamespace(**{k: v for k, v in locals().items() if k in _TEXT_FIELDS})
        corpus = _corpus(form, limits)
        out = registry.scratch_dir(key, "experiment")  # every run's checkpoints; the best one is kept
        stop, last = _stop_flag(key), 0.0
        for ev in compare(corpus, specs, float(seconds_per_run), out, size=size, max_params=limits.max_params,
                          should_stop=stop.is_set, max_step_gflop=limits.max_step_gflop):  # fmt: skip
            if ev.kind == "done":
                break
            if ev.kind != "step" or time.monotonic() - last >= YIELD_EVERY:
                label, i, n = ev.results[ev.index].label, ev.index + 1, len(specs)
                progress(ev.progress, desc=ui_text(lang, "compare.progress", i=i, n=n, run=label))
                line = ui_text(lang, "compare.status", i=i, n=n, run=label, corpus=corpus_label(lang, corpus.name))
                yield _curve_frame(ev.results, first=not last), _compare_table(ev.results, lang), line, gr.skip()
                last = time.monotonic()
        done = [r for r in ev.results if r.best_val_bpc is not None and r.checkpoint]
        best = min(done, key=lambda r: r.best_val_bpc) if done else None
        name = f"best-{best.label.replace('/', '-')}" if best else ""
        picker = _register(registry, key, name, best.checkpoint, corpus.name) if best else gr.skip()
        msg = (ui_text(lang, "compare.best", run=best.label, bpc=f"{best.best_val_bpc:.3f}") if best
               else ui_text(lang, "compare.none"))  # fmt: skip
        yield _curve_frame(ev.results), _compare_table(ev.results, lang), msg, picker

    go_btn.click(run_compare, [*text_inputs, runs, size, budget], [plot, table, status, model_picker],
                 api_name="compare", concurrency_limit=limits.max_concurrent_training, concurrency_id="train",
                 show_progress_on=[status])  # fmt: skip
    stop_btn.click(_stop, None, status, api_name="stop_compare", queue=False)


def _search_section(text_inputs: list, model_picker, registry: ModelRegistry) -> None:
    limits = registry.limits
    with gr.Accordion(t("search.title"), open=False, elem_id="search"):
        gr.Markdown(t("search.intro"))
        with gr.Row():
            archs = gr.CheckboxGroup(list(ARCHS), value=["gpt", "lstm", "gru"], label=t("search.archs"))
            optimizers = gr.CheckboxGroup(list(OPTIMIZERS), value=["adamw"], label=t("search.optimizers"))
        with gr.Row():
            total = late_label(gr.Slider(10, limits.max_train_seconds, min(120, limits.max_train_seconds), step=5,
                                         elem_id="search-total"), "search.total")  # fmt: skip
            per_trial = late_label(gr.Slider(5, 120, 15, step=5), "search.per_trial")
            sampler = gr.Radio(list(SAMPLERS), value="tpe", label=t("search.sampler"))
            pruner = gr.Radio(list(PRUNERS), value="median", label=t("search.pruner"))
        with gr.Row():
            go_btn = gr.Button(t("search.start"), variant="primary", elem_id="search-btn")
            stop_btn = gr.Button(t("common.stop"), variant="stop", elem_id="search-stop")
        status = gr.Markdown("", elem_id="search-status")
        table = gr.DataFrame(pd.DataFrame(columns=TRIAL_COLUMNS), label=t("search.table"), interactive=False,
                             elem_id="search-table")  # fmt: skip
        late_value(table, lambda lang: _trial_table([], lang))

    @user_errors
    def run_search(source, corpus_file, pasted_text, builtin, lowercase, collapse_whitespace, min_count,
                   archs, optimizers, total_seconds, trial_seconds, sampler, pruner, request: gr.Request,
                   progress=gr.Progress()):  # noqa: B008  # fmt: skip
        """Optuna search within the total time; streams (trials table, status, model picker)."""
        key, lang = session_key(request), lang_of(request)
        if not 0 < float(total_seconds) <= limits.max_train_seconds:
            raise TrainingError(f"the total time must be between 1 and {limits.max_train_seconds} seconds")
        space = SearchSpace(archs=tuple(archs or ()), optimizers=tuple(optimizers or ()))
        form = SimpleNamespace(**{k: v for k, v in locals().items() if k in _TEXT_FIELDS})
        corpus = _corpus(form, limits)
        out = registry.scratch_dir(key, "experiment")  # every trial's checkpoints; the best one is kept
        stop, last = _stop_flag(key), 0.0
        for ev in search(corpus, float(total_seconds), float(trial_seconds), out, space, sampler=sampler,
                         pruner=pruner, max_params=limits.max_params, should_stop=stop.is_set,
                         max_step_gflop=limits.max_step_gflop):  # fmt: skip
            if ev.kind == "done" or time.monotonic() - last >= YIELD_EVERY:
                progress(ev.progress, desc=ui_text(lang, "search.progress", n=len(ev.rows)))
                yield _trial_table(ev.rows, lang), _search_line(ev, lang), gr.skip()
                last = time.monotonic()
        b = ev.best
        picker = _register(registry, key, f"search-best-{b.arch}", b.checkpoint, corpus.name) if b else gr.skip()
        yield _trial_table(ev.rows, lang), _search_line(ev, lang, final=True), picker

    go_btn.click(run_search, [*text_inputs, archs, optimizers, total, per_trial, sampler, pruner],
                 [table, status, model_picker], api_name="search", concurrency_limit=limits.max_concurrent_training,
                 concurrency_id="train", show_progress_on=[status])  # fmt: skip
    stop_btn.click(_stop, None, status, api_name="stop_search", queue=False)


_TEXT_FIELDS = ("source", "corpus_file", "pasted_text", "builtin", "lowercase", "collapse_whitespace", "min_count")


def _search_line(ev, lang: str = "en", final: bool = False) -> str:
    pruned = sum(r.state == "pruned" for r in ev.rows)
    head = ui_text(lang, "search.status", n=len(ev.rows), pruned=pruned, seconds=f"{ev.elapsed:.0f}")
    if ev.best is None:
        return head + (ui_text(lang, "search.none") if final else "…")
    b = ev.best
    best = ui_text(lang, "search.best", trial=b.number, arch=b.arch, width=b.width, depth=b.depth,
                bpc=f"{b.val_bpc:.3f}")  # fmt: skip
    return f"{head} · {best}" + (ui_text(lang, "search.picked") if final else "")


def _stop(request: gr.Request) -> str:
    """Ask this session's comparison or search to stop; the current run saves and the results so far stay."""
    flag = _STOPS.get(session_key(request))
    if flag is not None:
        flag.set()
    return tr(request, "compare.stopping")


__all__ = ["MAX_RUNS", "build_experiments"]
