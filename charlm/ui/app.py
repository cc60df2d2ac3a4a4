"""The whole web app: a model picker shared by every tab, then Chat, Train, Evaluate and Backprop.

``build_app()`` returns the Blocks (with its queue configured); ``launch_kwargs()`` holds what Gradio 6 wants at
``launch()`` (css, theme, upload cap). ``app.py`` at the repository root only combines the two.
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr
import torch

from charlm.errors import CharlmError
from charlm.ui.backprop_tab import build_backprop_tab
from charlm.ui.chat_tab import build_chat_tab
from charlm.ui.common import user_errors
from charlm.ui.evaluate_tab import build_evaluate_tab
from charlm.ui.inspect_tab import build_inspect_tab
from charlm.ui.limits import Limits
from charlm.ui.registry import ModelRegistry
from charlm.ui.train_tab import build_train_tab

DEFAULT_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
CSS = """
#chatbot .message-content span, #chatbot .message-content p {
  white-space: pre-wrap; font-family: ui-monospace, monospace
}
#train-sample textarea { font-family: ui-monospace, monospace }
#model-card p { margin: 0.2em 0 }
"""
INTRO = (
    "# charlm · tiny character-level language models\n"
    "Chat with a small model trained on Shakespeare, train your own on any text, evaluate outputs, and watch "
    "backpropagation step by step. Everything runs on this server's CPU."
)


def launch_kwargs(limits: Limits | None = None) -> dict:
    """Arguments for ``demo.launch()``: Gradio 6 takes css/theme there, and the upload cap is enforced there."""
    limits = limits or Limits.from_env()
    return {"css": CSS, "theme": gr.themes.Soft(), "max_file_size": limits.max_upload_bytes}


def build_app(checkpoints_dir: str | Path | None = None, limits: Limits | None = None) -> gr.Blocks:
    """Build the Blocks; every per-user thing lives in the registry, keyed by the browser session."""
    limits = limits or Limits.from_env()
    torch.set_num_threads(max(1, limits.torch_threads))  # process-wide; see Limits.torch_threads
    registry = ModelRegistry(checkpoints_dir or os.environ.get("CHARLM_CHECKPOINTS") or DEFAULT_CHECKPOINTS, limits)
    default = registry.default_name or ""

    def resolve(name: str, key: str):
        return registry.resolve_chat(name, key)

    with gr.Blocks(title="charlm", delete_cache=(1800, 7200)) as demo:
        demo.charlm_registry = registry  # for tests and embedding
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            picker = gr.Dropdown(
                registry.choices(""), value=default or None, label="Model", allow_custom_value=True,
                elem_id="model-picker", scale=1, info="shipped models, plus the ones you train or upload",
            )  # fmt: skip
            with gr.Column(scale=3):
                card = gr.Markdown(registry.card(default, "") if default else _no_models(registry),
                                   elem_id="model-card")  # fmt: skip
        with gr.Accordion("Upload a checkpoint, or download the selected model", open=False):
            with gr.Row():
                upload = gr.File(
                    label="model.safetensors + config.json, or a .zip of the folder", file_count="multiple",
                    file_types=[".safetensors", ".json", ".zip"], type="filepath", elem_id="model-upload", height=120,
                )  # fmt: skip
                with gr.Column():
                    zip_btn = gr.Button("Zip the selected model", elem_id="model-zip")
                    zip_file = gr.File(label="Download", interactive=False, elem_id="model-download")
        with gr.Tabs():
            build_chat_tab(picker, resolve, limits, default)
            build_train_tab(picker, registry)
            build_evaluate_tab(
                picker, lambda name, request: registry.resolve(name, request.session_hash or ""), registry.choices
            )
            build_backprop_tab()
            build_inspect_tab(picker, registry)
        gr.Markdown(limits.describe(), elem_id="limits")

        def model_card(model: str, request: gr.Request) -> str:
            try:
                return registry.card(model, request.session_hash or "")
            except CharlmError as exc:
                return f"⚠ {exc}"

        @user_errors
        def upload_model(files: list[str] | None, request: gr.Request):
            """Check an uploaded checkpoint and add it to this session's models."""
            key = request.session_hash or ""
            name = registry.upload(key, files or [])
            return gr.update(choices=registry.choices(key), value=name), registry.card(name, key)

        @user_errors
        def download_model(model: str, request: gr.Request) -> str:
            return str(registry.zip_model(model, request.session_hash or ""))

        picker.change(model_card, picker, card, api_name="model_card", show_progress="hidden")
        upload.upload(upload_model, upload, [picker, card], api_name="upload_model")
        zip_btn.click(download_model, picker, zip_file, api_name="download_model")

        def forget_session(request: gr.Request) -> None:
            registry.drop_session(request.session_hash or "")

        demo.unload(forget_session)
    demo.queue(default_concurrency_limit=1, max_size=int(os.environ.get("CHARLM_QUEUE_SIZE", "64")))
    return demo


def _no_models(registry: ModelRegistry) -> str:
    msg = "No shipped model found: train one in the Train tab, or upload a checkpoint."
    return msg + ("\n\n" + "\n".join(f"⚠ {e}" for e in registry.load_errors) if registry.load_errors else "")
