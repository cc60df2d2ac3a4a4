"""The Backprop tab: step through one backpropagation step with every number visible, edit, and train.

The app shell calls ``build_backprop_tab()`` inside its ``gr.Blocks``. All computing is done by
``charlm.backprop``; this file only wires components to it.
"""

from __future__ import annotations

import functools
import json
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from charlm.backprop import parse_spec, randomize, step, train
from charlm.backprop.engine import dataset
from charlm.backprop.presets import PRESETS, preset
from charlm.backprop.spec import MAX_WEIGHTS
from charlm.backprop.svg import render_svg
from charlm.backprop.trace import build_trace, n_steps
from charlm.ui.backprop_i18n import equations_html, preset_note, svg_labels
from charlm.ui.common import Number, user_errors
from charlm.ui.i18n import axis_titles, lang_of, late_label, late_props, late_value, static, t, t_or, ui_text
from charlm.ui.limits import Limits

DEFAULT_PRESET = "textbook (corrected)"
MAX_UI_TRAIN_STEPS = 5000


def spec_text(d: dict) -> str:
    """One key per line with compact values, so a weight is easy to find and edit."""
    d = {k: v for k, v in d.items() if k != "note"}
    return "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in d.items()) + "\n}"


class Endpoints:
    """The tab's computations, bound to this server's cap on network size (``Limits.max_backprop_weights``)."""

    def __init__(self, max_weights: int = MAX_WEIGHTS) -> None:
        self.max_weights = max_weights

    def _parse(self, spec_json: str):
        return parse_spec(spec_json or "", max_weights=self.max_weights)

    @user_errors(heavy=True)
    def backprop(
        self, spec_json: str, step_index: float | None = None, request: gr.Request = None
    ) -> tuple[dict, str, str, int]:
        """API ``/backprop``: all quantities as JSON, the SVG at that step, that step's equations, the step used.

        A step index of -1 (or past the end) means the last step, after the update. The JSON's trace stays in
        English; the picture and the equations follow the request's language.
        """
        return self.compute(spec_json, step_index, lang_of(request))

    def compute(self, spec_json: str, step_index: float | None, lang: str = "en") -> tuple[dict, str, str, int]:
        spec = self._parse(spec_json)
        r = step(spec)
        steps = build_trace(r)
        last = n_steps(len(spec.weights)) - 1
        k = last if step_index is None or not step_index >= 0 else min(int(min(step_index, last)), last)
        out = r.to_json() | {"trace": steps}
        return out, render_svg(r, k, svg_labels(lang)), equations_html(steps[k], spec, lang), k

    def ui_compute(self, spec_json: str, step_index: float | None, request: gr.Request = None) -> tuple:
        """Same as the API, but a bad spec (often half-typed) becomes a message, not a pop-up."""
        try:
            return (*self.backprop(spec_json, step_index, request), "")
        except gr.Error as exc:
            problem = ui_text(lang_of(request), "bp.spec_problem")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"⚠️ **{problem}** {exc.message}"

    @user_errors
    def randomize(self, spec_json: str, seed: float | None) -> str:
        return spec_text(randomize(self._parse(spec_json), int(seed or 0)).to_dict())

    @user_errors(heavy=True)
    def train_steps(self, spec_json: str, n: float, request: gr.Request = None) -> tuple[pd.DataFrame, str, str]:
        """API ``/backprop_train``: SGD for n steps; returns the loss curve, the trained spec and a summary."""
        if not (isinstance(n, (int, float)) and 1 <= n <= MAX_UI_TRAIN_STEPS):
            raise gr.Error(f"steps must be between 1 and {MAX_UI_TRAIN_STEPS}, not {n!r}")
        n = int(n)
        spec = self._parse(spec_json)
        trained, curve = train(spec, n)
        stride = max(1, len(curve) // 500)
        df = pd.DataFrame({"step": list(range(0, len(curve), stride)), "loss": curve[::stride]})
        lang = lang_of(request)
        msg = ui_text(lang, "bp.trained", n=n, first=f"{curve[0]:.6g}", last=f"{curve[-1]:.6g}")
        samples = len(dataset(spec))
        if samples > 1:  # one sample per step: the mean over all samples need not fall at every step
            msg += "\n\n" + ui_text(lang, "bp.zigzag", k=samples)
        return df, spec_text(_rounded(trained.to_dict())), msg


def _load_preset(name: str, request: gr.Request) -> tuple[str, str, int]:
    d = preset(name)
    return spec_text(d), preset_note(name, d.get("note", ""), lang_of(request)), 0


def _rounded(v: object) -> object:
    """Trained weights to 6 significant digits, so the spec stays readable and editable."""
    if isinstance(v, float):
        return float(f"{v:.6g}")
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return v


def build_backprop_tab(limits: Limits | None = None) -> None:
    """Create the Backprop tab and its events; call inside the app's ``gr.Blocks``."""
    api = Endpoints(limits.max_backprop_weights if limits else MAX_WEIGHTS)
    first = preset(DEFAULT_PRESET)
    init_json, init_svg, init_md, _ = api.compute(spec_text(first), 0)
    c = SimpleNamespace()
    with gr.Tab(t("bp.tab"), elem_id="tab-backprop"):
        gr.Markdown(t("bp.intro"))
        with gr.Row():
            c.start_btn = gr.Button(t("bp.start"), elem_id="bp-start", size="sm")
            c.prev_btn = gr.Button(t("bp.prev"), elem_id="bp-prev", size="sm")
            c.next_btn = gr.Button(t("bp.next"), elem_id="bp-next", size="sm", variant="primary")
            c.end_btn = gr.Button(t("bp.end"), elem_id="bp-end", size="sm")
            c.step_no = Number(0, precision=0, label=t("bp.step"), elem_id="bp-step-no", min_width=80, scale=0)
        # drawn at build time in English; another language gets its own copy when the page loads
        first_view = functools.lru_cache(maxsize=4)(lambda lang: api.compute(spec_text(first), 0, lang))
        c.svg = late_value(gr.HTML(init_svg, elem_id="bp-svg", label=t("bp.network")), lambda g: first_view(g)[1])
        with gr.Row():
            with gr.Column(scale=1):
                c.step_md = late_value(gr.HTML(init_md, elem_id="bp-step", label=t("bp.equations")),
                                       lambda g: first_view(g)[2])  # fmt: skip
                c.error_md = gr.Markdown("", elem_id="bp-error")
            with gr.Column(scale=1):
                _spec_column(c, first)
        note = static(lambda lang: preset_note(DEFAULT_PRESET, first.get("note", ""), lang), "bp.note")
        c.note = gr.Markdown(note, elem_id="bp-note")
        with gr.Accordion(t("bp.json"), open=False):
            c.result = gr.JSON(init_json, label=t("bp.result"), elem_id="bp-json")
        c.api_btn = gr.Button(visible=False)  # carries the public /backprop endpoint
    _wire(c, api, limits.heavy_concurrency if limits else 2)


def _spec_column(c: SimpleNamespace, first: dict) -> None:
    """Preset, seed, the editable JSON spec, and training for N steps with its loss plot."""
    with gr.Row(equal_height=True):
        presets = [(t_or(f"bp.preset.{name}", name), name) for name in PRESETS]
        c.preset_dd = gr.Dropdown(presets, value=DEFAULT_PRESET, label=t("bp.preset"), elem_id="bp-preset", scale=2)
        c.seed = Number(0, precision=0, label=t("bp.seed"), elem_id="bp-seed", min_width=80, scale=0)
        c.rand_btn = gr.Button(t("bp.random"), elem_id="bp-random", size="sm", scale=1)
        c.reset_btn = gr.Button(t("bp.reset"), elem_id="bp-reset", size="sm", scale=1)
    c.spec = late_label(gr.Code(spec_text(first), language="json", elem_id="bp-spec", lines=12, interactive=True),
                        "bp.spec")  # fmt: skip
    with gr.Row():
        c.n_train = Number(200, precision=0, label="N", elem_id="bp-n", minimum=1, maximum=MAX_UI_TRAIN_STEPS,
                           min_width=110, scale=0)  # fmt: skip
        c.train_btn = gr.Button(t("bp.train"), elem_id="bp-train", scale=1)
    c.train_msg = gr.Markdown("", elem_id="bp-train-msg")
    c.plot = gr.LinePlot(x="step", y="loss", label=t("bp.loss"), elem_id="bp-loss-plot", y_lim=[0, None], height=220,
                         x_title=ui_text("en", "bp.axis.step"), y_title=ui_text("en", "bp.axis.loss"))  # fmt: skip
    late_props(c.plot, axis_titles("bp.axis.step", "bp.axis.loss"))


def _wire(c: SimpleNamespace, api: Endpoints, heavy: int) -> None:
    outs = [c.result, c.svg, c.step_md, c.step_no, c.error_md]
    # every event that computes shares one concurrency group: a few at once, the rest queue
    limit = dict(concurrency_limit=heavy, concurrency_id="backprop")
    c.api_btn.click(api.backprop, [c.spec, c.step_no], outs[:4], api_name="backprop", **limit)
    c.spec.change(api.ui_compute, [c.spec, c.step_no], outs, api_name="backprop_live", api_visibility="private",
                  show_progress="hidden", **limit)  # fmt: skip
    c.step_no.submit(api.ui_compute, [c.spec, c.step_no], outs, api_name="backprop_goto", api_visibility="private",
                     **limit)  # fmt: skip
    moves = [
        (c.start_btn, "start", lambda k: 0),
        (c.prev_btn, "prev", lambda k: max(int(k) - 1, 0)),
        (c.next_btn, "next", lambda k: int(k) + 1),
        (c.end_btn, "end", lambda k: -1),
    ]
    for btn, name, move in moves:
        btn.click(lambda s, k, move=move: api.ui_compute(s, move(k or 0)), [c.spec, c.step_no], outs,
                  api_name=f"backprop_{name}", api_visibility="private", show_progress="hidden", **limit)  # fmt: skip
    c.preset_dd.change(_load_preset, c.preset_dd, [c.spec, c.note, c.step_no], api_name="backprop_preset",
                       api_visibility="private")  # fmt: skip
    # choosing the preset already chosen is no change; Reset puts its spec back after edits or training
    c.reset_btn.click(_load_preset, c.preset_dd, [c.spec, c.note, c.step_no], api_name="backprop_reset",
                      api_visibility="private")  # fmt: skip
    c.rand_btn.click(api.randomize, [c.spec, c.seed], c.spec, api_name="backprop_random", api_visibility="private")
    c.train_btn.click(api.train_steps, [c.spec, c.n_train], [c.plot, c.spec, c.train_msg], api_name="backprop_train",
                      show_progress_on=[c.train_msg], **limit)  # fmt: skip
