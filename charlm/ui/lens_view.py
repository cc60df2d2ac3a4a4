"""The logit lens in the Inspect tab (GPT): what each layer would predict for the next character.

The numbers come from ``charlm.inspection.lens.logit_lens``; this module draws them as a heatmap (rows: after each
block, columns: positions) whose cells show the best guess and whose colour is its probability, and adds the
section to the Inspect tab with its own button and ``/logit_lens`` endpoint.
"""

from __future__ import annotations

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from charlm.errors import DataError
from charlm.ui.common import session_key, user_errors
from charlm.ui.i18n import lang_of, late_label, t, ui_text
from charlm.ui.inspect_figures import show

MAX_LENS_CHARS = 64  # columns that stay readable; the lens reads the first this many characters


def lens_figure(probs: np.ndarray, chars: str, vocab_chars: list[str], lang: str = "en") -> go.Figure:
    """(layers + 1, T, V) probabilities -> heatmap of the best guess per layer and position."""
    best = probs.argmax(-1)
    p = probs.max(-1)
    guesses = [[show(vocab_chars[i - 1]) if i else "\ufffd" for i in row] for row in best]
    rows = [ui_text(lang, "learn.lens.embed")] + [
        f"{ui_text(lang, 'learn.lens.layer')} {i}" for i in range(1, probs.shape[0])
    ]
    cols = [f"{i}:{show(c)}" for i, c in enumerate(chars)]
    fig = go.Figure(
        go.Heatmap(
            z=p,
            x=cols,
            y=rows,
            text=guesses,
            texttemplate="%{text}",
            colorscale="Greens",
            zmin=0,
            zmax=1,
            hovertemplate="%{y} · %{x} → %{text} (%{z:.3f})<extra></extra>",
        )
    )
    fig.update_layout(
        title=ui_text(lang, "learn.lens.heat"),
        xaxis_title=ui_text(lang, "learn.lens.position"),
        yaxis=dict(autorange="reversed"),
        margin=dict(l=90, r=10, t=40, b=40),
        height=380,
        template="plotly_white",
    )
    return fig


def lens_view(loaded, text_: str, lang: str = "en") -> go.Figure:
    from charlm.inspection.lens import logit_lens

    if not isinstance(text_, str) or not text_:
        raise DataError("give a text to read through the logit lens")
    chars = text_[: min(MAX_LENS_CHARS, loaded.model.max_context or MAX_LENS_CHARS)]
    lens = logit_lens(loaded.model, loaded.vocab.encode(chars).ids)
    return lens_figure(lens.probs.numpy(), chars, loaded.vocab.chars, lang)


def build_lens_section(model_picker: gr.Dropdown, registry, text_box: gr.Textbox) -> None:
    """The section inside the Inspect tab: a button and the heatmap, for the text in ``text_box``."""
    with gr.Accordion(t("learn.lens.title"), open=False, elem_id="inspect-lens"):
        gr.Markdown(t("learn.lens.intro"))
        btn = gr.Button(t("learn.lens.run"), elem_id="inspect-lens-run")
        plot = late_label(gr.Plot(elem_id="inspect-lens-plot"), "learn.lens.title")

    @user_errors
    def logit_lens(model: str, text_: str, request: gr.Request):
        """What each GPT layer would predict for the next character (final LayerNorm + head on each block)."""
        return lens_view(registry.resolve(model, session_key(request)), text_ or "", lang_of(request))

    btn.click(logit_lens, [model_picker, text_box], plot, api_name="logit_lens", concurrency_limit=2)


__all__ = ["MAX_LENS_CHARS", "build_lens_section", "lens_figure", "lens_view"]
