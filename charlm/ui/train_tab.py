"""The Train tab: pick a text, clean it, pick an architecture and a size, and watch the model learn.

Training is a generator event (``/train``) that yields about once a second, so the plot stays live and Stop or a
closed tab takes effect within a second. Whatever happens, the checkpoint saved so far becomes a model of this
session: it appears in the model picker and can be downloaded as a zip or resumed.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import gradio as gr

from charlm.cleaning import CleanOptions, clean_text
from charlm.corpora import BUILTIN, PYDOC, builtin_vocab_size, load_source
from charlm.errors import CharlmError
from charlm.fit import text_too_short
from charlm.models import ARCHS, PRESETS, config_parameters, preset_config
from charlm.optim import OPTIMIZERS
from charlm.ui.common import Number, Slider, failure_text, session_key, user_errors
from charlm.ui.experiments import build_experiments
from charlm.ui.i18n import (
    axis_titles,
    chars_list,
    choices,
    corpus_label,
    lang_of,
    late_label,
    late_props,
    static,
    t,
    t_or,
    text_or,
    tr,
    tr_error,
    ui_text,
)
from charlm.ui.registry import ModelRegistry
from charlm.ui.train_job import AUTO, check_train_form, overrides, plan_new, plan_resume, recipe_plain, stream

DEFAULT_VOCAB = 100  # the vocabulary the sizes' parameter counts assume until a text is chosen
SOURCES = [("train.source.file", "file"), ("train.source.paste", "paste"), ("train.source.builtin", "builtin")]


def size_choices(arch: str, vocab_size: int = DEFAULT_VOCAB, lang: str = "en") -> list[tuple[str, str]]:
    """ "auto" (the recipe's size; "tiny" for a chosen architecture), then the presets with their parameters."""
    auto = (ui_text(lang, "train.size.auto"), AUTO)
    if arch == AUTO:
        return [auto, *[(s, s) for s in PRESETS["gpt"]]]
    presets = PRESETS.get(arch, PRESETS["gpt"])
    counts = {s: f"{config_parameters(preset_config(arch, s, vocab_size)):,}" for s in presets}
    return [auto, *((ui_text(lang, "train.size.preset", size=text_or(lang, f"train.size.name.{s}", s), n=counts[s]), s)
                     for s in presets)]  # fmt: skip


def stats_markdown(st, lang: str = "en") -> str:
    """``CleanStats.markdown`` in a language: the text's length and vocabulary before and after cleaning."""

    def change(a: int, b: int) -> str:
        return f"{a:,}" if a == b else f"{a:,} → **{b:,}**"

    lines = [ui_text(lang, "train.stats", chars=change(st.chars_before, st.chars_after),
                  vocab=change(st.vocab_before, st.vocab_after))]  # fmt: skip
    if st.dropped_chars:
        lines.append(ui_text(lang, "train.stats.dropped", chars=chars_list(lang, st.dropped_chars, limit=12)))
    return "\n\n".join(lines)


# The /train endpoint's parameters, in order; the form's components are created under these names.
FORM_FIELDS = (
    "source", "corpus_file", "pasted_text", "builtin", "lowercase", "collapse_whitespace", "min_count", "arch", "size",
    "time_budget", "max_steps", "model_name", "resume", "lr", "batch_size", "eval_interval", "seed", "block_size",
    "n_layer", "n_embd", "n_head", "hidden_size", "dropout", "optimizer",
)  # fmt: skip
CORPUS_FIELDS = FORM_FIELDS[:7]
ARCH_FIELDS = ("arch", "size", "block_size", "n_layer", "n_embd", "n_head", "hidden_size", "dropout")


def build_train_tab(model_picker: gr.Dropdown, registry: ModelRegistry) -> None:
    """Create the Train tab and its events (``/corpus_stats``, ``/train``, ``/stop_training``)."""
    with gr.Tab(t("train.tab"), elem_id="tab-train"):
        gr.Markdown(t("train.intro"))
        f = SimpleNamespace()
        with gr.Row():
            with gr.Column():
                _text_inputs(f)
            with gr.Column():
                _cleaning_inputs(f)
                _model_inputs(f, registry.limits)
        _advanced_inputs(f)
        with gr.Row():
            f.start_btn = gr.Button(t("train.start"), variant="primary", elem_id="train-btn")
            f.stop_btn = gr.Button(t("common.stop"), variant="stop", elem_id="train-stop")
        _outputs(f)
        build_experiments(f, model_picker, registry)
    _wire_form(f, registry.limits)
    _wire_training(f, registry, model_picker)


def _text_inputs(f: SimpleNamespace) -> None:
    f.source = gr.Radio(choices(SOURCES), value="file", label=t("train.source"), elem_id="train-source")
    f.corpus_file = late_label(gr.File(file_types=[".txt"], type="filepath", elem_id="train-file", height=120),
                               "train.file")  # fmt: skip
    f.pasted_text = gr.Textbox("", label=t("train.paste"), lines=4, max_lines=10, elem_id="train-paste")
    builtins = [(t_or(f"corpus.{name}", name), name) for name in BUILTIN]
    f.builtin = gr.Dropdown(builtins, value=PYDOC, label=t("train.builtin"), elem_id="train-builtin")


def _cleaning_inputs(f: SimpleNamespace) -> None:
    with gr.Row():
        f.lowercase = gr.Checkbox(label=t("train.lowercase"), info=t("train.lowercase.info"))
        f.collapse_whitespace = gr.Checkbox(label=t("train.collapse"), info=t("train.collapse.info"))
    f.min_count = Number(0, precision=0, minimum=0, label=t("train.min_count"), info=t("train.min_count.info"))
    f.stats = gr.Markdown(t("train.stats.empty"), elem_id="train-stats")
    f.vocab = gr.State(None)  # the chosen text's vocabulary size (the model's), once known: the sizes' parameters
    f.chars = gr.State(None)  # and its length after cleaning: a text too short for the chosen size is flagged


def _model_inputs(f: SimpleNamespace, limits) -> None:
    f.arch = gr.Radio([(t("train.arch.auto"), AUTO), *ARCHS], value=AUTO, label=t("train.arch"),
                      elem_id="train-arch", info=t("train.arch.info"))  # fmt: skip
    f.size = gr.Radio([(t("train.size.auto"), AUTO), *((t_or(f"train.size.name.{s}", s), s) for s in PRESETS["gpt"])],
                      value=AUTO, label=t("train.size"),
                      elem_id="train-size")  # fmt: skip
    f.time_budget = late_label(Slider(5, limits.max_train_seconds, min(120, limits.max_train_seconds), step=5,
                                      elem_id="train-budget"), "train.budget")  # fmt: skip
    first = min(120, limits.max_train_seconds)
    f.recipe = gr.Markdown(static(lambda lang: _recipe_line(AUTO, first, "file", PYDOC, lang)), elem_id="train-recipe")
    with gr.Row():
        f.model_name = gr.Textbox("", label=t("train.name"), max_lines=1, elem_id="train-name")
        f.resume = gr.Checkbox(label=t("train.resume"), info=t("train.resume.info"))


def _advanced_inputs(f: SimpleNamespace) -> None:
    with gr.Accordion(t("train.advanced"), open=False, elem_id="train-advanced"):
        with gr.Row():
            f.max_steps = Number(0, precision=0, minimum=0, label=t("train.max_steps"),
                                 info=t("train.max_steps.info"), elem_id="train-max-steps")  # fmt: skip
            f.optimizer = gr.Radio([(t("train.arch.auto"), AUTO), *OPTIMIZERS], value=AUTO, label=t("train.optimizer"),
                                   elem_id="train-optimizer", info=t("train.optimizer.info"))  # fmt: skip
            f.lr = Number(0, minimum=0, label=t("train.lr"), info=t("train.lr.info"))
            f.batch_size = Number(0, precision=0, minimum=0, label=t("train.batch"), info=t("train.batch.info"))
            f.eval_interval = Number(100, precision=0, minimum=1, label=t("train.eval_every"),
                                     elem_id="train-eval-every")  # fmt: skip
            f.seed = Number(1337, precision=0, label=t("train.seed"))
        with gr.Row():
            f.block_size = Number(0, precision=0, minimum=0, label=t("train.block_size"))
            f.n_layer = Number(0, precision=0, minimum=0, label=t("train.n_layer"))
            f.n_embd = Number(0, precision=0, minimum=0, label=t("train.n_embd"))
            f.n_head = Number(0, precision=0, minimum=0, label=t("train.n_head"))
            f.hidden_size = Number(0, precision=0, minimum=0, label=t("train.hidden_size"))
            f.dropout = Number(0, minimum=0, maximum=0.9, label=t("train.dropout"))


def _outputs(f: SimpleNamespace) -> None:
    f.bar = gr.Markdown("", elem_id="train-progress", min_height=48)  # the queue position and progress bar
    f.status = gr.Markdown("", elem_id="train-status")
    f.plot = gr.LinePlot(x="step", y="bits/char", color="split", label=t("train.plot"), y_lim=[0, None],
                         color_title="", elem_id="loss-plot")  # fmt: skip
    late_props(f.plot, axis_titles("plot.axis.step", "plot.axis.bpc"))  # a Chinese page gets Chinese axes
    f.sample = gr.Textbox(label=t("train.sample"), lines=5, interactive=False, elem_id="train-sample")
    f.trained = gr.Textbox(label=t("train.model"), visible=False, elem_id="train-model")
    f.keep_latest = gr.Button(t("train.keep_latest"), visible=False, elem_id="train-keep-latest")
    f.ckpt = late_label(gr.File(interactive=False, elem_id="ckpt", height=90), "train.checkpoint")


def _wire_form(f: SimpleNamespace, limits) -> None:
    """Live feedback while the form is filled in: the text's size and vocabulary, the model's parameters."""
    corpus_inputs = [getattr(f, k) for k in CORPUS_FIELDS]
    arch_inputs = [getattr(f, k) for k in ARCH_FIELDS]

    def corpus_stats(source, corpus_file, pasted_text, builtin, lowercase, collapse_whitespace, min_count,
                     request: gr.Request = None):  # fmt: skip
        """Size and vocabulary of the chosen text, before and after cleaning."""
        lang = lang_of(request)
        try:
            raw, name = load_source(source, corpus_file, pasted_text, builtin, limits.max_upload_bytes)
            _, st = clean_text(raw, CleanOptions(bool(lowercase), bool(collapse_whitespace), int(min_count or 0)))
        except CharlmError as exc:
            return f"⚠ {tr_error(lang, str(exc))}", None, None
        # the model's vocabulary: the text's characters plus the one for characters it has never seen
        return f"**{corpus_label(lang, name)}** · " + stats_markdown(st, lang), st.vocab_after + 1, st.chars_after

    def params_info(arch, size, block_size, n_layer, n_embd, n_head, hidden_size, dropout, vocab, chars,
                    request: gr.Request):  # fmt: skip
        if AUTO in (arch, size):
            return gr.update(info=tr(request, "train.size.auto.info"))
        try:
            extra = overrides(block_size, n_layer, n_embd, n_head, hidden_size, 0)
            n = config_parameters(preset_config(arch, size, vocab or DEFAULT_VOCAB, **extra))
        except (ValueError, CharlmError) as exc:
            return gr.update(info=f"⚠ {tr_error(request, str(exc))}")
        warn = tr(request, "train.size.over", limit=f"{limits.max_params:,}") if n > limits.max_params else ""
        info = (tr(request, "train.size.params.vocab", n=f"{n:,}", vocab=f"{vocab - 1:,}") if vocab
                else tr(request, "train.size.params", n=f"{n:,}"))  # fmt: skip
        if chars and text_too_short(int(chars), n):
            warn += tr(request, "train.size.short", chars=f"{int(chars):,}")
        return gr.update(info=info + warn)

    for comp in corpus_inputs:
        getattr(comp, "upload" if comp is f.corpus_file else "change")(
            corpus_stats, corpus_inputs, [f.stats, f.vocab, f.chars],
            api_name="corpus_stats" if comp is f.source else False, show_progress="hidden", trigger_mode="always_last",
        )  # fmt: skip
    f.corpus_file.upload(lambda: "file", None, f.source, api_visibility="private", queue=False)
    f.pasted_text.input(lambda: "paste", None, f.source, api_visibility="private", queue=False)
    # choosing a corpus in the list picks the built-in text; merely tabbing through the list must not: Gradio's
    # Dropdown sends "input" on every blur, which switched the training text behind the learner's back (issue 21)
    f.builtin.select(lambda: "builtin", None, f.source, api_visibility="private", queue=False)
    for comp in (f.arch, f.vocab):
        comp.change(_size_update, [f.arch, f.size, f.vocab], f.size, api_visibility="private", queue=False)
    for comp in (f.arch, f.time_budget, f.source, f.builtin):
        comp.change(_recipe_update, [f.arch, f.time_budget, f.source, f.builtin], f.recipe,
                    api_visibility="private", show_progress="hidden")  # fmt: skip
    for comp in (*arch_inputs, f.vocab, f.chars):
        comp.change(params_info, [*arch_inputs, f.vocab, f.chars], f.size, api_visibility="private",
                    show_progress="hidden")  # fmt: skip


def _wire_training(f: SimpleNamespace, registry: ModelRegistry, model_picker: gr.Dropdown) -> None:
    """Train / Stop: ``/train`` streams the run, ``/stop_training`` stops it keeping the model."""
    limits = registry.limits

    @user_errors(heavy=True)
    def train_model(
        source, corpus_file, pasted_text, builtin, lowercase, collapse_whitespace, min_count, arch, size,
        time_budget, max_steps, model_name, resume, lr, batch_size, eval_interval, seed, block_size, n_layer,
        n_embd, n_head, hidden_size, dropout, optimizer=AUTO, request: gr.Request = None,
        progress=gr.Progress(),  # noqa: B008
    ):  # fmt: skip
        """Train (or resume) a model on the chosen text; streams (plot, status, sample, model, checkpoint zip)."""
        form = {k: v for k, v in locals().items() if k not in ("request", "progress")}
        sess = registry.session(session_key(request))
        lang = lang_of(request)
        sess.last_result = None  # a run that fails before it starts must not show the previous run's outcome
        if not sess.queued:  # called over the API: no click reset the Stop flag
            sess.stop = threading.Event()
        sess.queued = False
        if sess.stop.is_set():  # Stop was clicked while the run waited for its slot
            yield gr.skip(), ui_text(lang, "train.stopped_before"), *(gr.skip(),) * 4
            return
        try:
            check_train_form(form, limits.max_train_seconds)
            job = plan_resume(registry, sess, form) if resume else plan_new(registry, sess, form, lang)
            yield from stream(registry, sess, job, progress, lang)
        except Exception as exc:  # the waiting line gives way to the error (user_errors shows it as a toast too)
            yield gr.skip(), f"⚠ {failure_text(exc, lang)}", *(gr.skip(),) * 4
            raise

    def after_training(request: gr.Request):
        """After a Stop (cancel) the generator cannot send its last update; this one shows the kept model."""
        sess = registry.session(session_key(request))
        sess.run_done.wait(timeout=60)
        if sess.last_result is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.update(interactive=True), gr.update(visible=False)
        name, zip_path, message = sess.last_result
        picker = gr.update(choices=registry.choices(session_key(request)), value=name)
        return picker, zip_path, message, gr.update(interactive=True), _keep_latest_button(name, request)

    def _keep_latest_button(name: str, request: gr.Request):
        """Offer the run's latest weights when the kept (best-validation) ones are from an earlier step."""
        try:
            fit = registry.fit(name, session_key(request))
        except CharlmError:
            fit = None
        if fit is None or not fit.kept_early:
            return gr.update(visible=False)
        return gr.update(visible=True, value=tr(request, "train.keep_latest.step", step=f"{fit.last_step:,}"))

    @user_errors
    def keep_latest(name: str, status: str, request: gr.Request):
        """Keep the latest weights of the run just trained as a model of their own, and select it."""
        key = session_key(request)
        new = registry.keep_latest(name, key)
        picker = gr.update(choices=registry.choices(key), value=new)
        return picker, f"{status}\n\n" + tr(request, "train.kept_latest", name=new), gr.update(visible=False)

    def stop_training(request: gr.Request) -> str:
        """Ask this session's training to stop; the trainer saves and the run ends normally, within a second (no
        cancelled event, so the page shows no error), and the model trained so far is kept."""
        registry.session(session_key(request)).stop.set()
        return tr(request, "train.stopping")

    def queued(request: gr.Request):
        sess = registry.session(session_key(request))
        sess.stop, sess.queued = threading.Event(), True  # a Stop from now on stops this run, even before it starts
        return (gr.update(interactive=False), tr(request, "train.queued", n=limits.max_concurrent_training),
                gr.update(visible=False))  # fmt: skip

    ev = f.start_btn.click(
        queued, None, [f.start_btn, f.status, f.keep_latest], queue=False, api_visibility="private",
    ).then(
        train_model, [getattr(f, k) for k in FORM_FIELDS],
        [f.plot, f.status, f.sample, f.trained, f.ckpt, model_picker], api_name="train",
        concurrency_limit=limits.max_concurrent_training, concurrency_id="train", show_progress_on=[f.bar],
    )  # fmt: skip
    ev.then(after_training, None, [model_picker, f.ckpt, f.status, f.start_btn, f.keep_latest],
            api_visibility="private")  # fmt: skip
    f.keep_latest.click(keep_latest, [f.trained, f.status], [model_picker, f.status, f.keep_latest],
                        api_visibility="private")  # fmt: skip
    ev.failure(lambda: gr.update(interactive=True), None, f.start_btn, api_visibility="private")
    f.stop_btn.click(stop_training, None, f.status, api_name="stop_training", queue=False)


def _recipe_line(arch: str, budget: float, source: str, builtin: str | None, lang: str = "en") -> str:
    """Which recipe "auto" trains for this budget, and why (charlm.recipes); a built-in corpus's vocabulary size is
    known before training (a large one, such as the Chinese poems', has recipes of its own)."""
    if arch != AUTO:
        return ""
    vocab_size = builtin_vocab_size(builtin) if source == "builtin" and builtin in BUILTIN else None
    return recipe_plain(budget, lang, vocab_size=vocab_size)


def _recipe_update(arch: str, budget: float, source: str, builtin: str | None, request: gr.Request) -> str:
    return _recipe_line(arch, budget, source, builtin, lang_of(request))


def _size_update(arch: str, size: str, vocab: int | None, request: gr.Request):
    """The size presets of the chosen architecture, with their parameter counts for the chosen text's vocabulary."""
    return gr.update(choices=size_choices(arch, vocab or DEFAULT_VOCAB, lang_of(request)), value=size)
