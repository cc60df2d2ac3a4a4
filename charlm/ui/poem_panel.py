"""Poem mode, in the Chat tab: a title (or a first line) in, one five-character quatrain (五言绝句) out.

The work is ``charlm.poetry.write_poem`` (the CLI's ``python -m charlm poem`` calls it too); this file lays out
the panel and shows the result: the poem in the asked script, a per-line form check, and the notices (simplified
characters converted, characters the model never saw). ``/poem`` is its API.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from charlm.errors import CharlmError, PoetryError
from charlm.generation.settings import Sampling
from charlm.poetry import LINE_CHARS, FormCheck, check_form, rule_for, write_poem
from charlm.storage.checkpoint import LoadedModel
from charlm.ui.common import Number, Slider, as_number, session_key, user_errors
from charlm.ui.gpu import gpu_task
from charlm.ui.i18n import chars_list, choices, lang_of, late_label, t, tr_error, ui_text
from charlm.ui.limits import Limits

Resolver = Callable[[str, str], LoadedModel]  # (model name, session key) -> model
POETRY_MODEL = "tang-poems-gru"  # the shipped poetry model, named in the hint when another model is picked
SCRIPTS = [("poem.script.simplified", "simplified"), ("poem.script.traditional", "traditional")]


def form_markdown(form: FormCheck, shown: list[str], lang: str) -> str:
    """The form check as a list, one line of the poem per item, in ``lang``. ``shown`` is the poem's lines in the
    script the user asked for (the check itself ran on the model's traditional characters; both split the same
    way)."""
    texts = shown
    if len(texts) != len(form.lines):  # a conversion that changed the line structure: show the checked text
        texts = [line.text for line in form.lines]
    head = ui_text(lang, "poem.form.ok") if form.ok else ui_text(lang, "poem.form.bad")
    items = []
    if len(form.lines) != 4:
        items.append("- ❌ " + ui_text(lang, "poem.problem.count", n=len(form.lines)))
    for line, shown_text in zip(form.lines, texts, strict=True):
        problems = []
        if line.expected_end is None:
            problems.append(ui_text(lang, "poem.problem.extra"))
        else:
            if line.chars != LINE_CHARS:
                problems.append(ui_text(lang, "poem.problem.chars", n=line.chars))
            if line.not_han:
                problems.append(ui_text(lang, "poem.problem.not_han", chars=chars_list(lang, line.not_han)))
            if line.end != line.expected_end:
                key = "poem.problem.end" if line.end else "poem.problem.no_end"
                problems.append(ui_text(lang, key, end=line.end, expected=line.expected_end))
        mark = "❌" if problems else "✅"
        detail = f" — {'; '.join(problems)}" if problems else ""
        items.append(f"- {mark} " + ui_text(lang, "poem.line", n=line.number, text=f"`{shown_text}`") + detail)
    return "\n".join([head, *items])


def poem_lines(poem: str) -> list[str]:
    """A poem's lines, each with its closing punctuation (the form check's split)."""
    return [line.text for line in check_form(poem).lines]


def poem_text(title: str, lines: list[str], poem: str) -> str:
    """The title, then the poem one line per row (as a quatrain is printed), for the page."""
    return "\n".join([title, "", *(lines or [poem])])


def check_poetry_model(loaded: LoadedModel) -> None:
    """A clear message, before any sampling, when the picked model was not trained on Chinese poems."""
    try:
        rule_for(loaded.vocab)
    except PoetryError as exc:
        raise CharlmError(f"{exc}: pick a model trained on Chinese poems, such as {POETRY_MODEL}") from None


def build_poem_panel(model_picker: gr.Dropdown, resolve: Resolver, limits: Limits, default_model: str = "") -> None:
    """The poem panel (inside the Chat tab) and its ``/poem`` endpoint."""
    with gr.Accordion(t("poem.panel"), open=True, elem_id="poem-panel"):
        gr.Markdown(t("poem.intro"))
        with gr.Row():
            title = gr.Textbox(label=t("poem.title"), placeholder=t("poem.title.placeholder"), max_lines=1,
                               elem_id="poem-title")  # fmt: skip
            first_line = gr.Textbox(label=t("poem.first_line"), placeholder=t("poem.first_line.placeholder"),
                                    max_lines=1, elem_id="poem-first-line")  # fmt: skip
        with gr.Row():
            constrained = gr.Checkbox(True, label=t("poem.constrained"), info=t("poem.constrained.info"),
                                      elem_id="poem-constrained")  # fmt: skip
            script = gr.Radio(choices(SCRIPTS), value="simplified", label=t("poem.script"), elem_id="poem-script")
            temperature = late_label(Slider(0.0, 2.0, 0.8, step=0.05, info=t("chat.temperature.info"),
                                            elem_id="poem-temperature"), "chat.temperature")  # fmt: skip
            seed = Number(-1, precision=0, label=t("chat.seed"), info=t("chat.seed.info"), elem_id="poem-seed")
        write = gr.Button(t("poem.write"), variant="primary", elem_id="poem-write")
        with gr.Row():
            poem = gr.Textbox(label=t("poem.output"), lines=6, interactive=False, elem_id="poem-output",
                              buttons=["copy"])  # fmt: skip
            with gr.Column():
                form = gr.Markdown(elem_id="poem-form")
                notice = gr.Markdown(elem_id="poem-notice")

    @gpu_task(duration=30)
    @user_errors
    def write_a_poem(
        title: str = "",
        first_line: str = "",
        model: str = default_model,
        constrained: bool = True,
        script: str = "simplified",
        temperature: float = 0.8,
        seed: int = -1,
        request: gr.Request = None,
    ) -> tuple[str, str, str]:
        """One quatrain for a title and/or first line: (the poem, its form check, notices) as the page shows them."""
        lang = lang_of(request)
        temperature = as_number(temperature, "temperature")
        seed = None if seed is None else as_number(seed, "seed", integer=True)
        if not 0 <= temperature <= 2:
            raise CharlmError(f"temperature must be between 0 and 2, not {temperature}")
        loaded = resolve(model or default_model, session_key(request))
        check_poetry_model(loaded)
        seed = None if seed is None or seed < 0 else seed
        result = write_poem(loaded, title or "", first_line or "", constrained=bool(constrained), script=script,
                            sampling=Sampling(temperature=float(temperature), seed=seed))  # fmt: skip
        notices = "\n".join(f"⚠ {tr_error(lang, n)}" for n in result.notices)
        lines = poem_lines(result.poem)
        return poem_text(result.title, lines, result.poem), form_markdown(result.form, lines, lang), notices

    inputs, outputs = [title, first_line, model_picker, constrained, script, temperature, seed], [poem, form, notice]
    slots = {"concurrency_limit": limits.chat_concurrency, "concurrency_id": "chat"}  # shared with the chat's replies
    write.click(write_a_poem, inputs, outputs, api_name="poem", **slots)
    title.submit(write_a_poem, inputs, outputs, api_visibility="private", **slots)
