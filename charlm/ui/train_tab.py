"""The Train tab: pick a text, clean it, pick an architecture and a size, and watch the model learn.

Training is a generator event (``/train``) that yields about once a second, so the plot stays live and Stop or a
closed tab takes effect within a second. Whatever happens, the checkpoint saved so far becomes a model of this
session: it appears in the model picker and can be downloaded as a zip or resumed.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from charlm.cleaning import CleanOptions, clean_text
from charlm.corpora import BUILTIN, PYDOC, load_source
from charlm.errors import CharlmError
from charlm.models import ARCHS, PRESETS, config_parameters, preset_config
from charlm.optim import OPTIMIZERS
from charlm.ui.common import Number, Slider, user_errors
from charlm.ui.experiments import build_experiments
from charlm.ui.registry import ModelRegistry
from charlm.ui.train_job import AUTO, check_form, overrides, plan_new, plan_resume, recipe_for_form, stream

INTRO = (
    "Train your own character-level model. Choose a text (upload a `.txt`, paste one, or use the built-in "
    "Python documentation), optionally clean it, choose an architecture and a size, and press **Train**. "
    "The plot shows training and validation loss (lower is better); at each evaluation you see a sample of "
    "what the model writes. **Stop** keeps the model trained so far. The model appears in the model picker "
    "at the top, ready to chat with, and can be downloaded as a zip."
)
SOURCES = [("Uploaded file", "file"), ("Pasted text", "paste"), ("Built-in corpus", "builtin")]


def size_choices(arch: str, vocab_size: int = 100) -> list[tuple[str, str]]:
    """ "auto" (the recipe's size; "tiny" for a chosen architecture), then the presets with their parameters."""
    auto = ("auto: the recipe's", AUTO)
    if arch == AUTO:
        return [auto, *[(s, s) for s in PRESETS["gpt"]]]
    presets = PRESETS.get(arch, PRESETS["gpt"])
    return [auto, *((f"{s} · {config_parameters(preset_config(arch, s, vocab_size)):,} params", s) for s in presets)]


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
    with gr.Tab("Train", elem_id="tab-train"):
        gr.Markdown(INTRO)
        f = SimpleNamespace()
        with gr.Row():
            with gr.Column():
                _text_inputs(f)
            with gr.Column():
                _cleaning_inputs(f)
                _model_inputs(f, registry.limits)
        _advanced_inputs(f)
        with gr.Row():
            f.start_btn = gr.Button("Train", variant="primary", elem_id="train-btn")
            f.stop_btn = gr.Button("Stop", variant="stop", elem_id="train-stop")
        _outputs(f)
        build_experiments(f, model_picker, registry)
    _wire_form(f, registry.limits)
    _wire_training(f, registry, model_picker)


def _text_inputs(f: SimpleNamespace) -> None:
    f.source = gr.Radio(SOURCES, value="file", label="Training text", elem_id="train-source")
    f.corpus_file = gr.File(label="Upload a .txt", file_types=[".txt"], type="filepath", elem_id="train-file",
                            height=120)  # fmt: skip
    f.pasted_text = gr.Textbox("", label="…or paste text", lines=4, max_lines=10, elem_id="train-paste")
    f.builtin = gr.Dropdown(list(BUILTIN), value=PYDOC, label="…or a built-in corpus (works offline)")


def _cleaning_inputs(f: SimpleNamespace) -> None:
    with gr.Row():
        f.lowercase = gr.Checkbox(label="Lowercase", info="fewer characters to learn")
        f.collapse_whitespace = gr.Checkbox(label="Collapse whitespace", info="runs of spaces → one")
    f.min_count = Number(0, precision=0, minimum=0, label="Drop characters rarer than",
                            info="0 = keep all; e.g. 5 removes stray symbols")  # fmt: skip
    f.stats = gr.Markdown("Choose a text to see its size and vocabulary.", elem_id="train-stats")


def _model_inputs(f: SimpleNamespace, limits) -> None:
    f.arch = gr.Radio([AUTO, *ARCHS], value=AUTO, label="Architecture", elem_id="train-arch",
                      info="auto: the best measured recipe for the time budget; gpt: transformer; "
                      "lstm/gru/rnn: recurrent networks")  # fmt: skip
    f.size = gr.Radio(size_choices(AUTO), value=AUTO, label="Size", elem_id="train-size")
    f.time_budget = Slider(5, limits.max_train_seconds, min(120, limits.max_train_seconds), step=5,
                              label="Time budget (seconds)", elem_id="train-budget")  # fmt: skip
    f.recipe = gr.Markdown(_recipe_line(AUTO, min(120, limits.max_train_seconds)), elem_id="train-recipe")
    with gr.Row():
        f.model_name = gr.Textbox("", label="Model name (optional)", max_lines=1, elem_id="train-name")
        f.resume = gr.Checkbox(label="Resume my last run", info="same text; trains for the budget again")


def _advanced_inputs(f: SimpleNamespace) -> None:
    with gr.Accordion("Advanced settings (0 = the preset's value)", open=False, elem_id="train-advanced"):
        with gr.Row():
            f.max_steps = Number(0, precision=0, minimum=0, label="Max steps", info="0 = until the time budget",
                                    elem_id="train-max-steps")  # fmt: skip
            f.optimizer = gr.Radio(list(OPTIMIZERS), value="adamw", label="Optimizer", elem_id="train-optimizer",
                                   info="momentum: SGD + 0.9 momentum; adamw: Adam + decoupled decay")  # fmt: skip
            f.lr = Number(0, minimum=0, label="Learning rate",
                          info="0 = the recipe's (auto), else the measured default for the optimizer")  # fmt: skip
            f.batch_size = Number(0, precision=0, minimum=0, label="Batch size", info="0 = the recipe's (auto) or 32")
            f.eval_interval = Number(100, precision=0, minimum=1, label="Evaluate every (steps)",
                                        elem_id="train-eval-every")  # fmt: skip
            f.seed = Number(1337, precision=0, label="Seed")
        with gr.Row():
            f.block_size = Number(0, precision=0, minimum=0, label="Context length (chars)")
            f.n_layer = Number(0, precision=0, minimum=0, label="Layers")
            f.n_embd = Number(0, precision=0, minimum=0, label="Embedding width")
            f.n_head = Number(0, precision=0, minimum=0, label="Heads (gpt)")
            f.hidden_size = Number(0, precision=0, minimum=0, label="Hidden size (recurrent)")
            f.dropout = Number(0, minimum=0, maximum=0.9, label="Dropout")


def _outputs(f: SimpleNamespace) -> None:
    f.bar = gr.Markdown("", elem_id="train-progress", min_height=48)  # the queue position and progress bar
    f.status = gr.Markdown("", elem_id="train-status")
    f.plot = gr.LinePlot(x="step", y="loss", color="split", label="Loss (nats per character)", y_lim=[0, None],
                         elem_id="loss-plot")  # fmt: skip
    f.sample = gr.Textbox(label="Sample at the latest evaluation", lines=5, interactive=False, elem_id="train-sample")
    f.trained = gr.Textbox(label="Trained model", visible=False, elem_id="train-model")
    f.ckpt = gr.File(label="Checkpoint (zip: model.safetensors + config.json)", interactive=False, elem_id="ckpt",
                     height=90)  # fmt: skip


def _wire_form(f: SimpleNamespace, limits) -> None:
    """Live feedback while the form is filled in: the text's size and vocabulary, the model's parameters."""
    corpus_inputs = [getattr(f, k) for k in CORPUS_FIELDS]
    arch_inputs = [getattr(f, k) for k in ARCH_FIELDS]

    def corpus_stats(source, corpus_file, pasted_text, builtin, lowercase, collapse_whitespace, min_count):
        """Size and vocabulary of the chosen text, before and after cleaning."""
        try:
            text, name = load_source(source, corpus_file, pasted_text, builtin, limits.max_upload_bytes)
            _, st = clean_text(text, CleanOptions(bool(lowercase), bool(collapse_whitespace), int(min_count or 0)))
        except CharlmError as exc:
            return f"⚠ {exc}"
        return f"**{name}** · " + st.markdown()

    def params_info(arch, size, block_size, n_layer, n_embd, n_head, hidden_size, dropout):
        if AUTO in (arch, size):
            return gr.update(info="auto: the recipe sets it (the line below the time budget says which)")
        try:
            extra = overrides(block_size, n_layer, n_embd, n_head, hidden_size, 0)
            n = config_parameters(preset_config(arch, size, 100, **extra))
        except (ValueError, CharlmError) as exc:
            return gr.update(info=f"⚠ {exc}")
        warn = f" — over this server's limit of {limits.max_params:,}" if n > limits.max_params else ""
        return gr.update(info=f"≈ {n:,} parameters (for a 100-character vocabulary){warn}")

    for comp in corpus_inputs:
        getattr(comp, "upload" if comp is f.corpus_file else "change")(
            corpus_stats, corpus_inputs, f.stats, api_name="corpus_stats" if comp is f.source else False,
            show_progress="hidden", trigger_mode="always_last",
        )  # fmt: skip
    f.corpus_file.upload(lambda: "file", None, f.source, api_visibility="private", queue=False)
    f.pasted_text.input(lambda: "paste", None, f.source, api_visibility="private", queue=False)
    f.builtin.input(lambda: "builtin", None, f.source, api_visibility="private", queue=False)
    f.arch.change(_size_update, [f.arch, f.size], f.size, api_visibility="private", queue=False)
    for comp in (f.arch, f.time_budget):
        comp.change(_recipe_line, [f.arch, f.time_budget], f.recipe, api_visibility="private", show_progress="hidden")
    for comp in arch_inputs:
        comp.change(params_info, arch_inputs, f.size, api_visibility="private", show_progress="hidden")


def _wire_training(f: SimpleNamespace, registry: ModelRegistry, model_picker: gr.Dropdown) -> None:
    """Train / Stop: ``/train`` streams the run, ``/stop_training`` stops it keeping the model."""
    limits = registry.limits

    @user_errors(heavy=True)
    def train_model(
        source, corpus_file, pasted_text, builtin, lowercase, collapse_whitespace, min_count, arch, size,
        time_budget, max_steps, model_name, resume, lr, batch_size, eval_interval, seed, block_size, n_layer,
        n_embd, n_head, hidden_size, dropout, optimizer="adamw", request: gr.Request = None,
        progress=gr.Progress(),  # noqa: B008
    ):  # fmt: skip
        """Train (or resume) a model on the chosen text; streams (plot, status, sample, model, checkpoint zip)."""
        form = {k: v for k, v in locals().items() if k not in ("request", "progress")}
        sess = registry.session(request.session_hash or "")
        check_form(form, limits.max_train_seconds)
        job = plan_resume(registry, sess, form) if resume else plan_new(registry, sess, form)
        yield from stream(registry, sess, job, progress)

    def after_training(request: gr.Request):
        """After a Stop (cancel) the generator cannot send its last update; this one shows the kept model."""
        sess = registry.session(request.session_hash or "")
        sess.run_done.wait(timeout=60)
        if sess.last_result is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.update(interactive=True)
        name, zip_path, message = sess.last_result
        picker = gr.update(choices=registry.choices(request.session_hash or ""), value=name)
        return picker, zip_path, message, gr.update(interactive=True)

    def stop_training(request: gr.Request) -> str:
        """Ask this session's training to stop; the model trained so far is kept."""
        registry.session(request.session_hash or "").stop.set()
        return "Stopping… the model trained so far is being saved."

    queued = f"⏳ Waiting for a training slot ({limits.max_concurrent_training} run(s) at a time; your place is shown)…"
    ev = f.start_btn.click(
        lambda: (gr.update(interactive=False), queued), None, [f.start_btn, f.status], queue=False,
        api_visibility="private",
    ).then(
        train_model, [getattr(f, k) for k in FORM_FIELDS],
        [f.plot, f.status, f.sample, f.trained, f.ckpt, model_picker], api_name="train",
        concurrency_limit=limits.max_concurrent_training, concurrency_id="train", show_progress_on=[f.bar],
    )  # fmt: skip
    ev.then(after_training, None, [model_picker, f.ckpt, f.status, f.start_btn], api_visibility="private")
    ev.failure(lambda: gr.update(interactive=True), None, f.start_btn, api_visibility="private")
    f.stop_btn.click(stop_training, None, f.status, api_name="stop_training", queue=False, cancels=[ev])


def _recipe_line(arch: str, budget: float) -> str:
    """Which recipe "auto" trains for this budget, and why (charlm.recipes)."""
    if arch != AUTO:
        return ""
    form = {"arch": AUTO, "time_budget": budget, "block_size": 0, "batch_size": 0, "lr": 0}
    return "ℹ " + recipe_for_form(form)[2]


def _size_update(arch: str, size: str):
    """The size presets of the chosen architecture, with their parameter counts."""
    return gr.update(choices=size_choices(arch), value=size)
