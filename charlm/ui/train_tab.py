"""The Train tab: pick a text, clean it, pick an architecture and a size, and watch the model learn.

Training is a generator event (``/train``) that yields about once a second, so the plot stays live and Stop or a
closed tab takes effect within a second. Whatever happens, the checkpoint saved so far becomes a model of this
session: it appears in the model picker and can be downloaded as a zip or resumed.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import gradio as gr
import pandas as pd
import torch

from charlm.data import build_corpus
from charlm.errors import CharlmError, DataError, TrainingError
from charlm.models import ARCHS, PRESETS, build_model, count_parameters, preset_config
from charlm.text import read_text
from charlm.train import DEFAULT_LR, TrainConfig, train
from charlm.ui.corpus import BUILTIN, PYDOC, CleanOptions, builtin_text, clean_text
from charlm.ui.models import ModelRegistry, safe_name

INTRO = (
    "Train your own character-level model. Choose a text (upload a `.txt`, paste one, or use the built-in "
    "Python documentation), optionally clean it, choose an architecture and a size, and press **Train**. "
    "The plot shows training and validation loss (lower is better); at each evaluation you see a sample of "
    "what the model writes. **Stop** keeps the model trained so far. The model appears in the model picker "
    "at the top, ready to chat with, and can be downloaded as a zip."
)
SOURCES = [("Uploaded file", "file"), ("Pasted text", "paste"), ("Built-in corpus", "builtin")]
YIELD_EVERY = 1.0  # seconds between updates sent to the page
MAX_PLOT_POINTS = 1500


def count_params(arch: str, size: str, vocab_size: int, **overrides) -> int:
    """Parameters of a configuration, without allocating weights (built on the meta device)."""
    cfg = preset_config(arch, size, vocab_size, **{k: v for k, v in overrides.items() if v})
    with torch.device("meta"):
        return count_parameters(build_model(cfg))


def size_choices(arch: str, vocab_size: int = 100) -> list[tuple[str, str]]:
    return [(f"{s} · {count_params(arch, s, vocab_size):,} params", s) for s in PRESETS.get(arch, PRESETS["gpt"])]


def _overrides(block_size, n_layer, n_embd, n_head, hidden_size, dropout) -> dict:
    vals = dict(block_size=block_size, n_layer=n_layer, n_embd=n_embd, n_head=n_head, hidden_size=hidden_size)
    out = {k: int(v) for k, v in vals.items() if v and int(v) > 0}
    if dropout and float(dropout) > 0:
        out["dropout"] = float(dropout)
    return out


def load_source(source: str, corpus_file, pasted_text: str, builtin: str, max_bytes: int) -> tuple[str, str]:
    """(text, name) of the chosen training text, with a clear message when it is missing or unusable."""
    if source == "file":
        if not corpus_file:
            raise DataError("upload a .txt file first (or choose pasted text or the built-in corpus)")
        return read_text(corpus_file, max_bytes=max_bytes), Path(corpus_file).name
    if source == "paste":
        text = (pasted_text or "").replace("\r\n", "\n")
        if not text.strip():
            raise DataError("the pasted text is empty")
        if len(text.encode("utf-8")) > max_bytes:
            raise DataError(f"the pasted text is larger than the {max_bytes >> 20} MB limit")
        return text, "pasted text"
    if source == "builtin":
        return builtin_text(builtin or PYDOC), builtin or PYDOC
    raise DataError(f"corpus source must be one of file, paste, builtin, not {source!r}")


def _plot(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows or [], columns=["step", "loss", "split"])
    train_part = df[df["split"] == "train"]
    if len(train_part) > MAX_PLOT_POINTS:  # keep the payload small: thin the noisy training curve only
        keep = train_part.iloc[:: math.ceil(len(train_part) / MAX_PLOT_POINTS)]
        df = pd.concat([keep, df[df["split"] != "train"]]).sort_values("step", kind="stable")
    return df


def _fmt_time(sec: float | None) -> str:
    if sec is None:
        return "?"
    return f"{sec:.0f} s" if sec < 120 else f"{sec / 60:.1f} min"


def build_train_tab(model_picker: gr.Dropdown, registry: ModelRegistry) -> None:
    """Create the Train tab and its events (``/corpus_stats``, ``/train``, ``/stop_training``)."""
    limits = registry.limits
    with gr.Tab("Train", elem_id="tab-train"):
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column():
                source = gr.Radio(SOURCES, value="file", label="Training text", elem_id="train-source")
                corpus_file = gr.File(label="Upload a .txt", file_types=[".txt"], type="filepath",
                                      elem_id="train-file", height=120)  # fmt: skip
                pasted = gr.Textbox("", label="…or paste text", lines=4, max_lines=10, elem_id="train-paste")
                builtin = gr.Dropdown(list(BUILTIN), value=PYDOC, label="…or a built-in corpus (works offline)")
            with gr.Column():
                with gr.Row():
                    lowercase = gr.Checkbox(label="Lowercase", info="fewer characters to learn")
                    collapse = gr.Checkbox(label="Collapse whitespace", info="runs of spaces → one")
                min_count = gr.Number(0, precision=0, minimum=0, label="Drop characters rarer than",
                                      info="0 = keep all; e.g. 5 removes stray symbols")  # fmt: skip
                stats = gr.Markdown("Choose a text to see its size and vocabulary.", elem_id="train-stats")
                arch = gr.Radio(list(ARCHS), value="gpt", label="Architecture", elem_id="train-arch",
                                info="gpt: transformer; lstm/gru/rnn: recurrent networks")  # fmt: skip
                size = gr.Radio(size_choices("gpt"), value="tiny", label="Size", elem_id="train-size")
                budget = gr.Slider(5, limits.max_train_seconds, min(120, limits.max_train_seconds), step=5,
                                   label="Time budget (seconds)", elem_id="train-budget")  # fmt: skip
                with gr.Row():
                    model_name = gr.Textbox("", label="Model name (optional)", max_lines=1, elem_id="train-name")
                    resume = gr.Checkbox(label="Resume my last run", info="same text; trains for the budget again")
        with gr.Accordion("Advanced settings (0 = the preset's value)", open=False, elem_id="train-advanced"):
            with gr.Row():
                max_steps = gr.Number(
                    0,
                    precision=0,
                    minimum=0,
                    label="Max steps",
                    info="0 = until the time budget",
                    elem_id="train-max-steps",
                )
                lr = gr.Number(0, minimum=0, label="Learning rate", info="0 = a good default per architecture")
                batch_size = gr.Number(32, precision=0, minimum=1, label="Batch size")
                eval_interval = gr.Number(
                    100, precision=0, minimum=1, label="Evaluate every (steps)", elem_id="train-eval-every"
                )
                seed = gr.Number(1337, precision=0, label="Seed")
            with gr.Row():
                block_size = gr.Number(0, precision=0, minimum=0, label="Context length (chars)")
                n_layer = gr.Number(0, precision=0, minimum=0, label="Layers")
                n_embd = gr.Number(0, precision=0, minimum=0, label="Embedding width")
                n_head = gr.Number(0, precision=0, minimum=0, label="Heads (gpt)")
                hidden_size = gr.Number(0, precision=0, minimum=0, label="Hidden size (recurrent)")
                dropout = gr.Number(0, minimum=0, maximum=0.9, label="Dropout")
        with gr.Row():
            start_btn = gr.Button("Train", variant="primary", elem_id="train-btn")
            stop_btn = gr.Button("Stop", variant="stop", elem_id="train-stop")
        bar = gr.Markdown("", elem_id="train-progress", min_height=48)  # the queue position and progress bar show here
        status = gr.Markdown("", elem_id="train-status")
        plot = gr.LinePlot(x="step", y="loss", color="split", label="Loss (nats per character)", y_lim=[0, None],
                           elem_id="loss-plot")  # fmt: skip
        sample = gr.Textbox(label="Sample at the latest evaluation", lines=5, interactive=False,
                            elem_id="train-sample")  # fmt: skip
        trained = gr.Textbox(label="Trained model", visible=False, elem_id="train-model")
        ckpt = gr.File(label="Checkpoint (zip: model.safetensors + config.json)", interactive=False,
                       elem_id="ckpt", height=90)  # fmt: skip

    corpus_inputs = [source, corpus_file, pasted, builtin, lowercase, collapse, min_count]
    arch_inputs = [arch, size, block_size, n_layer, n_embd, n_head, hidden_size, dropout]

    def corpus_stats(source, corpus_file, pasted_text, builtin, lowercase, collapse_whitespace, min_count):
        """Size and vocabulary of the chosen text, before and after cleaning."""
        try:
            text, name = load_source(source, corpus_file, pasted_text, builtin, limits.max_upload_bytes)
            _, st = clean_text(text, CleanOptions(bool(lowercase), bool(collapse_whitespace), int(min_count or 0)))
        except CharlmError as exc:
            return f"⚠ {exc}"
        return f"**{name}** · " + st.markdown()

    def params_info(arch, size, block_size, n_layer, n_embd, n_head, hidden_size, dropout):
        try:
            n = count_params(arch, size, 100, **_overrides(block_size, n_layer, n_embd, n_head, hidden_size, 0))
        except (ValueError, CharlmError) as exc:
            return gr.update(info=f"⚠ {exc}")
        warn = f" — over this server's limit of {limits.max_params:,}" if n > limits.max_params else ""
        return gr.update(info=f"≈ {n:,} parameters (for a 100-character vocabulary){warn}")

    for comp in corpus_inputs:
        getattr(comp, "upload" if comp is corpus_file else "change")(
            corpus_stats, corpus_inputs, stats, api_name="corpus_stats" if comp is source else False,
            show_progress="hidden", trigger_mode="always_last",
        )  # fmt: skip
    corpus_file.upload(lambda: "file", None, source, api_visibility="private", queue=False)
    pasted.input(lambda: "paste", None, source, api_visibility="private", queue=False)
    builtin.input(lambda: "builtin", None, source, api_visibility="private", queue=False)
    arch.change(lambda a: gr.update(choices=size_choices(a)), arch, size, api_visibility="private", queue=False)
    for comp in arch_inputs:
        comp.change(params_info, arch_inputs, size, api_visibility="private", show_progress="hidden")

    def train_model(
        source, corpus_file, pasted_text, builtin, lowercase, collapse_whitespace, min_count, arch, size,
        time_budget, max_steps, model_name, resume, lr, batch_size, eval_interval, seed, block_size, n_layer,
        n_embd, n_head, hidden_size, dropout, request: gr.Request, progress=gr.Progress(),  # noqa: B008
    ):  # fmt: skip
        """Train (or resume) a model on the chosen text; streams (plot, status, sample, model, checkpoint zip)."""
        key = request.session_hash or ""
        sess = registry.session(key)
        try:
            budget_s = float(time_budget or 0)
            if not 0 < budget_s <= limits.max_train_seconds:
                raise TrainingError(f"the time budget must be between 1 and {limits.max_train_seconds} seconds")
            steps = int(max_steps or 0)
            if steps < 0:
                raise TrainingError("max steps must be 0 (no limit) or more")
            rows: list[dict] = []
            if resume:
                run_dir = sess.last_run
                if run_dir is None or not (run_dir / "last").is_dir():
                    raise TrainingError("there is no earlier run in this session to resume; train a model first")
                text = (run_dir / "corpus.txt").read_text(encoding="utf-8")
                corpus = build_corpus(text, name=json.loads((run_dir / "run.json").read_text())["corpus"])
                name = json.loads((run_dir / "run.json").read_text())["name"]
                state = json.loads((run_dir / "last" / "trainer_state.json").read_text(encoding="utf-8"))
                for h in state.get("history", []):
                    if "train_loss" in h:
                        rows.append({"step": h["step"], "loss": h["train_loss"], "split": "train"})
                    if "val_loss" in h:
                        rows.append({"step": h["step"], "loss": h["val_loss"], "split": "validation"})
                mcfg = None
                cfg = TrainConfig(
                    max_steps=state["step"] + steps if steps else None, time_budget=state["elapsed"] + budget_s,
                    eval_interval=int(eval_interval or 100), sample_chars=120,
                )  # fmt: skip
            else:
                text, corpus_name = load_source(source, corpus_file, pasted_text, builtin, limits.max_upload_bytes)
                text, _ = clean_text(text, CleanOptions(bool(lowercase), bool(collapse_whitespace),
                                                        int(min_count or 0)))  # fmt: skip
                corpus = build_corpus(text, name=corpus_name)
                try:
                    overrides = _overrides(block_size, n_layer, n_embd, n_head, hidden_size, dropout)
                    mcfg = preset_config(arch, size, corpus.vocab.size, **overrides)
                except ValueError as exc:
                    raise TrainingError(str(exc)) from None
                with torch.device("meta"):
                    n_params = count_parameters(build_model(mcfg))
                if n_params > limits.max_params:
                    raise TrainingError(
                        f"this model would have {n_params:,} parameters; this server allows {limits.max_params:,}. "
                        "Choose a smaller size"
                    )
                cfg = TrainConfig(
                    batch_size=int(batch_size or 32), max_steps=steps or None, time_budget=budget_s,
                    lr=float(lr) if lr else DEFAULT_LR[arch], eval_interval=int(eval_interval or 100),
                    eval_chars=20_000, seed=int(seed or 0), sample_chars=120,
                )  # fmt: skip
                name = registry.unique_name(key, model_name or f"{Path(corpus_name).stem}-{arch}-{size}")
                run_dir = sess.dir / f"run-{safe_name(name)}-{int(time.time() * 1000)}"
                run_dir.mkdir(parents=True)
                (run_dir / "corpus.txt").write_text(text, encoding="utf-8")
                (run_dir / "run.json").write_text(json.dumps({"name": name, "corpus": corpus_name}))
                sess.last_run = run_dir
        except CharlmError as exc:
            raise gr.Error(str(exc)) from None

        sess.stop = stop = type(sess.stop)()
        sess.run_done.clear()
        events = train(corpus, mcfg, cfg, run_dir, resume=bool(resume), should_stop=stop.is_set, name=name)
        registered = bool(resume)
        if resume:
            name = registry.add(key, name, run_dir / "best", "trained", replace=True)
        sample_text, last, final = "", 0.0, None
        head = f"**{name}** · {corpus.name} · {corpus.n_chars:,} chars · vocabulary {corpus.vocab.size - 1}"

        def status_line(ev) -> str:
            parts = [head, f"step {ev.step:,}" + (f" / {cfg.max_steps:,}" if cfg.max_steps else "")]
            if ev.tokens_per_sec:
                parts.append(f"{ev.tokens_per_sec:,.0f} chars/s")
            parts.append(f"elapsed {_fmt_time(ev.elapsed)}, ETA {_fmt_time(ev.eta)}")
            vals = [r["loss"] for r in rows if r["split"] == "validation"]
            if vals:
                parts.append(f"validation {min(vals) / math.log(2):.3f} bits/char (best)")
            return " · ".join(parts)

        def finish(reason: str) -> tuple[str, str | None]:
            """Register the best checkpoint as this session's model and zip it; returns (name, zip path)."""
            nonlocal name
            if not (run_dir / "best" / "model.safetensors").is_file():
                return name, None
            name = registry.add(key, name, run_dir / "best", "trained", replace=True)
            zip_path = str(registry.zip_model(name, key))
            sess.last_result = (name, zip_path, reason)
            return name, zip_path

        try:
            tick = None  # the latest step event: the status shows its rate and ETA
            for ev in events:
                if ev.kind == "step":
                    tick = ev
                    rows.append({"step": ev.step, "loss": ev.loss, "split": "train"})
                elif ev.kind == "eval":
                    rows.append({"step": ev.step, "loss": ev.val_loss, "split": "validation"})
                    sample_text = ev.sample or sample_text
                elif ev.kind in ("done", "stopped"):
                    final = ev
                    break
                new_model = ev.kind == "saved" and not registered and Path(ev.path).name == "best"
                if new_model:  # chat with it while it trains: the picker re-reads each better save
                    registered = True
                    name = registry.add(key, name, run_dir / "best", "trained", replace=True)
                if new_model or ev.kind == "eval" or time.monotonic() - last >= YIELD_EVERY:
                    now = tick or ev
                    progress(now.progress, desc=f"step {now.step}")
                    picker, named = (gr.update(choices=registry.choices(key)), name) if new_model else (gr.skip(),) * 2
                    yield _plot(rows), status_line(now), sample_text, named, gr.skip(), picker
                    last = time.monotonic()
        except GeneratorExit:  # Stop (cancel) or a closed tab: let the trainer save, then keep the model
            stop.set()
            try:
                for _ in events:
                    pass
                finish("stopped")
            except Exception:  # noqa: BLE001 - the session folder may already be gone (tab closed)
                pass
            raise
        except CharlmError as exc:
            finish("error")
            raise gr.Error(str(exc)) from None
        finally:
            sess.run_done.set()
        s = final.summary if final is not None else {}
        name, zip_path = finish(s.get("reason", "done"))
        bpc = s.get("best_val_bpc")
        how = "stopped" if final is not None and final.kind == "stopped" else f"finished ({s.get('reason', 'done')})"
        msg = (
            f"{head} · **{how}** after {s.get('steps', 0):,} steps in {_fmt_time(s.get('elapsed_sec'))}"
            + (f" · validation {bpc:.3f} bits/char" if bpc is not None else "")
            + f". **{name}** is now selected in the model picker: chat with it in the Chat tab, download it below, "
            "or tick *Resume my last run* to train it further."
        )
        yield _plot(rows), msg, sample_text, name, zip_path, gr.update(choices=registry.choices(key), value=name)

    def after_training(request: gr.Request):
        """After a Stop (cancel) the generator cannot send its last update; this one shows the kept model."""
        sess = registry.session(request.session_hash or "")
        sess.run_done.wait(timeout=60)
        result = getattr(sess, "last_result", None)
        if result is None:
            return gr.skip(), gr.skip(), gr.update(interactive=True)
        name, zip_path, _ = result
        return (
            gr.update(choices=registry.choices(request.session_hash or ""), value=name),
            zip_path,
            gr.update(interactive=True),
        )

    train_inputs = [
        source, corpus_file, pasted, builtin, lowercase, collapse, min_count, arch, size, budget, max_steps,
        model_name, resume, lr, batch_size, eval_interval, seed, block_size, n_layer, n_embd, n_head, hidden_size,
        dropout,
    ]  # fmt: skip
    queued = f"⏳ Waiting for a training slot ({limits.max_concurrent_training} run(s) at a time; your place is shown)…"
    ev = start_btn.click(
        lambda: (gr.update(interactive=False), queued), None, [start_btn, status], queue=False,
        api_visibility="private",
    ).then(
        train_model, train_inputs, [plot, status, sample, trained, ckpt, model_picker], api_name="train",
        concurrency_limit=limits.max_concurrent_training, concurrency_id="train", show_progress_on=[bar],
    )  # fmt: skip
    ev.then(after_training, None, [model_picker, ckpt, start_btn], api_visibility="private")
    ev.failure(lambda: gr.update(interactive=True), None, start_btn, api_visibility="private")

    def stop_training(request: gr.Request) -> str:
        """Ask this session's training to stop; the model trained so far is kept."""
        registry.session(request.session_hash or "").stop.set()
        return "Stopping… the model trained so far is being saved."

    stop_btn.click(stop_training, None, status, api_name="stop_training", queue=False, cancels=[ev])
