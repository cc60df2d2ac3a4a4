"""The Learn tab (学习): the chapter's ideas as ten short lessons, each on a real model.

Every lesson has the same shape: a short explanation, a model picker (the shipped models and the learner's own), one
live figure computed by the core (``charlm.lessons``, drawn by ``charlm.ui.learn_lessons``), a "try this" control
that changes the figure, a button that opens the full tab with the same settings, and a "done" box remembered by
the browser (``gr.BrowserState``). A lesson is drawn when it is opened; the two that train (5 and 10) train on
request, with progress. Every lesson is also an API endpoint (``/learn_vectors`` ... ``/learn_chapter``).

``build_learn_tab`` makes the tab (call it first, so it comes first in the bar); ``LearnTab.link(demo)`` wires the
"open the full tab" buttons once every other tab exists (it finds their inputs by ``elem_id`` or label key).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import gradio as gr

from charlm.errors import DataError
from charlm.ui import learn_lessons as draw
from charlm.ui.common import Slider, session_key, user_errors
from charlm.ui.i18n import choices, lang_of, late_label, static, t, ui_text
from charlm.ui.limits import Limits
from charlm.ui.registry import ModelRegistry

SLUGS = (
    "vectors",
    "attention",
    "recurrent",
    "loss",
    "training",
    "decoding",
    "tuning",
    "evaluation",
    "equations",
    "chapter",
)
SENTENCE = "To be, or not to be, that is the question."
LOSS_EXAMPLES = [SENTENCE, "TO BE, OR NOT TO BE, THAT IS THE QUESTION.", "Download the app and log in with email."]
REFERENCE = "the cat sat on the mat by the door"
CANDIDATES = [
    "the cat sat on the mat by the door",
    "the cat sat on the mat",
    "a cat was sitting on a mat near a door",
    "door the by mat the on sat cat the",
]
SAMPLE_TEXT = (
    "ROMEO:\nBut soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"
    "Arise, fair sun, and kill the envious moon,\nWho is already sick and pale with grief,\n"
)


@dataclass
class Lesson:
    """One lesson's components and what it computes; ``link`` maps its inputs to the full tab's settings."""

    slug: str
    tab: str  # elem_id of the full tab
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    fn: Callable | None = None
    triggers: list = field(default_factory=list)
    link: Callable[..., dict] | None = None  # (*input values) -> {elem_id or label key: value}
    heavy: bool = False
    open_btn: gr.Button | None = None
    done: gr.Checkbox | None = None
    page: gr.Tab | None = None


def _progress_md(done: list[str], lang: str) -> str:
    marks = " ".join(f"**{i}✓**" if s in done else f"{i}" for i, s in enumerate(SLUGS, 1))
    return ui_text(lang, "learn.progress", n=len([s for s in SLUGS if s in done]), total=len(SLUGS), marks=marks)


class LearnTab:
    def __init__(self, picker: gr.Dropdown, registry: ModelRegistry, limits: Limits) -> None:
        self.picker, self.registry, self.limits = picker, registry, limits
        self.lessons: dict[str, Lesson] = {}
        self.pickers: list[gr.Dropdown] = []
        self.shipped = list(registry.shipped)

    # --- models --------------------------------------------------------------------------------------------------
    def default_model(self, *archs: str) -> str | None:
        for name, entry in self.registry.shipped.items():
            if not archs or entry.loaded.config.arch in archs:
                return name
        return self.registry.default_name

    def model_picker(self, slug: str, *archs: str) -> gr.Dropdown:
        dd = gr.Dropdown(
            self.shipped,
            value=self.default_model(*archs),
            label=t("learn.model"),
            allow_custom_value=True,
            elem_id=f"learn-{slug}-model",
            scale=1,
        )
        self.pickers.append(dd)
        return dd

    def resolve(self, name: str, request: gr.Request):
        if not isinstance(name, str) or not name:
            raise DataError("pick a model")
        return self.registry.resolve(name, session_key(request))

    def partner(self, loaded, request: gr.Request):
        """Another model with the same characters (for the ensemble), or None."""
        for name in self.registry.choices(session_key(request)):
            other = self.resolve(name, request)
            if other is not loaded and other.vocab.chars == loaded.vocab.chars:
                return other
        return None

    # --- layout --------------------------------------------------------------------------------------------------
    def build(self) -> None:
        with gr.Tab(t("learn.tab"), elem_id="tab-learn") as self.tab:
            gr.Markdown(t("learn.intro"))
            self.progress = gr.Markdown(
                static(lambda lang: _progress_md([], lang), "learn.progress"), elem_id="learn-progress"
            )
            # inside the tab: anything but a Tab directly in a gr.Tabs shifts Gradio's tab bar by one
            self.store = gr.BrowserState([], storage_key="charlm-learn-progress")
            with gr.Tabs(elem_id="learn-lessons") as self.inner:
                for i, slug in enumerate(SLUGS, 1):
                    with gr.Tab(t(f"learn.{slug}.short", n=i), elem_id=f"learn-{slug}", id=f"learn-{slug}") as page:
                        heading = static(
                            lambda lang, s=slug, n=i: "### " + ui_text(lang, f"learn.{s}.title", n=n), "learn"
                        )
                        gr.Markdown(heading, elem_id=f"learn-{slug}-title")
                        gr.Markdown(t(f"learn.{slug}.text"), elem_id=f"learn-{slug}-text")
                        gr.Markdown(t(f"learn.{slug}.try"), elem_id=f"learn-{slug}-try")
                        lesson = getattr(self, f"_{slug}")()
                        lesson.page = page
                        with gr.Row():
                            lesson.open_btn = gr.Button(
                                t(f"learn.open.{lesson.tab}"), elem_id=f"learn-{slug}-open", size="sm", scale=0
                            )
                            lesson.done = gr.Checkbox(False, label=t("learn.done"), elem_id=f"learn-{slug}-done")
                        self.lessons[slug] = lesson
        self._wire()

    def _figure(self, slug: str, html: bool = False):
        fig = gr.HTML(elem_id=f"learn-{slug}-fig") if html else gr.Plot(elem_id=f"learn-{slug}-fig", show_label=False)
        note = gr.Markdown(elem_id=f"learn-{slug}-note")
        return fig, note

    # --- the ten lessons -----------------------------------------------------------------------------------------
    def _vectors(self) -> Lesson:
        with gr.Row():
            model = self.model_picker("vectors", "gpt")
            char = gr.Dropdown(
                list("eaoiuTtsnm ,.?"),
                value="e",
                label=t("learn.vectors.char"),
                allow_custom_value=True,
                elem_id="learn-vectors-try-input",
                scale=1,
            )
        fig, note = self._figure("vectors")

        def fn(model_, char_, request: gr.Request):
            return draw.vectors(self.resolve(model_, request), char_, lang_of(request))

        return Lesson(
            "vectors",
            "tab-inspect",
            [model, char],
            [fig, note],
            fn,
            [model, char],
            lambda m, c: {"model": m, "inspect-text": SAMPLE_TEXT},
        )

    def _attention(self) -> Lesson:
        with gr.Row():
            model = self.model_picker("attention", "gpt")
            sentence = gr.Textbox(SENTENCE, label=t("learn.sentence"), max_lines=1, elem_id="learn-attention-text")
            head = late_label(Slider(0, 47, 0, step=1, elem_id="learn-attention-try-input"), "learn.attention.head")
        fig, note = self._figure("attention")

        def fn(model_, sentence_, head_, request: gr.Request):
            return draw.attention(self.resolve(model_, request), sentence_ or "", int(head_ or 0), lang_of(request))

        return Lesson(
            "attention",
            "tab-inspect",
            [model, sentence, head],
            [fig, note],
            fn,
            [model, head],
            lambda m, s, h: {"model": m, "inspect-text": s},
        )

    def _recurrent(self) -> Lesson:
        with gr.Row():
            model = self.model_picker("recurrent", "lstm", "gru")
            sentence = gr.Textbox(
                'He said "stop", and she stopped.',
                label=t("learn.sentence"),
                max_lines=1,
                elem_id="learn-recurrent-text",
            )
            view = gr.Radio(
                choices([("learn.recurrent.gates", "gates"), ("learn.recurrent.state", "state")]),
                value="gates",
                label=t("learn.recurrent.view"),
                elem_id="learn-recurrent-try-input",
            )
        fig, note = self._figure("recurrent")

        def fn(model_, sentence_, view_, request: gr.Request):
            return draw.recurrent(self.resolve(model_, request), sentence_ or "", view_, lang_of(request))

        return Lesson(
            "recurrent",
            "tab-inspect",
            [model, sentence, view],
            [fig, note],
            fn,
            [model, view],
            lambda m, s, v: {"model": m, "inspect-text": s},
        )

    def _loss(self) -> Lesson:
        with gr.Row():
            model = self.model_picker("loss", "gpt")
            sentence = gr.Dropdown(
                LOSS_EXAMPLES,
                value=SENTENCE,
                label=t("learn.loss.input"),
                allow_custom_value=True,
                elem_id="learn-loss-try-input",
                scale=2,
            )
        fig, note = self._figure("loss")

        def fn(model_, sentence_, request: gr.Request):
            return draw.loss(self.resolve(model_, request), sentence_ or "", lang_of(request))

        return Lesson(
            "loss",
            "tab-evaluate",
            [model, sentence],
            [fig, note],
            fn,
            [model, sentence],
            lambda m, s: {"model": m, "eval-model-text": s},
        )

    def _training(self) -> Lesson:
        from charlm.corpora import BUILTIN, PYDOC, builtin_text
        from charlm.lessons.training import MAX_SECONDS, sgd_vs_adam

        with gr.Row():
            model = self.model_picker("training", "lstm")
            seconds = late_label(
                Slider(4, MAX_SECONDS, 10, step=2, elem_id="learn-training-seconds"), "learn.training.seconds"
            )
        own = gr.Textbox("", label=t("learn.training.own"), lines=3, max_lines=6, elem_id="learn-training-own")
        run = gr.Button(t("learn.training.run"), variant="primary", elem_id="learn-training-try-input")
        fig, note = self._figure("training")

        def fn(model_, seconds_, own_, request: gr.Request, progress=gr.Progress()):  # noqa: B008
            lang = lang_of(request)
            arch = self.resolve(model_, request).config.arch
            corpus = own_ if (own_ or "").strip() else builtin_text(PYDOC if PYDOC in BUILTIN else next(iter(BUILTIN)))
            stop = threading.Event()
            try:
                seconds_ = min(float(seconds_), float(self.limits.max_train_seconds))  # this server's training cap
                for ev in sgd_vs_adam(corpus[:200_000], seconds_, arch, should_stop=stop.is_set):
                    progress(ev["progress"], desc=ui_text(lang, "learn.training.progress"))
                    yield draw.training_figure(ev["curves"], lang), draw.training_note(ev, lang)
            finally:
                stop.set()

        return Lesson(
            "training",
            "tab-train",
            [model, seconds, own],
            [fig, note],
            fn,
            [run],
            lambda m, s, o: {
                "compare-budget": max(5, int(s) // 2),
                "train-paste": o,
                "train-source": "paste" if (o or "").strip() else "builtin",
            },
            heavy=True,
        )

    def _decoding(self) -> Lesson:
        with gr.Row():
            model = self.model_picker("decoding", "gpt")
            prompt = gr.Textbox(
                "ROMEO:\nBut soft", label=t("learn.decoding.prompt"), lines=2, elem_id="learn-dec-prompt"
            )
        with gr.Row():
            temp = late_label(Slider(0.1, 2.0, 1.0, step=0.05, elem_id="learn-decoding-try-input"), "learn.dec.t")
            top_k = late_label(Slider(0, 60, 0, step=1, elem_id="learn-dec-top-k"), "learn.dec.k")
            top_p = late_label(Slider(0.05, 1.0, 1.0, step=0.05, elem_id="learn-dec-top-p"), "learn.dec.p")
            width = late_label(Slider(1, 8, 4, step=1, elem_id="learn-dec-beam"), "learn.dec.beam")
        step = late_label(Slider(0, 40, 0, step=1, elem_id="learn-dec-step"), "learn.dec.step")
        fig, note = self._figure("decoding")

        def fn(model_, prompt_, t_, k_, p_, w_, step_, request: gr.Request):
            loaded = self.resolve(model_, request)
            return draw.decoding(loaded, prompt_ or "", float(t_), int(k_), float(p_), int(w_), int(step_),
                                 lang_of(request))  # fmt: skip

        return Lesson(
            "decoding",
            "tab-chat",
            [model, prompt, temp, top_k, top_p, width, step],
            [fig, note],
            fn,
            [model, temp, top_k, top_p, width, step],
            lambda m, pr, te, k, p, w, st: {
                "model": m,
                "chat.temperature": te,
                "chat.top_k": k,
                "chat.top_p": p,
                "chat-mode": "completion",
            },
        )

    def _tuning(self) -> Lesson:
        with gr.Row():
            model = self.model_picker("tuning", "gpt")
            what = gr.Radio(
                choices(
                    [
                        ("learn.tuning.ensemble", "ensemble"),
                        ("learn.tuning.int8", "int8"),
                        ("learn.tuning.search", "search"),
                    ]
                ),
                value="ensemble",
                label=t("learn.tuning.what"),
                elem_id="learn-tuning-try-input",
            )
        fig, note = self._figure("tuning")

        def fn(model_, what_, request: gr.Request):
            loaded = self.resolve(model_, request)
            what_ = what_ if what_ in ("ensemble", "int8", "search") else "ensemble"
            partner = self.partner(loaded, request) if what_ == "ensemble" else None
            sample = SAMPLE_TEXT * 40 if what_ == "search" else SAMPLE_TEXT
            return draw.tuning(loaded, partner, what_, sample, lang_of(request))

        def link(m, w):
            models = [m] + [n for n in self.shipped if n != m][:1]
            return {"model": m, "ensemble-models": models, "ensemble-text": SAMPLE_TEXT}

        return Lesson("tuning", "tab-evaluate", [model, what], [fig, note], fn, [model, what], link)

    def _evaluation(self) -> Lesson:
        with gr.Row():
            model = self.model_picker("evaluation", "gpt")
            sentence = gr.Textbox(SENTENCE, label=t("learn.sentence"), max_lines=1, elem_id="learn-eval-text")
        with gr.Row():
            candidate = gr.Dropdown(
                CANDIDATES,
                value=CANDIDATES[1],
                label=t("learn.eval.candidate"),
                allow_custom_value=True,
                elem_id="learn-evaluation-try-input",
            )
            reference = gr.Textbox(REFERENCE, label=t("learn.eval.reference"), max_lines=1, elem_id="learn-eval-ref")
        fig, note = self._figure("evaluation")

        def fn(model_, sentence_, cand, ref, request: gr.Request):
            return draw.evaluation(
                self.resolve(model_, request), sentence_ or "", cand or "", ref or "", lang_of(request)
            )

        return Lesson(
            "evaluation",
            "tab-evaluate",
            [model, sentence, candidate, reference],
            [fig, note],
            fn,
            [model, candidate],
            lambda m, s, c, r: {"model": m, "eval-hyps": c, "eval-refs": r},
        )

    def _equations(self) -> Lesson:
        from charlm.backprop.trace import n_steps

        last = n_steps(2) - 1
        step = late_label(Slider(0, last, 0, step=1, elem_id="learn-equations-try-input"), "learn.equations.step")
        with gr.Row():
            fig = gr.HTML(elem_id="learn-equations-fig")
            eqs = gr.HTML(elem_id="learn-equations-note")

        def fn(step_, request: gr.Request):
            svg, eq, _ = draw.equations(int(step_ or 0), lang_of(request))
            return svg, eq

        return Lesson(
            "equations",
            "tab-backprop",
            [step],
            [fig, eqs],
            fn,
            [step],
            lambda s: {"bp-preset": "textbook (corrected)", "bp-step-no": int(s or 0)},
        )

    def _chapter(self) -> Lesson:
        from charlm.lessons.chapter import MAX_STEPS, train_sentence
        from charlm.lessons.chapter import SENTENCE as CH_SENTENCE

        gr.Markdown(t("learn.chapter.defects"), elem_id="learn-chapter-defects")
        with gr.Row():
            sentence = gr.Textbox(
                CH_SENTENCE, label=t("learn.chapter.sentence"), max_lines=1, elem_id="learn-chapter-text", scale=3
            )
            steps = late_label(
                Slider(20, MAX_STEPS, 120, step=10, elem_id="learn-chapter-steps"), "learn.chapter.steps"
            )
        run = gr.Button(t("learn.chapter.run"), variant="primary", elem_id="learn-chapter-try-input")
        fig, note = self._figure("chapter")

        def fn(sentence_, steps_, request: gr.Request, progress=gr.Progress()):  # noqa: B008
            lang = lang_of(request)
            progress(0.0, desc=ui_text(lang, "learn.training.progress"))
            result = train_sentence(sentence_ or "", int(steps_ or 0), progress=lambda f: progress(f))
            return draw.chapter_figure(result, lang), draw.chapter_note(result, lang)

        return Lesson(
            "chapter",
            "tab-train",
            [sentence, steps],
            [fig, note],
            fn,
            [run],
            lambda s, n: {"train-source": "paste", "train-paste": s, "train-arch": "lstm"},
            heavy=True,
        )

    # --- events --------------------------------------------------------------------------------------------------
    def _wire(self) -> None:
        heavy = self.limits.max_concurrent_training
        for slug, lesson in self.lessons.items():
            fn = user_errors(lesson.fn, heavy=lesson.heavy)
            common = dict(
                concurrency_limit=heavy if lesson.heavy else 2,
                concurrency_id="train" if lesson.heavy else f"learn-{slug}",
            )
            if lesson.heavy:  # trains: only on request, with progress
                lesson.triggers[0].click(fn, lesson.inputs, lesson.outputs, api_name=f"learn_{slug}", **common)
                continue
            events = [lesson.page.select] + [c.change for c in lesson.triggers]
            events += [c.submit for c in lesson.inputs if isinstance(c, gr.Textbox) and c not in lesson.triggers]
            gr.on(
                events,
                fn,
                lesson.inputs,
                lesson.outputs,
                api_name=f"learn_{slug}",
                trigger_mode="always_last",
                show_progress="minimal",
                **common,
            )
        first = self.lessons[SLUGS[0]]
        self.demo_load = (user_errors(first.fn), first.inputs, first.outputs)
        self._wire_progress()

        def refresh(request: gr.Request):
            names = self.registry.choices(session_key(request))
            return [gr.update(choices=names) for _ in self.pickers]

        self.tab.select(refresh, None, self.pickers, api_visibility="private", queue=False, show_progress="hidden")

    def _wire_progress(self) -> None:
        boxes = [lesson.done for lesson in self.lessons.values()]

        def mark(stored: list | None, *values):
            """A box was ticked or cleared: store the lessons done in this browser (the request's language is
            Gradio's, ``lang_of()``: a keyword after ``*values`` is not given the request)."""
            done = [s for s, v in zip(SLUGS, values, strict=True) if v is True]
            return done, _progress_md(done, lang_of())

        def restore(stored: list | None, request: gr.Request):
            done = [s for s in (stored if isinstance(stored, list) else []) if s in SLUGS]
            return [_progress_md(done, lang_of(request)), *[s in done for s in SLUGS]]

        for box in boxes:
            box.input(mark, [self.store, *boxes], [self.store, self.progress], api_visibility="private", queue=False)
        self.restore = (restore, [self.store], [self.progress, *boxes])

    def link(self, demo: gr.Blocks) -> None:
        """Wire the "open the full tab" buttons and the page-load events; call after every tab is built."""
        by_id, by_label = {}, {}
        for block in demo.blocks.values():
            if getattr(block, "elem_id", None):
                by_id.setdefault(block.elem_id, block)
            if getattr(block, "charlm_label", None):
                by_label.setdefault(block.charlm_label[0], block)
        for lesson in self.lessons.values():
            self._link_one(lesson, by_id, by_label)
        fn, inputs, outputs = self.demo_load
        demo.load(fn, inputs, outputs, api_visibility="private", show_progress="hidden")
        demo.load(*self.restore, api_visibility="private", queue=False, show_progress="hidden")

    def _link_one(self, lesson: Lesson, by_id: dict, by_label: dict) -> None:
        """The button clicks the full tab's own button in the page, as the learner would (so the other tabs need no
        ids), then fills in the lesson's settings there."""
        sample = lesson.link(*[getattr(c, "value", None) for c in lesson.inputs])
        targets = {key: (self.picker if key == "model" else by_id.get(key) or by_label.get(key)) for key in sample}
        targets = {k: c for k, c in targets.items() if c is not None}
        keys = list(targets)

        def open_tab(*values):
            wanted = lesson.link(*values)
            return [gr.update(value=wanted[k]) for k in keys]

        click = f"(...args) => {{ document.querySelector('#{lesson.tab}-button')?.click(); return args; }}"
        lesson.open_btn.click(open_tab, lesson.inputs, list(targets.values()), js=click, api_visibility="private",
                              queue=False)  # fmt: skip


def build_learn_tab(picker: gr.Dropdown, registry: ModelRegistry, limits: Limits) -> LearnTab:
    """Create the Learn tab inside the app's ``gr.Tabs``; call ``.link(demo)`` after the other tabs."""
    learn = LearnTab(picker, registry, limits)
    learn.build()
    return learn


__all__ = ["SLUGS", "LearnTab", "build_learn_tab"]
