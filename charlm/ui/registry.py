"""Which models a browser session can use: the shipped checkpoints (loaded once, shared read-only by every
session) plus the models this session trained or uploaded (its own, in its own temp folder).

Sessions are keyed by Gradio's ``session_hash``: a browser tab or a ``gradio_client.Client`` is one session, so
one user never sees, selects or overwrites another's models. Uploaded checkpoints are only ever read through
``load_checkpoint`` (safetensors + JSON, never unpickled).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from charlm.archive import pack_checkpoint, unpack_checkpoint
from charlm.checkpoint import CONFIG_FILE, MODEL_FILE, LoadedModel, load_checkpoint
from charlm.errors import CheckpointError
from charlm.quantize import quantize_for_cpu
from charlm.runs import safe_name
from charlm.ui.limits import Limits

SESSION_IDLE_SECONDS = 6 * 3600  # sessions whose tab vanished without an unload event are swept after this


@dataclass
class Entry:
    name: str
    path: Path  # checkpoint folder (config.json + model.safetensors)
    kind: str  # "shipped", "trained" or "uploaded"
    loaded: LoadedModel | None = None
    stamp: int = 0  # mtime of the weights when loaded: a model still training is re-read after each save
    chat: LoadedModel | None = None  # int8 copy for chat replies (Limits.serve_int8), made from ``chat_src``
    chat_src: LoadedModel | None = None


@dataclass
class Session:
    key: str
    dir: Path
    models: dict[str, Entry] = field(default_factory=dict)
    last_run: Path | None = None  # training output folder, for resume
    stop: threading.Event = field(default_factory=threading.Event)
    run_done: threading.Event = field(default_factory=threading.Event)
    last_seen: float = field(default_factory=time.time)
    last_result: tuple | None = None  # (model name, zip path, reason) of the last training run

    def __post_init__(self) -> None:
        self.run_done.set()  # no run in progress


class ModelRegistry:
    def __init__(self, checkpoints_dir: str | Path, limits: Limits, root: str | Path | None = None) -> None:
        self.limits = limits
        self.root = Path(root or tempfile.mkdtemp(prefix="charlm-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        atexit.register(shutil.rmtree, self.root, True)
        self._lock = threading.RLock()
        self.sessions: dict[str, Session] = {}
        self.shipped: dict[str, Entry] = {}
        self.load_errors: list[str] = []
        folder = Path(checkpoints_dir)
        for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
            if (sub / CONFIG_FILE).is_file():
                try:  # load now: the first chat must not wait, and every session shares this one copy
                    loaded = load_checkpoint(sub)
                except CheckpointError as exc:
                    self.load_errors.append(str(exc))
                    continue
                self.shipped[sub.name] = Entry(sub.name, sub, "shipped", loaded)
                self._chat_copy(self.shipped[sub.name])  # quantize now, not in the first user's reply
        gpts = [n for n, e in self.shipped.items() if e.loaded.config.arch == "gpt"]
        self.default_name: str | None = (gpts or list(self.shipped) or [None])[0]

    # --- sessions -------------------------------------------------------------------------------------
    def session(self, key: str) -> Session:
        with self._lock:
            sess = self.sessions.get(key)
            if sess is None:
                self._sweep()
                sess = Session(key, Path(tempfile.mkdtemp(prefix="s-", dir=self.root)))
                self.sessions[key] = sess
            sess.last_seen = time.time()
            return sess

    def drop_session(self, key: str) -> None:
        """Forget a closed session and delete its files (its training, if any, was already cancelled)."""
        with self._lock:
            sess = self.sessions.pop(key, None)
        if sess is not None:
            sess.stop.set()
            shutil.rmtree(sess.dir, ignore_errors=True)

    def _sweep(self) -> None:
        cutoff = time.time() - SESSION_IDLE_SECONDS
        for key in [k for k, s in self.sessions.items() if s.last_seen < cutoff]:
            self.drop_session(key)

    # --- names ----------------------------------------------------------------------------------------
    def choices(self, key: str) -> list[str]:
        with self._lock:
            sess = self.sessions.get(key)
            return list(self.shipped) + (list(sess.models) if sess else [])

    def unique_name(self, key: str, wanted: str) -> str:
        base = safe_name(wanted)
        taken = set(self.choices(key))
        name, k = base, 2
        while name in taken:
            name, k = f"{base}-{k}", k + 1
        return name

    def add(self, key: str, name: str, path: Path, kind: str, replace: bool = False) -> str:
        """Register a session model; ``replace`` keeps the name (a resumed run, a checkpoint that improved)."""
        sess = self.session(key)
        with self._lock:
            if not (replace and name in sess.models):
                name = self.unique_name(key, name)
                if len(sess.models) >= self.limits.max_session_models:  # forget the oldest one
                    oldest = next(iter(sess.models))
                    sess.models.pop(oldest)
            sess.models[name] = Entry(name, Path(path), kind)
        return name

    def entry(self, name: str, key: str) -> Entry:
        with self._lock:
            sess = self.sessions.get(key)
            entry = self.shipped.get(name) or (sess.models.get(name) if sess else None)
        if entry is None:
            known = ", ".join(self.choices(key)) or "none"
            raise CheckpointError(f"no model named {name!r} in this session (available: {known})")
        return entry

    def resolve(self, name: str | None, key: str) -> LoadedModel:
        """The model to sample from; a session model is re-read when training saved a better checkpoint."""
        entry = self.entry(name or self.default_name or "", key)
        if entry.kind == "shipped":
            return entry.loaded
        try:
            stamp = (entry.path / MODEL_FILE).stat().st_mtime_ns
        except OSError:
            stamp = -1
        if entry.loaded is None or stamp != entry.stamp:
            for attempt in range(3):  # the trainer swaps folders atomically; a read can fall in between
                try:
                    entry.loaded, entry.stamp = load_checkpoint(entry.path), stamp
                    break
                except CheckpointError:
                    if attempt == 2:
                        raise
                    time.sleep(0.2)
        return entry.loaded

    def resolve_chat(self, name: str | None, key: str) -> LoadedModel:
        """The model to chat with: an int8 copy on the CPU when ``limits.serve_int8``, else ``resolve``'s."""
        self.resolve(name, key)  # re-reads a session model that training saved again
        return self._chat_copy(self.entry(name or self.default_name or "", key))

    def _serves_int8(self, loaded: LoadedModel) -> bool:
        return self.limits.serve_int8 and loaded.device.type == "cpu"

    def _chat_copy(self, entry: Entry) -> LoadedModel:
        loaded = entry.loaded
        if loaded is None or not self._serves_int8(loaded):
            return loaded
        chat, src = entry.chat, entry.chat_src
        if chat is None or src is not loaded:  # new, or re-read after training saved a better checkpoint
            try:
                chat = quantize_for_cpu(loaded)
            except (RuntimeError, ValueError) as exc:  # no int8 engine in this torch build: serve fp32
                self.load_errors.append(f"int8 serving is off for {entry.name}: {exc}")
                chat = loaded  # and do not try again for these weights
            entry.chat, entry.chat_src = chat, loaded  # two racing replies build equal copies; either is fine
        return chat

    # --- upload and download --------------------------------------------------------------------------
    def upload(self, key: str, files: list[str]) -> str:
        """Register an uploaded ``model.safetensors`` + ``config.json`` pair, or a zip of a checkpoint folder."""
        paths = [Path(f) for f in files or []]
        if not paths:
            raise CheckpointError("choose a checkpoint: model.safetensors + config.json, or a .zip of the folder")
        for p in paths:
            if p.stat().st_size > self.limits.max_upload_bytes:
                raise CheckpointError(f"{p.name} is larger than the {self.limits.max_upload_mb:g} MB upload limit")
        sess = self.session(key)
        dest = Path(tempfile.mkdtemp(prefix="upload-", dir=sess.dir))
        try:
            if len(paths) == 1 and paths[0].suffix.lower() == ".zip":
                wanted = paths[0].stem
                unpack_checkpoint(paths[0], dest, max_bytes=2 * self.limits.max_upload_bytes)
            else:
                configs = [p for p in paths if p.suffix.lower() == ".json"]
                weights = [p for p in paths if p.suffix.lower() == ".safetensors"]
                if len(configs) != 1 or len(weights) != 1 or len(paths) != 2:
                    raise CheckpointError(
                        "upload exactly two files, model.safetensors and config.json (or one .zip of the folder); "
                        f"got {', '.join(p.name for p in paths)}"
                    )
                shutil.copyfile(configs[0], dest / CONFIG_FILE)
                shutil.copyfile(weights[0], dest / MODEL_FILE)
                wanted = ""
            loaded = load_checkpoint(dest)
            if loaded.n_params > self.limits.max_params:
                raise CheckpointError(
                    f"this model has {loaded.n_params:,} parameters; this server accepts at most "
                    f"{self.limits.max_params:,}"
                )
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        name = self.add(key, loaded.meta.get("name") or wanted or "uploaded", dest, "uploaded")
        entry = self.entry(name, key)
        entry.loaded, entry.stamp = loaded, (dest / MODEL_FILE).stat().st_mtime_ns
        return name

    def zip_model(self, name: str, key: str) -> Path:
        """A zip of the checkpoint folder (weights + config), ready to upload again or load with the CLI."""
        entry = self.entry(name, key)
        sess = self.session(key)
        out = Path(tempfile.mkdtemp(prefix="zip-", dir=sess.dir)) / f"{safe_name(name)}.zip"
        return pack_checkpoint(entry.path, out, safe_name(name))

    # --- model card -----------------------------------------------------------------------------------
    def card(self, name: str | None, key: str) -> str:
        """A few lines that say what the model is: architecture, size, training text, steps, quality."""
        if not name:
            return "No model selected."
        entry = self.entry(name, key)
        m = self.resolve(name, key)
        c = m.config
        if c.arch == "gpt":
            arch = f"GPT, {c.n_layer} layers × {c.n_embd} wide, {c.n_head} heads, context {c.block_size} chars"
        else:
            arch = f"{c.arch.upper()}, {c.n_layer} layer(s), hidden {c.hidden_size}, embedding {c.n_embd}"
        tr = m.meta.get("training") or {}
        corpus = tr.get("corpus") or {}
        lines = [f"**{name}** ({entry.kind}) · {arch} · **{m.n_params:,}** parameters · vocabulary {m.vocab.size - 1}"]
        facts = []
        if corpus.get("name"):
            facts.append(f"trained on *{corpus['name']}* ({corpus.get('chars', 0):,} chars)")
        if tr.get("steps") is not None:
            facts.append(f"{tr['steps']:,} steps in {tr.get('elapsed_sec', 0):.0f} s")
        if tr.get("best_val_bpc") is not None:
            facts.append(f"validation **{tr['best_val_bpc']:.3f} bits/char** (lower is better)")
        if self._serves_int8(m):
            facts.append("chat uses an int8 copy (faster; scores use the full-precision weights)")
        if facts:
            lines.append(" · ".join(facts))
        return "\n\n".join(lines)
