"""The whole web app: a model picker shared by every tab, then Learn, Chat, Train, Evaluate, Backprop and Inspect.

``build_app()`` returns the Blocks (with its queue configured); ``launch_kwargs()`` holds what Gradio 6 wants at
``launch()`` (css, theme, upload cap). ``app.py`` at the repository root only combines the two.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import threading
import time
import types
from pathlib import Path

import gradio as gr
import torch
from starlette.middleware import Middleware

from charlm.errors import CharlmError
from charlm.memory import limit_arenas as limit_malloc_arenas
from charlm.memory import release as release_memory
from charlm.ui.backprop_tab import build_backprop_tab
from charlm.ui.chat_tab import build_chat_tab
from charlm.ui.common import session_key, user_errors
from charlm.ui.evaluate_tab import build_evaluate_tab
from charlm.ui.guard import install as install_guard
from charlm.ui.i18n import I18N, attach_late, lang_of, late_label, static, t, tr_error, ui_text
from charlm.ui.inspect_tab import build_inspect_tab
from charlm.ui.learn_tab import build_learn_tab
from charlm.ui.limits import Limits
from charlm.ui.registry import ModelRegistry
from charlm.ui.train_tab import build_train_tab
from charlm.ui.uploads import UploadQuota

DEFAULT_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
CSS = """
#chatbot .message-content span, #chatbot .message-content p {
  white-space: pre-wrap; font-family: ui-monospace, monospace
}
#train-sample textarea { font-family: ui-monospace, monospace }
#model-card p { margin: 0.2em 0 }
"""


# Gradio 6.31's toast titles are the message type, capitalised in the browser ("Error"): gr.Error's ``title`` is
# not shown and the front end's own tables do not translate it. A Chinese page gets its word instead.
TOAST_TITLES = """<script>
(() => {
  const lang = (navigator.language || "").toLowerCase();
  if (!lang.startsWith("zh")) return;
  const tw = /^zh-(tw|hk|mo)|hant/.test(lang);
  const words = {Error: tw ? "錯誤" : "错误", Warning: "警告", Info: "提示", Success: "成功"};
  const fix = () => document.querySelectorAll(".toast-title").forEach((title) => {
    const node = title.firstChild;
    const word = node && node.nodeType === 3 ? words[node.nodeValue.trim()] : undefined;
    if (word) node.nodeValue = word + " ";
  });
  new MutationObserver(fix).observe(document.documentElement, {childList: true, subtree: true, characterData: true});
})();
</script>"""


def launch_kwargs(limits: Limits | None = None) -> dict:
    """Arguments for ``demo.launch()``: Gradio 6 takes css/theme/head there, the upload caps are enforced there (the
    per-file one by Gradio, the per-client and total ones by ``charlm.ui.uploads``), and the translation tables
    (``charlm.ui.i18n``) are only accepted there."""
    limits = limits or Limits.from_env()
    quota = Middleware(UploadQuota, limits=limits)  # per-client and total bounds on Gradio's upload route
    # Every streaming reply holds one of Gradio's worker threads (40 by default): leave room for the others.
    threads = max(40, limits.chat_concurrency + 4 * limits.heavy_concurrency + 8)
    return {"css": CSS, "theme": gr.themes.Soft(), "max_file_size": limits.max_upload_bytes, "i18n": I18N,
            "head": TOAST_TITLES, "app_kwargs": {"middleware": [quota]}, "max_threads": threads}  # fmt: skip


def skip_missing_matplotlib() -> bool:
    """When matplotlib is not installed, mark it as missing once (``sys.modules[name] = None``, Python's documented
    way to block an import), so that a failed ``import matplotlib`` costs nothing.

    Why: Gradio runs every queued call, and every streamed update of a generator, inside a context manager that
    tries ``import matplotlib`` on the way in and on the way out. Without matplotlib each try searches every entry
    of ``sys.path`` again, on the server's one event-loop thread: 25% of that thread's time with 30 chat replies
    streaming (py-spy, docs/benchmarks.md "A classroom"). True when it marked it.
    """
    import importlib.util

    if "matplotlib" in sys.modules or importlib.util.find_spec("matplotlib") is not None:
        return False
    sys.modules["matplotlib"] = None  # type: ignore[assignment]  # import matplotlib -> ModuleNotFoundError at once
    return True


class _CachedSignatures(types.ModuleType):
    """``inspect`` as ``gradio.blocks`` sees it: the same module, with ``signature`` remembered per callable."""

    signature = staticmethod(functools.lru_cache(maxsize=1024)(inspect.signature))

    def __getattr__(self, name: str):
        return getattr(inspect, name)


def cache_block_signatures() -> bool:
    """Let ``gradio.blocks`` remember ``inspect.signature`` per class instead of recomputing it.

    Why: Gradio builds a fresh copy of every component's config for each new session (``SessionState``: each
    first request of a page or of an API client), on the server's one event-loop thread, and each of this app's
    ~450 components asks ``inspect.signature(its class.__init__)`` anew: half of the 40-77 ms a new session costs,
    so 30 students' first messages held every stream up for 1-2 s (py-spy, docs/benchmarks.md "A classroom"). A
    function's signature never changes, so remembering it changes nothing else (``tests/test_app_routes.py``
    compares the configs). True when it was installed now.
    """
    import gradio.blocks

    if isinstance(gradio.blocks.inspect, _CachedSignatures):
        return False
    gradio.blocks.inspect = _CachedSignatures("inspect")
    return True


def build_app(checkpoints_dir: str | Path | None = None, limits: Limits | None = None) -> gr.Blocks:
    """Build the Blocks; every per-user thing lives in the registry, keyed by the browser's lasting key."""
    limits = limits or Limits.from_env()
    limit_malloc_arenas()  # before the server's worker threads exist: see charlm.memory
    skip_missing_matplotlib()
    cache_block_signatures()
    torch.set_num_threads(max(1, limits.torch_threads))  # process-wide; see Limits.torch_threads
    registry = ModelRegistry(checkpoints_dir or os.environ.get("CHARLM_CHECKPOINTS") or DEFAULT_CHECKPOINTS, limits)
    default = registry.default_name or ""

    def resolve(name: str, key: str):
        return registry.resolve_chat(name, key)

    # uploaded files (and downloads made for the page) are deleted upload_ttl seconds after they were stored
    with gr.Blocks(title="charlm", delete_cache=(60, max(60, int(limits.upload_ttl)))) as demo:
        demo.charlm_registry = registry  # for tests and embedding
        gr.Markdown(t("app.intro"))
        picker, card = _model_bar(registry, default)
        with gr.Tabs():
            learn = build_learn_tab(picker, registry, limits)  # first in the bar
            build_chat_tab(picker, resolve, limits, default)
            build_train_tab(picker, registry)
            build_evaluate_tab(picker, registry)
            build_backprop_tab(limits)
            build_inspect_tab(picker, registry)
        learn.link(demo)  # its "open the full tab" buttons reach into the other tabs
        gr.Markdown(static(limits.describe), elem_id="limits")
        browser_key = gr.BrowserState(None, storage_key="charlm-user", secret=registry.store.browser_secret())

        def restore_user(key: str | None, request: gr.Request):
            """A page load: tie this session to the browser's own models (they survive server restarts)."""
            session = session_key(request)
            key = registry.bind(session, key)
            lang = lang_of(request)
            if lang == "en":
                return key, gr.update(choices=registry.choices(session))
            return key, gr.update(choices=registry.choices(session), value=registry.default_for(lang) or None)

        def forget_session(request: gr.Request) -> None:
            registry.drop_session(session_key(request))
            release_state(demo, request.session_hash or "")

        demo.load(restore_user, browser_key, [browser_key, picker], api_name="restore_user",
                  api_visibility="private", queue=False)  # fmt: skip
        demo.unload(forget_session)
        attach_late(demo)
    _share_chat_slots(demo)
    # api_open=False: ``/gradio_api/run/<name>`` (which skips the queue and its concurrency limits) refuses every
    # queued event; the page and gradio_client use the queue, and so does ``/gradio_api/call/<name>``.
    demo.queue(default_concurrency_limit=1, max_size=int(os.environ.get("CHARLM_QUEUE_SIZE", "64")), api_open=False)
    install_guard(demo, limits)
    _start_cleaner(registry)
    return demo


def release_state(demo: gr.Blocks, key: str) -> None:
    """A closed session's ``gr.State`` values and its copy of the page's config, freed now: Gradio keeps them an
    hour after the tab closes (``STATE_TTL_WHEN_CLOSED``), which was +220 MB for 40 closed Inspect sessions
    (issue 19). Then malloc gives the pages back (``charlm.memory.release``)."""
    holder = getattr(demo, "state_holder", None)
    if holder is None or not key or key not in holder:
        return
    holder.delete_state(key)  # runs each State's delete_callback
    with holder.lock:
        holder.session_data.pop(key, None)
        holder.time_last_used.pop(key, None)
    release_memory()


def _share_chat_slots(demo: gr.Blocks) -> None:
    """The page's chat (ChatInterface's submit and retry), ``/chat_stream`` and ``/chat`` each get their own
    concurrency group from Gradio; put them in one, so ``CHARLM_CHAT_CONCURRENCY`` replies are generated at once in
    total, not per endpoint."""
    for fn in demo.fns.values():
        name = fn.api_name or ""
        if name in ("chat", "chat_stream") or name.startswith("_submit_fn"):
            fn.concurrency_id = "chat"


def _model_bar(registry: ModelRegistry, default: str) -> tuple[gr.Dropdown, gr.Markdown]:
    """The model picker and card above the tabs, with upload, download and delete."""
    with gr.Row(equal_height=True):
        picker = gr.Dropdown(
            list(registry.shipped), value=default or None, label=t("app.model"), allow_custom_value=True,
            elem_id="model-picker", scale=1, info=t("app.model.info"),
        )  # fmt: skip
        with gr.Column(scale=3):
            first_card = (lambda lang: registry.card(default, "", lang)) if default else _no_models(registry)
            card = gr.Markdown(static(first_card, "card"), elem_id="model-card")
    with gr.Accordion(t("app.upload.title"), open=False):
        with gr.Row():
            upload = late_label(gr.File(
                file_count="multiple", file_types=[".safetensors", ".json", ".zip"], type="filepath",
                elem_id="model-upload", height=120,
            ), "app.upload.files")  # fmt: skip
            with gr.Column():
                zip_btn = gr.Button(t("app.zip"), elem_id="model-zip")
                zip_file = late_label(gr.File(interactive=False, elem_id="model-download"), "app.download")
                delete_btn = gr.Button(t("app.delete"), variant="stop", elem_id="model-delete")
    heavy = registry.limits.heavy_concurrency

    def model_card(model: str, request: gr.Request) -> str:
        try:
            return registry.card(model, session_key(request), lang_of(request))
        except CharlmError as exc:
            return f"⚠ {tr_error(request, str(exc))}"

    @user_errors(heavy=True)
    def upload_model(files: list[str] | None, request: gr.Request):
        """Check an uploaded checkpoint and add it to your models."""
        key = session_key(request)
        name = registry.upload(key, files or [])
        return gr.update(choices=registry.choices(key), value=name), registry.card(name, key, lang_of(request))

    @user_errors
    def download_model(model: str, request: gr.Request) -> str:
        return str(registry.zip_model(model, session_key(request)))

    @user_errors
    def delete_model(model: str, request: gr.Request):
        """Delete one of your own models and its files (shipped models stay)."""
        key = session_key(request)
        registry.delete(model, key)
        default = registry.default_name
        return gr.update(choices=registry.choices(key), value=default), registry.card(default, key, lang_of(request))

    picker.change(model_card, picker, card, api_name="model_card", show_progress="hidden")
    upload.upload(upload_model, upload, [picker, card], api_name="upload_model", concurrency_limit=heavy,
                  concurrency_id="upload")  # fmt: skip
    zip_btn.click(download_model, picker, zip_file, api_name="download_model", concurrency_limit=heavy,
                  concurrency_id="zip")  # fmt: skip
    delete_btn.click(delete_model, picker, [picker, card], api_name="delete_model")
    return picker, card


def _start_cleaner(registry: ModelRegistry, every: float = 600.0) -> None:
    """Expire old models and sessions every few minutes, in a daemon thread that dies with the server."""

    def loop() -> None:
        while True:
            time.sleep(every)
            try:
                registry.clean_up()
            except OSError as exc:  # a file vanished under us: try again next time
                print(f"charlm: clean-up failed: {exc}", file=sys.stderr)

    threading.Thread(target=loop, name="charlm-cleaner", daemon=True).start()


def _no_models(registry: ModelRegistry):
    """The card when no model ships, in a language (the server's load errors, translated where known)."""

    def render(lang: str) -> str:
        errors = "\n".join(f"⚠ {tr_error(lang, e)}" for e in registry.load_errors)
        return ui_text(lang, "card.no_models") + ("\n\n" + errors if errors else "")

    return render
