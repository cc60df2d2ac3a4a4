"""The Evaluate tab: paste or upload hypotheses and references, get every metric with its signature.

All numbers come from ``charlm.evaluation.evaluate_texts``, the same call as ``python -m charlm eval``, so the
tab, the CLI and the ``/evaluate`` API always agree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from charlm.errors import DataError
from charlm.evaluation import (
    EXPLANATIONS,
    SCORE_KEYS,
    TOKENIZERS,
    EvalReport,
    evaluate_texts,
    generate_and_score,
    score_model_on_text,
)
from charlm.evaluation.files import read_lines_file, read_table, split_reference_sets, streams_to_refs, write_reports
from charlm.text import split_lines
from charlm.ui.common import Number, Slider, user_errors
from charlm.ui.limits import Limits
from charlm.ui.registry import ModelRegistry

INTRO = (
    "Paste **hypotheses** (model outputs) and **references**, one segment per line, or upload files: "
    "the hypotheses file first, then one file per reference set, or a single `.jsonl`/`.csv` with columns "
    "`hypothesis` and `reference`. Separate extra pasted reference sets with a line `---`. English and "
    "Chinese both work: `auto` tokenizes Chinese per character."
)


def _inputs(hyp_text: str, ref_text: str, files: list | None) -> tuple[list[str], list[list[str]]]:
    """Collect hypotheses and per-hypothesis references from the text boxes and uploads."""
    paths = [Path(f) for f in (files or [])]
    if len(paths) == 1 and paths[0].suffix.lower() in (".jsonl", ".json", ".csv", ".ndjson"):
        return read_table(paths[0])
    if paths:
        hyps, hyp_name = read_lines_file(paths[0]), paths[0].name
        streams, names = [read_lines_file(p) for p in paths[1:]], [p.name for p in paths[1:]]
    else:
        hyps, hyp_name = split_lines(hyp_text or ""), "the hypotheses box"
        streams, names = [], []
    if not streams:
        streams = split_reference_sets(ref_text or "")
        names = [f"reference set {k + 1}" for k in range(len(streams))]
    if not hyps:
        raise DataError(f"no hypotheses: {hyp_name} is empty")
    if not streams:
        raise DataError("no references: paste them or upload one file per reference set")
    return hyps, streams_to_refs(hyps, streams, names)


def _outputs(report: EvalReport, folder: Path) -> tuple:
    """Summary table, worst-first examples, bar chart, CSV + JSON report files (in ``folder``), explanations."""
    summary = pd.DataFrame(report.summary_rows())
    examples = pd.DataFrame(report.rows)
    if not examples.empty:
        examples = examples.sort_values(["chrf", "bleu", "line"], kind="stable").round(2)
    chart = pd.DataFrame(
        {"metric": [k + (" (lower is better)" if k == "ter" else "") for k in SCORE_KEYS],
         "score": [round(report.scores[k], 2) for k in SCORE_KEYS]}
    ).dropna()  # fmt: skip
    csv_path, json_path = write_reports(report, folder)
    lines = [
        f"**{report.n_segments} segments · tokenizer `{report.tokenize}`** · {report.details['bleu']}",
        "",
    ]
    if report.warnings:
        shown = report.warnings[:10]
        more = f" (and {len(report.warnings) - 10} more)" if len(report.warnings) > 10 else ""
        lines += ["**Warnings:** " + "; ".join(shown) + more, ""]
    lines += [f"- {text}" for text in EXPLANATIONS.values()]
    return summary, examples, chart, str(csv_path), str(json_path), "\n".join(lines)


class Endpoints:
    """The tab's computations, bound to the server's limits and to where each session's report files go."""

    @user_errors(heavy=True)
    def score_ensemble(self, names: list[str], text: str, request: gr.Request) -> pd.DataFrame:
        """Bits per char of the ensemble and of each member on the text (the total cost is checked first)."""
        ens, members = _ensemble_members(self, names, request)
        budget = self.limits.max_request_gflop / (len(members) + 1)  # the ensemble, then each member alone
        keys = ("bpc", "perplexity", "top1", "top5", "n_chars")
        rows = [
            {"model": m.name, **{k: s.get(k) for k in keys}}
            for m, s in [(m, score_model_on_text(m, text or "", max_gflop=budget)) for m in (ens, *members)]
        ]
        return pd.DataFrame(rows).round(4)  # fmt: skip

    @user_errors
    def sample_ensemble(self, names: list[str], prompt: str, seed, request: gr.Request) -> str:
        """300 characters from the ensemble (temperature 0.8)."""
        from charlm.sample import generate

        ens, _ = _ensemble_members(self, names, request)
        return "".join(generate(ens, (prompt or "")[-2000:], max_new_chars=300, temperature=0.8, seed=int(seed or 0)))

    def __init__(self, registry: ModelRegistry | None, limits: Limits) -> None:
        self.registry, self.limits = registry, limits

    def _folder(self, request: gr.Request) -> Path:
        """Report files: one folder per session, replaced by the next report (a server keeps no stale reports)."""
        if self.registry is None:
            return Path(tempfile.mkdtemp(prefix="charlm-eval-"))
        return self.registry.scratch_dir(request.session_hash or "", "report")

    @user_errors(heavy=True)
    def evaluate(self, hyp_text: str, ref_text: str, files: list | None, tokenize: str, request: gr.Request) -> tuple:
        """The ``/evaluate`` endpoint."""
        hyps, refs = _inputs(hyp_text, ref_text, files)
        report = evaluate_texts(hyps, refs, tokenize=tokenize or "auto", max_cells=self.limits.max_eval_cells,
                                time_limit=self.limits.max_ter_seconds)  # fmt: skip
        return _outputs(report, self._folder(request))

    @user_errors(heavy=True)
    def score_model(self, name, text, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        """Bits per char of the picked model on a text (the text's cost is checked before any work)."""
        loaded = self.registry.resolve(name, request.session_hash or "")
        s = score_model_on_text(loaded, text or "", max_gflop=self.limits.max_request_gflop,
                                progress=lambda f: progress(f, desc="scoring"))  # fmt: skip
        keys = ("bpc", "perplexity", "loss", "top1", "top5", "n_chars")
        return pd.DataFrame([{k: s.get(k) for k in keys}])

    @user_errors(heavy=True)
    def generate_and_score(self, name, prompt_text, ref_text_, n, temp, seed_, tok, request: gr.Request,
                           progress=gr.Progress()):  # noqa: B008  # fmt: skip
        prompts_ = split_lines(prompt_text or "")
        refs = streams_to_refs(prompts_, [split_lines(ref_text_ or "")], ["the references box"])
        if not prompts_:
            raise DataError("no prompts")
        loaded = self.registry.resolve(name, request.session_hash or "")
        report = generate_and_score(loaded, prompts_, refs, tokenize=tok or "auto", max_new_chars=int(n),
                                    temperature=float(temp), seed=int(seed_),
                                    max_gflop=self.limits.max_request_gflop,
                                    progress=lambda f: progress(f, desc="generating"))  # fmt: skip
        return _outputs(report, self._folder(request))


def _ensemble_members(api: Endpoints, names: list[str] | None, request: gr.Request):
    from charlm.ensemble import ensemble

    names = list(dict.fromkeys(names or []))
    if len(names) < 2:
        raise DataError("choose at least two models for an ensemble")
    members = [api.registry.resolve(n, request.session_hash or "") for n in names]
    return ensemble(members), members


def _model_section(model_dropdown, api: Endpoints, report_outputs: list) -> None:
    """Bits per char / perplexity / top-k of a checkpoint, and generate-then-score."""
    with gr.Accordion("Model-based evaluation", open=False):
        gr.Markdown(
            "Uses the model chosen in the model picker. **Bits per char** (lower is better) and "
            "**perplexity** measure how surprised the model is by a reference text; "
            "**top-1/top-5** are how often the true next character is the "
            "model's first / among its five best guesses."
        )
        ref_text = gr.Textbox(label="Reference text for the model", lines=6, elem_id="eval-model-text")
        score_btn = gr.Button("Score model on text", elem_id="eval-model-score")
        model_table = gr.DataFrame(label="Model scores", interactive=False, elem_id="eval-model-table")
        with gr.Row():
            prompts = gr.Textbox(label="Prompts (one per line)", lines=5, elem_id="eval-prompts")
            prompt_refs = gr.Textbox(label="References (one per line)", lines=5, elem_id="eval-prompt-refs")
        with gr.Row():
            max_new = Slider(1, 500, 100, step=1, label="max new characters")
            temperature = Slider(0.1, 2.0, 0.8, step=0.05, label="temperature")
            seed = Number(0, precision=0, label="seed")
            tokenize = gr.Dropdown(list(TOKENIZERS), value="auto", label="BLEU tokenizer")
        gen_btn = gr.Button("Generate then score", elem_id="eval-generate")

    heavy = dict(concurrency_limit=api.limits.heavy_concurrency, concurrency_id="model-evaluation")
    score_btn.click(api.score_model, [model_dropdown, ref_text], model_table, api_name="score_model", **heavy)
    gen_btn.click(api.generate_and_score, [model_dropdown, prompts, prompt_refs, max_new, temperature, seed, tokenize],
                  report_outputs, api_name="generate_and_score", **heavy)  # fmt: skip


def _ensemble_section(api: Endpoints) -> None:
    """Score (and sample from) the average of several models' next-character distributions, beside each member."""
    registry = api.registry
    with gr.Accordion("Ensemble: several models predicting together", open=False, elem_id="ensemble"):
        gr.Markdown(
            "An **ensemble** averages the next-character probabilities of two or more models that share a "
            "vocabulary (trained on the same characters). It is often better than each of its members: the table "
            "shows the ensemble's bits per char beside each member's (lower is better)."
        )
        names = list(registry.shipped)
        members = gr.Dropdown(names, value=names[:2], multiselect=True, label="Models",
                              elem_id="ensemble-models")  # fmt: skip
        text = gr.Textbox(label="Text to score", lines=5, elem_id="ensemble-text")
        score_btn = gr.Button("Score the ensemble and each model", elem_id="ensemble-score")
        table = gr.DataFrame(label="Bits per char: ensemble and members", interactive=False, elem_id="ensemble-table")
        with gr.Row():
            prompt = gr.Textbox("ROMEO:", label="Prompt", lines=2, elem_id="ensemble-prompt")
            seed = Number(0, precision=0, label="seed")
        sample_btn = gr.Button("Sample from the ensemble", elem_id="ensemble-sample-btn")
        sample = gr.Textbox(label="Ensemble sample", lines=5, interactive=False, elem_id="ensemble-sample")

    def refresh(request: gr.Request):
        return gr.update(choices=registry.choices(request.session_hash or ""))

    heavy = dict(concurrency_limit=api.limits.heavy_concurrency, concurrency_id="model-evaluation")
    members.focus(refresh, None, members, api_visibility="private", queue=False)
    score_btn.click(api.score_ensemble, [members, text], table, api_name="score_ensemble", **heavy)
    sample_btn.click(api.sample_ensemble, [members, prompt, seed], sample, api_name="sample_ensemble", **heavy)


def build_evaluate_tab(
    model_dropdown=None, registry: ModelRegistry | None = None, limits: Limits | None = None
) -> None:
    """Create the Evaluate tab inside the caller's ``gr.Blocks``.

    ``model_dropdown`` (the app's model picker) and the app's ``registry`` enable the model-based and ensemble
    sections; without them the tab offers text metrics only.
    """
    api = Endpoints(registry, limits or (registry.limits if registry else Limits()))
    with gr.Tab("Evaluate", elem_id="tab-evaluate"):
        gr.Markdown(INTRO)
        with gr.Row():
            hyp_box = gr.Textbox(label="Hypotheses (one per line)", lines=8, elem_id="eval-hyps")
            ref_box = gr.Textbox(
                label="References (one per line; a line --- starts another reference set)",
                lines=8,
                elem_id="eval-refs",
            )
        with gr.Row():
            files = gr.File(
                label="Or upload: hypotheses file, then reference file(s); or one .jsonl/.csv",
                file_count="multiple",
                file_types=[".txt", ".jsonl", ".json", ".csv"],
                type="filepath",
                elem_id="eval-files",
            )
            tokenize = gr.Dropdown(
                list(TOKENIZERS), value="auto", label="BLEU tokenizer (auto = zh if Chinese present)",
                elem_id="eval-tokenize",
            )  # fmt: skip
        run_btn = gr.Button("Evaluate", variant="primary", elem_id="eval-run")
        summary = gr.DataFrame(label="Summary (0-100)", interactive=False, elem_id="eval-summary")
        examples = gr.DataFrame(
            label="Per example (worst chrF first; click a header to sort)",
            interactive=False,
            max_height=400,
            elem_id="eval-examples",
        )
        chart = gr.BarPlot(x="metric", y="score", label="Scores", y_lim=[0, 100], elem_id="eval-chart")
        with gr.Row():
            csv_file = gr.File(label="CSV report", interactive=False, elem_id="eval-csv")
            json_file = gr.File(label="JSON report", interactive=False, elem_id="eval-json")
        notes = gr.Markdown(elem_id="eval-notes")
        outputs = [summary, examples, chart, csv_file, json_file, notes]
        run_btn.click(api.evaluate, [hyp_box, ref_box, files, tokenize], outputs, api_name="evaluate",
                      concurrency_limit=api.limits.heavy_concurrency, concurrency_id="evaluate")  # fmt: skip
        if model_dropdown is not None and registry is not None:
            _model_section(model_dropdown, api, outputs)
            _ensemble_section(api)
