"""The Backprop tab: step through one backpropagation step with every number visible, edit, and train.

The app shell calls ``build_backprop_tab()`` inside its ``gr.Blocks``. All computing is done by
``charlm.backprop``; this file only wires components to it.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from charlm.backprop import parse_spec, randomize, step, train
from charlm.backprop.presets import PRESETS, preset
from charlm.backprop.spec import MAX_WEIGHTS
from charlm.backprop.svg import render_svg
from charlm.backprop.trace import build_trace, n_steps, trace_html
from charlm.ui.common import Number, user_errors
from charlm.ui.limits import Limits

DEFAULT_PRESET = "textbook (corrected)"
MAX_UI_TRAIN_STEPS = 5000
HELP = (
    "Each box is a neuron: its value **a** (and z, b) on top, its gradient **δ = ∂L/∂z** in red once "
    "the backward pass reaches it. Edges: blue positive, orange negative, thicker for larger |w|; labels "
    "show w and ∂ = ∂L/∂w. Edit any number in the spec and the picture and equations update."
)


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
    def backprop(self, spec_json: str, step_index: float | None = None) -> tuple[dict, str, str, int]:
        """API ``/backprop``: all quantities as JSON, the SVG at that step, that step's equations, the step used.

        A step index of -1 (or past the end) means the last step, after the update.
        """
        spec = self._parse(spec_json)
        r = step(spec)
        steps = build_trace(r)
        last = n_steps(len(spec.weights)) - 1
        k = last if step_index is None or not step_index >= 0 else min(int(min(step_index, last)), last)
        out = r.to_json() | {"trace": steps}
        return out, render_svg(r, k), trace_html(steps[k]), k

    def ui_compute(self, spec_json: str, step_index: float | None) -> tuple:
        """Same as the API, but a bad spec (often half-typed) becomes a message, not a pop-up."""
        try:
            return (*self.backprop(spec_json, step_index), "")
        except gr.Error as exc:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"⚠️ **Spec problem:** {exc.message}"

    @user_errors
    def randomize(self, spec_json: str, seed: float | None) -> str:
        return spec_text(randomize(self._parse(spec_json), int(seed or 0)).to_dict())

    @user_errors(heavy=True)
    def train_steps(self, spec_json: str, n: float) -> tuple[pd.DataFrame, str, str]:
        """API ``/backprop_train``: SGD for n steps; returns the loss curve, the trained spec and a summary."""
        if not (isinstance(n, (int, float)) and 1 <= n <= MAX_UI_TRAIN_STEPS):
            raise gr.Error(f"steps must be between 1 and {MAX_UI_TRAIN_STEPS}, not {n!r}")
        n = int(n)
        trained, curve = train(self._parse(spec_json), n)
        stride = max(1, len(curve) // 500)
        df = pd.DataFrame({"step": list(range(0, len(curve), stride)), "loss": curve[::stride]})
        msg = f"Trained {n} steps: mean loss {curve[0]:.6g} → {curve[-1]:.6g}. The spec now holds the trained weights."
        return df, spec_text(_rounded(trained.to_dict())), msg


def _load_preset(name: str) -> tuple[str, str, int]:
    d = preset(name)
    return spec_text(d), d.get("note", ""), 0


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
    init_json, init_svg, init_md, _ = api.backprop(spec_text(first), 0)
    c = SimpleNamespace()
    with gr.Tab("Backprop", elem_id="tab-backprop"):
        gr.Markdown("## Backpropagation, every number visible\n" + HELP)
        with gr.Row():
            c.start_btn = gr.Button("|◀ Start", elem_id="bp-start", size="sm")
            c.prev_btn = gr.Button("◀ Back", elem_id="bp-prev", size="sm")
            c.next_btn = gr.Button("Next ▶", elem_id="bp-next", size="sm", variant="primary")
            c.end_btn = gr.Button("Show all ▶|", elem_id="bp-end", size="sm")
            c.step_no = Number(0, precision=0, label="step", elem_id="bp-step-no", min_width=80, scale=0)
        c.svg = gr.HTML(init_svg, elem_id="bp-svg", label="network")
        with gr.Row():
            with gr.Column(scale=1):
                c.step_md = gr.HTML(init_md, elem_id="bp-step", label="equations")
                c.error_md = gr.Markdown("", elem_id="bp-error")
            with gr.Column(scale=1):
                _spec_column(c, first)
        c.note = gr.Markdown(first.get("note", ""), elem_id="bp-note")
        with gr.Accordion("All numbers (JSON)", open=False):
            c.result = gr.JSON(init_json, label="result", elem_id="bp-json")
        c.api_btn = gr.Button(visible=False)  # carries the public /backprop endpoint
    _wire(c, api, limits.heavy_concurrency if limits else 2)


def _spec_column(c: SimpleNamespace, first: dict) -> None:
    """Preset, seed, the editable JSON spec, and training for N steps with its loss plot."""
    with gr.Row(equal_height=True):
        c.preset_dd = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="preset", elem_id="bp-preset", scale=2)
        c.seed = Number(0, precision=0, label="seed", elem_id="bp-seed", min_width=80, scale=0)
        c.rand_btn = gr.Button("Random weights", elem_id="bp-random", size="sm", scale=1)
    c.spec = gr.Code(spec_text(first), language="json", elem_id="bp-spec", lines=12,
                     label="network spec (edit me; W is [out, in])", interactive=True)  # fmt: skip
    with gr.Row():
        c.n_train = Number(200, precision=0, label="N", elem_id="bp-n", minimum=1, maximum=MAX_UI_TRAIN_STEPS,
                              min_width=110, scale=0)  # fmt: skip
        c.train_btn = gr.Button("Train N steps", elem_id="bp-train", scale=1)
    c.train_msg = gr.Markdown("", elem_id="bp-train-msg")
    c.plot = gr.LinePlot(x="step", y="loss", label="loss", elem_id="bp-loss-plot", y_lim=[0, None], height=220)


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
    c.rand_btn.click(api.randomize, [c.spec, c.seed], c.spec, api_name="backprop_random", api_visibility="private")
    c.train_btn.click(api.train_steps, [c.spec, c.n_train], [c.plot, c.spec, c.train_msg], api_name="backprop_train",
                      show_progress_on=[c.train_msg], **limit)  # fmt: skip
