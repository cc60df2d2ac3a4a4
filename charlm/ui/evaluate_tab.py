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
from charlm.evaluation.matches import matched_spans
from charlm.generation.settings import Sampling
from charlm.text import split_lines
from charlm.ui.common import Number, Slider, session_key, user_errors
from charlm.ui.i18n import axis_titles, lang_of, late_label, late_props, late_value, t, text_or, tr_error, ui_text
from charlm.ui.limits import Limits
from charlm.ui.registry import ModelRegistry


def _inputs(hyp_text: str, ref_text: str, files: list | None, lang: str = "en") -> tuple[list[str], list[list[str]]]:
    """Collect hypotheses and per-hypothesis references from the text boxes and uploads (``lang``: the language of
    the boxes' names in messages)."""
    paths = [Path(f) for f in (files or [])]
    if len(paths) == 1 and paths[0].suffix.lower() in (".jsonl", ".json", ".csv", ".ndjson"):
        return read_table(paths[0])
    if paths:
        hyps, hyp_name = read_lines_file(paths[0]), paths[0].name
        streams, names = [read_lines_file(p) for p in paths[1:]], [p.name for p in paths[1:]]
    else:
        hyps, hyp_name = split_lines(hyp_text or ""), ui_text(lang, "eval.name.hyps")
        streams, names = [], []
    if not streams:
        streams = split_reference_sets(ref_text or "")
        names = [ui_text(lang, "eval.name.refset", k=k + 1) for k in range(len(streams))]
    if not hyps:
        raise DataError(f"no hypotheses: {hyp_name} is empty")
    if not streams:
        raise DataError("no references: paste them or upload one file per reference set")
    return hyps, streams_to_refs(hyps, streams, names)


# metric names as a learner reads them (the API's tables keep the keys): acronyms stay, words are translated
METRIC_NAMES = {"bleu": "BLEU", "chrf": "chrF", "ter": "TER", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2",
                "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum", "f1": "F1"}  # fmt: skip
MATCH_COLOURS = {"1": "#fde68a", "2": "#fcd34d", "3": "#86efac", "4": "#4ade80"}  # n of the longest matched n-gram
MAX_MATCH_LINES = 20  # lines shown with their matched n-grams (the report files have every line)


def metric_name(key: str, lang: str) -> str:
    """A metric's name for the table and chart: the acronym, or the translated word (exact match)."""
    return METRIC_NAMES.get(key) or ui_text(lang, f"eval.metric.{key}")


def headers(df: pd.DataFrame, lang: str, prefix: str = "eval.col") -> pd.DataFrame:
    """Table headers in ``lang`` (English requests keep the API's column names); metric columns get their names."""
    if lang == "en":
        return df
    names = {c: METRIC_NAMES.get(c) or text_or(lang, f"{prefix}.{c}", c) for c in df.columns}
    return df.rename(columns=names)


def empty_table(columns: list[str], prefix: str = "eval.col"):
    """An empty table that shows its real headers (not Gradio's "1 2 3"), in the page's language once it loads."""
    return lambda lang: headers(pd.DataFrame(columns=columns), lang, prefix)


SUMMARY_COLUMNS = ["metric", "score", "tokenizer"]
EXAMPLE_COLUMNS = ["line", "hypothesis", "reference", "bleu", "chrf", "rougeL", "f1", "exact_match"]
MODEL_COLUMNS = ["bpc", "perplexity", "loss", "top1", "top5", "n_chars"]
ENSEMBLE_COLUMNS = ["model", "bpc", "perplexity", "top1", "top5", "n_chars"]


def matches_view(report: EvalReport, refs: list[list[str]] | None = None) -> list[tuple[str, str | None]]:
    """The first lines' outputs with each token marked by the longest n-gram (1-4) it shares with a reference
    (``refs[i]``: every reference of line i + 1; without them, the row's first reference)."""
    out: list[tuple[str, str | None]] = []
    for row in report.rows[:MAX_MATCH_LINES]:
        line_refs = refs[row["line"] - 1] if refs is not None else [row["reference"]]
        out.append((f"{row['line']}. ", None))
        spans = matched_spans(row["hypothesis"], [r for r in line_refs if r])
        out += [(piece, str(n) if n else None) for piece, n in spans]
        out.append(("\n", None))
    return out


def _outputs(report: EvalReport, folder: Path, lang: str = "en", refs: list[list[str]] | None = None) -> tuple:
    """Summary table, worst-first examples, bar chart, CSV + JSON report files (in ``folder``), explanations, the
    matched n-grams (words in ``lang``; an English request gets the API's column names; the signatures are in the
    report files, not the table)."""
    summary = pd.DataFrame([{k: r[k] for k in SUMMARY_COLUMNS} for r in report.summary_rows()], columns=SUMMARY_COLUMNS)
    examples = pd.DataFrame(report.rows)
    if not examples.empty:
        examples = examples.sort_values(["chrf", "bleu", "line"], kind="stable").round(2)
    chart = pd.DataFrame(
        {"metric": [metric_name(k, lang) + (ui_text(lang, "eval.lower_better") if k == "ter" else "")
                    for k in SCORE_KEYS],
         "score": [round(report.scores[k], 2) for k in SCORE_KEYS]}
    ).dropna()  # fmt: skip
    csv_path, json_path = write_reports(report, folder)
    head = ui_text(lang, "eval.notes.head", n=report.n_segments, tokenizer=report.tokenize, bleu=report.details["bleu"])
    lines = [head, ""]
    if report.warnings:
        shown = [tr_error(lang, w) for w in report.warnings[:10]]
        more = ui_text(lang, "eval.notes.more", n=len(report.warnings) - 10) if len(report.warnings) > 10 else ""
        lines += [ui_text(lang, "eval.notes.warnings") + ui_text(lang, "eval.notes.joiner").join(shown) + more, ""]
    if report.tokenize == "zh":  # Chinese: chrF reads far below ROUGE-L; say why, with this report's numbers
        lines += [ui_text(lang, "eval.chrf_vs_rouge", chrf=f"{report.scores['chrf']:.1f}",
                          rouge=f"{report.scores['rougeL']:.1f}"), ""]  # fmt: skip
    lines += [f"- {ui_text(lang, f'eval.explain.{key}')}" for key in EXPLANATIONS]
    return (headers(summary, lang), headers(examples, lang), chart, str(csv_path), str(json_path), "\n".join(lines),
            matches_view(report, refs))  # fmt: skip


# example inputs a learner can score at once (three lines each: close, reordered, unrelated)
EXAMPLES = {
    "en": (
        "The cat sat on the mat.\nThe weather is very nice today.\nI like reading and writing.",
        "The cat is sitting on the mat.\nToday the weather is very nice.\nShe went to the market.",
    ),
    "zh": (
        "今天天气很好。\n我喜欢读书和写字。\n猫坐在垫子上。",
        "今天的天气非常好。\n我很喜欢读书，也喜欢写字。\n他明天去北京。",
    ),
}


class Endpoints:
    """The tab's computations, bound to the server's limits and to where each session's report files go."""

    @user_errors(heavy=True)
    def score_ensemble(self, names: list[str], text: str, request: gr.Request) -> pd.DataFrame:
        """Bits per char of the ensemble and of each member on the text (the total cost is checked first)."""
        from charlm.budget import Cost, check, scoring_cost

        ens, members = _ensemble_members(self, names, request)
        text = text or ""
        # the ensemble, then each member alone: one estimate for all of them, against the server's real limit
        total = sum(scoring_cost(m.config, m.n_params, len(text)).gflop for m in (ens, *members))
        check(Cost(total), self.limits.max_request_gflop, None, f"scoring {len(text):,} characters with an "
              f"ensemble of {len(members)} models and with each of them alone", "CHARLM_MAX_REQUEST_GFLOP")  # fmt: skip
        keys = ("bpc", "perplexity", "top1", "top5", "n_chars")
        rows = [
            {"model": m.name, **{k: s.get(k) for k in keys}}
            for m, s in [(m, score_model_on_text(m, text)) for m in (ens, *members)]
        ]
        return headers(pd.DataFrame(rows).round(4), lang_of(request))  # fmt: skip

    @user_errors
    def sample_ensemble(self, names: list[str], prompt: str, seed, request: gr.Request) -> str:
        """300 characters from the ensemble (temperature 0.8)."""
        from charlm.generation.sample import generate

        ens, _ = _ensemble_members(self, names, request)
        return "".join(generate(ens, (prompt or "")[-2000:], Sampling(max_new_chars=300, seed=int(seed or 0))))

    def __init__(self, registry: ModelRegistry | None, limits: Limits) -> None:
        self.registry, self.limits = registry, limits

    def _folder(self, request: gr.Request) -> Path:
        """Report files: one folder per session, replaced by the next report (a server keeps no stale reports)."""
        if self.registry is None:
            return Path(tempfile.mkdtemp(prefix="charlm-eval-"))
        return self.registry.scratch_dir(session_key(request), "report")

    @user_errors(heavy=True)
    def evaluate(self, hyp_text: str, ref_text: str, files: list | None, tokenize: str, request: gr.Request) -> tuple:
        """The ``/evaluate`` endpoint."""
        hyps, refs = _inputs(hyp_text, ref_text, files, lang_of(request))
        report = evaluate_texts(hyps, refs, tokenize=tokenize or "auto", max_cells=self.limits.max_eval_cells,
                                time_limit=self.limits.max_ter_seconds)  # fmt: skip
        return _outputs(report, self._folder(request), lang_of(request), refs)

    @user_errors(heavy=True)
    def score_model(self, name, text_, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        """Bits per char of the picked model on a text (the text's cost is checked before any work)."""
        loaded = self.registry.resolve(name, session_key(request))
        desc = ui_text(lang_of(request), "eval.progress.scoring")
        s = score_model_on_text(loaded, text_ or "", max_gflop=self.limits.max_request_gflop,
                                progress=lambda f: progress(f, desc=desc))  # fmt: skip
        return headers(pd.DataFrame([{k: s.get(k) for k in MODEL_COLUMNS}]), lang_of(request))

    @user_errors(heavy=True)
    def generate_and_score(self, name, prompt_text, ref_text_, n, temp, seed_, tok, request: gr.Request,
                           progress=gr.Progress()):  # noqa: B008  # fmt: skip
        prompts_ = split_lines(prompt_text or "")
        refs = streams_to_refs(prompts_, [split_lines(ref_text_ or "")], [ui_text(lang_of(request), "eval.name.refs")])
        if not prompts_:
            raise DataError("no prompts")
        loaded, lang = self.registry.resolve(name, session_key(request)), lang_of(request)
        desc = ui_text(lang, "eval.progress.generating")
        sampling = Sampling(max_new_chars=int(n), temperature=float(temp), seed=int(seed_))
        report = generate_and_score(loaded, prompts_, refs, tokenize=tok or "auto", sampling=sampling,
                                    max_gflop=self.limits.max_request_gflop,
                                    progress=lambda f: progress(f, desc=desc))  # fmt: skip
        return _outputs(report, self._folder(request), lang, refs)


def _ensemble_members(api: Endpoints, names: list[str] | None, request: gr.Request):
    from charlm.models.ensemble import ensemble

    names = list(dict.fromkeys(names or []))
    if len(names) < 2:
        raise DataError("choose at least two models for an ensemble")
    members = [api.registry.resolve(n, session_key(request)) for n in names]
    return ensemble(members), members


def _model_section(model_dropdown, api: Endpoints, report_outputs: list) -> None:
    """Bits per char / perplexity / top-k of a checkpoint, and generate-then-score."""
    with gr.Accordion(t("eval.model.title"), open=False):
        gr.Markdown(t("eval.model.intro"))
        ref_text = gr.Textbox(label=t("eval.model.text"), lines=6, elem_id="eval-model-text")
        score_btn = gr.Button(t("eval.model.score"), elem_id="eval-model-score")
        model_table = gr.DataFrame(empty_table(MODEL_COLUMNS)("en"), label=t("eval.model.table"), interactive=False,
                                   elem_id="eval-model-table")  # fmt: skip
        late_value(model_table, empty_table(MODEL_COLUMNS))
        with gr.Row():
            prompts = gr.Textbox(label=t("eval.prompts"), lines=5, elem_id="eval-prompts")
            prompt_refs = gr.Textbox(label=t("eval.prompt_refs"), lines=5, elem_id="eval-prompt-refs")
        with gr.Row():
            max_new = late_label(Slider(1, 500, 100, step=1), "eval.max_new")
            temperature = late_label(Slider(0.1, 2.0, 0.8, step=0.05), "eval.temperature")
            seed = Number(0, precision=0, label=t("eval.seed"))
            tokenize = gr.Dropdown(list(TOKENIZERS), value="auto", label=t("eval.bleu_tokenizer"))
        gen_btn = gr.Button(t("eval.generate"), elem_id="eval-generate")

    heavy = dict(concurrency_limit=api.limits.heavy_concurrency, concurrency_id="model-evaluation")
    score_btn.click(api.score_model, [model_dropdown, ref_text], model_table, api_name="score_model", **heavy)
    gen_btn.click(api.generate_and_score, [model_dropdown, prompts, prompt_refs, max_new, temperature, seed, tokenize],
                  report_outputs, api_name="generate_and_score", **heavy)  # fmt: skip


def _ensemble_section(api: Endpoints) -> None:
    """Score (and sample from) the average of several models' next-character distributions, beside each member."""
    registry = api.registry
    with gr.Accordion(t("ens.title"), open=False, elem_id="ensemble"):
        gr.Markdown(t("ens.intro"))
        names = list(registry.shipped)
        # allow_custom_value: the choices are per session (``refresh``); the registry checks every name against the
        # session's own models and the shipped ones, so a user's model is accepted from the page and the API
        members = gr.Dropdown(names, value=names[:2], multiselect=True, label=t("ens.models"), allow_custom_value=True,
                              elem_id="ensemble-models")  # fmt: skip
        text_box = gr.Textbox(label=t("ens.text"), lines=5, elem_id="ensemble-text")
        score_btn = gr.Button(t("ens.score"), elem_id="ensemble-score")
        table = gr.DataFrame(empty_table(ENSEMBLE_COLUMNS)("en"), label=t("ens.table"), interactive=False,
                             elem_id="ensemble-table")  # fmt: skip
        late_value(table, empty_table(ENSEMBLE_COLUMNS))
        with gr.Row():
            prompt = gr.Textbox("ROMEO:", label=t("ens.prompt"), lines=2, elem_id="ensemble-prompt")
            seed = Number(0, precision=0, label=t("eval.seed"))
        sample_btn = gr.Button(t("ens.sample"), elem_id="ensemble-sample-btn")
        sample = gr.Textbox(label=t("ens.sample_out"), lines=5, interactive=False, elem_id="ensemble-sample")

    def refresh(request: gr.Request):
        return gr.update(choices=registry.choices(session_key(request)))

    heavy = dict(concurrency_limit=api.limits.heavy_concurrency, concurrency_id="model-evaluation")
    members.focus(refresh, None, members, api_visibility="private", queue=False)
    score_btn.click(api.score_ensemble, [members, text_box], table, api_name="score_ensemble", **heavy)
    sample_btn.click(api.sample_ensemble, [members, prompt, seed], sample, api_name="sample_ensemble", **heavy)


def build_evaluate_tab(
    model_dropdown=None, registry: ModelRegistry | None = None, limits: Limits | None = None
) -> None:
    """Create the Evaluate tab inside the caller's ``gr.Blocks``.

    ``model_dropdown`` (the app's model picker) and the app's ``registry`` enable the model-based and ensemble
    sections; without them the tab offers text metrics only.
    """
    api = Endpoints(registry, limits or (registry.limits if registry else Limits()))
    with gr.Tab(t("eval.tab"), elem_id="tab-evaluate"):
        gr.Markdown(t("eval.intro"))
        with gr.Row():
            hyp_box = gr.Textbox(label=t("eval.hyps"), lines=8, elem_id="eval-hyps")
            ref_box = gr.Textbox(label=t("eval.refs"), lines=8, elem_id="eval-refs")
        with gr.Row():
            files = late_label(gr.File(file_count="multiple", file_types=[".txt", ".jsonl", ".json", ".csv"],
                                       type="filepath", elem_id="eval-files"), "eval.files")  # fmt: skip
            tokenize = gr.Dropdown(list(TOKENIZERS), value="auto", label=t("eval.tokenizer"),
                                   elem_id="eval-tokenize")  # fmt: skip
        with gr.Row():
            examples_en = gr.Button(t("eval.example.en"), size="sm", elem_id="eval-example-en")
            examples_zh = gr.Button(t("eval.example.zh"), size="sm", elem_id="eval-example-zh")
        run_btn = gr.Button(t("eval.run"), variant="primary", elem_id="eval-run")
        summary = gr.DataFrame(empty_table(SUMMARY_COLUMNS)("en"), label=t("eval.summary"), interactive=False,
                               elem_id="eval-summary")  # fmt: skip
        late_value(summary, empty_table(SUMMARY_COLUMNS))
        matches = gr.HighlightedText(label=t("eval.matches"), color_map=MATCH_COLOURS, show_legend=True,
                                     combine_adjacent=True, elem_id="eval-matches")  # fmt: skip
        gr.Markdown(t("eval.matches.info"))
        examples = gr.DataFrame(empty_table(EXAMPLE_COLUMNS)("en"), label=t("eval.examples"), interactive=False,
                                max_height=400, elem_id="eval-examples")  # fmt: skip
        late_value(examples, empty_table(EXAMPLE_COLUMNS))
        chart = gr.BarPlot(
            x="metric",
            y="score",
            label=t("eval.chart"),
            y_lim=[0, 100],
            elem_id="eval-chart",
            x_title=ui_text("en", "eval.axis.metric"),
            y_title=ui_text("en", "eval.axis.score"),
        )
        late_props(chart, axis_titles("eval.axis.metric", "eval.axis.score"))
        with gr.Row():
            csv_file = late_label(gr.File(interactive=False, elem_id="eval-csv"), "eval.csv")
            json_file = late_label(gr.File(interactive=False, elem_id="eval-json"), "eval.json")
        notes = gr.Markdown(elem_id="eval-notes")
        outputs = [summary, examples, chart, csv_file, json_file, notes, matches]
        for btn, which in ((examples_en, "en"), (examples_zh, "zh")):
            btn.click(lambda which=which: EXAMPLES[which], None, [hyp_box, ref_box], api_visibility="private",
                      queue=False)  # fmt: skip
        run_btn.click(api.evaluate, [hyp_box, ref_box, files, tokenize], outputs, api_name="evaluate",
                      concurrency_limit=api.limits.heavy_concurrency, concurrency_id="evaluate")  # fmt: skip
        if model_dropdown is not None and registry is not None:
            _model_section(model_dropdown, api, outputs)
            _ensemble_section(api)
