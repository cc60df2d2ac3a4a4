"""Which models a browser session can use: the shipped checkpoints (loaded once, shared read-only by every
session) plus the models its user trained or uploaded (kept on disk by ``charlm.storage.store``, so no restart
loses them).

Who the user is: a page load sends the random key the browser keeps in its localStorage (``gr.BrowserState``);
``bind`` ties the Gradio session to that key's folder, so the same browser finds its models again after a restart
or in a new tab. A session without a key (an API client) gets a temporary user of its own, deleted when it closes
or after ``session_ttl`` idle seconds. One user never sees, selects or overwrites another's models.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from gradio.utils import get_upload_folder

from charlm.errors import CheckpointError
from charlm.models.quantize import quantize_for_cpu
from charlm.storage.archive import pack_checkpoint
from charlm.storage.checkpoint import CONFIG_FILE, MODEL_FILE, LoadedModel, load_checkpoint
from charlm.storage.run import Run, safe_name
from charlm.storage.store import BROWSER, SESSION, ModelStore, user_id
from charlm.ui.i18n import corpus_label, text, text_or
from charlm.ui.limits import Limits

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
SCRATCH_AGE = 3600  # zips and reports older than this are deleted (the page has long downloaded them)


@dataclass
class Entry:
    """A model in memory: its weights (re-read when training saves new ones) and its int8 copy for chat."""

    loaded: LoadedModel
    stamp: int = 0  # mtime of the weights when loaded
    chat: LoadedModel | None = None  # int8 copy for chat replies (Limits.serve_int8), made from ``chat_src``
    chat_src: LoadedModel | None = None


@dataclass
class Session:
    key: str  # Gradio's session_hash
    user: str  # the store's user id
    stop: threading.Event = field(default_factory=threading.Event)
    run_done: threading.Event = field(default_factory=threading.Event)
    last_seen: float = field(default_factory=time.time)
    last_result: tuple | None = None  # (model name, zip path, status message) of the last training run
    training: str | None = None  # name of the model this session is training now

    def __post_init__(self) -> None:
        self.run_done.set()  # no run in progress

    @property
    def lasting(self) -> bool:
        return self.user.startswith(BROWSER)


class ModelRegistry:
    def __init__(self, checkpoints_dir: str | Path, limits: Limits, root: str | Path | None = None) -> None:
        self.limits = limits
        self.store = ModelStore(root or limits.storage_dir)
        # Files for download (zips, reports) are written inside Gradio's own cache folder, which it serves without
        # making a copy; each session's previous file of a kind is deleted when it gets a new one.
        self.scratch = Path(get_upload_folder()) / "charlm-scratch" / str(os.getpid())
        self._lock = threading.RLock()
        self.sessions: dict[str, Session] = {}
        self._cache: OrderedDict[tuple[str, str], Entry] = OrderedDict()  # (user, name) -> Entry, LRU order
        self.shipped: dict[str, Entry] = {}
        self.load_errors: list[str] = []
        self.clean_up(startup=True)
        self._load_shipped(Path(checkpoints_dir))
        gpts = [n for n, e in self.shipped.items() if e.loaded.config.arch == "gpt"]
        self.default_name: str | None = (gpts or list(self.shipped) or [None])[0]

    def _load_shipped(self, folder: Path) -> None:
        for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
            if (sub / CONFIG_FILE).is_file():
                try:  # load now: the first chat must not wait, and every session shares this one copy
                    entry = Entry(load_checkpoint(sub))
                except CheckpointError as exc:
                    self.load_errors.append(str(exc))
                    continue
                self.shipped[sub.name] = entry
                self._chat_copy(sub.name, entry)  # quantize now, not in the first user's reply

    # --- sessions and users ---------------------------------------------------------------------------------------
    def session(self, key: str) -> Session:
        with self._lock:
            sess = self.sessions.get(key)
            if sess is None:
                sess = self.sessions[key] = Session(key, user_id(key or "anonymous", SESSION))
            sess.last_seen = time.time()
        self.store.touch(sess.user)
        return sess

    def bind(self, key: str, browser_key: str | None) -> str:
        """Tie session ``key`` to the browser's lasting key (a new one if it has none); returns that key."""
        if not (isinstance(browser_key, str) and KEY_RE.match(browser_key)):
            browser_key = secrets.token_urlsafe(24)  # 32 characters: unguessable, and safe in any URL or header
        sess = self.session(key)
        old, sess.user = sess.user, user_id(browser_key, BROWSER)
        if old != sess.user and not old.startswith(BROWSER):
            self.store.drop_user(old)  # the temporary user it had before the page finished loading
        self.store.touch(sess.user)
        return browser_key

    def drop_session(self, key: str) -> None:
        """A closed tab or client: a temporary user's models go with it; a browser's stay for its next visit."""
        with self._lock:
            sess = self.sessions.pop(key, None)
        if sess is not None and not sess.lasting:
            sess.stop.set()
            self.store.drop_user(sess.user)

    def stop_all(self, wait: float = 15.0) -> None:
        """Shutting down: every run stops and saves (within ``wait`` seconds)."""
        with self._lock:
            sessions = list(self.sessions.values())
        for sess in sessions:
            sess.stop.set()
        deadline = time.time() + wait
        for sess in sessions:
            sess.run_done.wait(timeout=max(0.0, deadline - time.time()))

    def clean_up(self, startup: bool = False) -> None:
        """Expire old users and idle API sessions, delete stale scratch files (and, at start-up, those of dead
        processes). Runs at start-up and every few minutes."""
        now = time.time()
        self.store.expire(self.limits.retention_days * 86400, prefix=BROWSER, now=now)
        with self._lock:
            idle = [k for k, s in self.sessions.items() if now - s.last_seen > self.limits.session_ttl]
        for key in idle:
            self.drop_session(key)
        self.store.expire(self.limits.session_ttl, prefix=SESSION, now=now)
        self.store.expire(self.limits.session_ttl, prefix=".upload-", now=now)  # staging left by a crash
        for folder in self.scratch.parent.glob("*") if self.scratch.parent.is_dir() else []:
            dead = startup and folder.name.isdigit() and not _alive(int(folder.name))
            if dead or folder.name == str(os.getpid()):
                _remove_older(folder, 0 if dead else SCRATCH_AGE, now)
        if startup:  # folders of charlm versions before 0.2, which deleted nothing
            for old in Path(tempfile.gettempdir()).glob("charlm-app-*"):
                if now - old.stat().st_mtime > SCRATCH_AGE:
                    shutil.rmtree(old, ignore_errors=True)

    # --- names ----------------------------------------------------------------------------------------------------
    def user_models(self, key: str) -> list[Run]:
        """The session's user's models that have weights to use (a run still before its first save is not one)."""
        return [r for r in self.store.models(self.session(key).user) if r.checkpoint is not None]

    def choices(self, key: str) -> list[str]:
        return list(self.shipped) + [r.name for r in self.user_models(key)]

    def unique_name(self, key: str, wanted: str) -> str:
        return self.store.unique_name(self.session(key).user, wanted, taken=set(self.shipped))

    def new_run(self, key: str, name: str, corpus_name: str, text: str) -> Run:
        """A folder for a new training run; the user's oldest models beyond the cap are deleted with their files."""
        sess = self.session(key)
        run = self.store.new_run(sess.user, name, corpus_name, text)
        self.store.prune(sess.user, self.limits.max_session_models, protect={run.name})
        return run

    def adopt(self, key: str, name: str, checkpoint: Path, corpus_name: str) -> str:
        """Make a checkpoint made by an experiment one of the user's models (it is moved); returns its name."""
        sess = self.session(key)
        run = self.store.adopt(sess.user, name, checkpoint, corpus_name)
        self.store.prune(sess.user, self.limits.max_session_models, protect={run.name} | {sess.training or ""})
        return run.name

    def last_run(self, key: str) -> Run | None:
        return self.store.last_run(self.session(key).user)

    def _find(self, name: str, key: str) -> Run:
        run = self.store.find(self.session(key).user, name)
        if run is None or run.checkpoint is None:
            known = ", ".join(self.choices(key)) or "none"
            raise CheckpointError(f"no model named {name!r} in this session (available: {known})")
        return run

    def kind(self, name: str, key: str) -> str:
        return "shipped" if name in self.shipped else self._find(name, key).kind

    # --- loading ----------------------------------------------------------------------------------------------------
    def resolve(self, name: str | None, key: str) -> LoadedModel:
        """The model to sample from or score; a user's model is re-read when training saved new weights."""
        return self._entry(name or self.default_name or "", key)[1].loaded

    def resolve_chat(self, name: str | None, key: str) -> LoadedModel:
        """The model to chat with: an int8 copy on the CPU when ``limits.serve_int8``, else ``resolve``'s."""
        cache_key, entry = self._entry(name or self.default_name or "", key)
        return self._chat_copy(cache_key, entry)

    def _entry(self, name: str, key: str) -> tuple[object, Entry]:
        if name in self.shipped:
            return name, self.shipped[name]
        run = self._find(name, key)
        cache_key = (self.session(key).user, name)
        try:
            stamp = (run.checkpoint / MODEL_FILE).stat().st_mtime_ns
        except (OSError, TypeError):
            stamp = -1
        with self._lock:
            entry = self._cache.get(cache_key)
        if entry is None or entry.stamp != stamp:
            entry = Entry(self._read(run), stamp)
        with self._lock:
            self._cache[cache_key] = entry
            self._cache.move_to_end(cache_key)
            while len(self._cache) > self.limits.max_loaded_models:  # memory stays bounded
                self._cache.popitem(last=False)
        return cache_key, entry

    @staticmethod
    def _read(run: Run) -> LoadedModel:
        for attempt in range(3):  # the trainer swaps folders atomically; a read can fall in between
            try:
                return load_checkpoint(run.checkpoint)
            except CheckpointError:
                if attempt == 2:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def _serves_int8(self, loaded: LoadedModel) -> bool:
        return self.limits.serve_int8 and loaded.device.type == "cpu"

    def _chat_copy(self, name: object, entry: Entry) -> LoadedModel:
        loaded = entry.loaded
        if not self._serves_int8(loaded):
            return loaded
        chat, src = entry.chat, entry.chat_src
        if chat is None or src is not loaded:  # new, or re-read after training saved a better checkpoint
            try:
                chat = quantize_for_cpu(loaded)
            except (RuntimeError, ValueError) as exc:  # no int8 engine in this torch build: serve fp32
                self.load_errors.append(f"int8 serving is off for {name}: {exc}")
                chat = loaded  # and do not try again for these weights
            entry.chat, entry.chat_src = chat, loaded  # two racing replies build equal copies; either is fine
        return chat

    # --- upload, download, delete ---------------------------------------------------------------------------------
    def upload(self, key: str, files: list[str]) -> str:
        """Keep an uploaded checkpoint (``model.safetensors`` + ``config.json``, or a zip) as the user's model."""
        sess = self.session(key)
        run = self.store.add_upload(sess.user, [Path(f) for f in files or []], self.limits.max_upload_bytes,
                                    self.limits.max_params)  # fmt: skip
        self.store.prune(sess.user, self.limits.max_session_models, protect={run.name} | {sess.training or ""})
        return run.name

    def zip_model(self, name: str, key: str) -> Path:
        """A zip of the checkpoint (weights + config), ready to upload again or load with the CLI."""
        folder = self.shipped_path(name) if name in self.shipped else self._find(name, key).checkpoint
        out = self.scratch_dir(key, "zip") / f"{safe_name(name)}.zip"
        return pack_checkpoint(folder, out, safe_name(name))

    def shipped_path(self, name: str) -> Path:
        return self.shipped[name].loaded.path

    def delete(self, name: str, key: str) -> None:
        """Delete one of the user's own models with all its files."""
        if name in self.shipped:
            raise CheckpointError(f"{name!r} is a shipped model; only your own models can be deleted")
        sess = self.session(key)
        if name == sess.training:
            raise CheckpointError(f"{name!r} is training now; stop it first")
        self._find(name, key)
        self.store.delete(sess.user, name)
        with self._lock:
            self._cache.pop((sess.user, name), None)

    def scratch_dir(self, key: str, kind: str) -> Path:
        """A fresh folder for a session's downloadable file of this kind; the previous one is deleted."""
        prefix = f"{self.session(key).user}-{kind}-"
        for old in self.scratch.glob(prefix + "*"):
            shutil.rmtree(old, ignore_errors=True)
        folder = self.scratch / f"{prefix}{time.time_ns()}"
        folder.mkdir(parents=True)
        return folder

    # --- model card -----------------------------------------------------------------------------------------------
    def card(self, name: str | None, key: str, lang: str = "en") -> str:
        """A few lines that say what the model is: architecture, size, training text, steps, quality (in ``lang``,
        a ``charlm.ui.i18n`` language)."""
        if not name:
            return text(lang, "card.none")
        kind = self.kind(name, key)
        m = self.resolve(name, key)
        c = m.config
        if c.arch == "gpt":
            arch = text(lang, "card.gpt", layers=c.n_layer, width=c.n_embd, heads=c.n_head, context=c.block_size)
        else:
            arch = text(lang, "card.recurrent", arch=c.arch.upper(), layers=c.n_layer, hidden=c.hidden_size,
                        embd=c.n_embd)  # fmt: skip
        tr = m.meta.get("training") or {}
        corpus = tr.get("corpus") or {}
        lines = [text(lang, "card.head", name=name, kind=text_or(lang, f"card.kind.{kind}", kind), arch=arch,
                      params=f"{m.n_params:,}", vocab=m.vocab.size - 1)]  # fmt: skip
        facts = []
        if corpus.get("name"):
            facts.append(text(lang, "card.corpus", corpus=corpus_label(lang, corpus["name"]),
                              chars=f"{corpus.get('chars', 0):,}"))  # fmt: skip
        if tr.get("steps") is not None:
            facts.append(text(lang, "card.steps", steps=f"{tr['steps']:,}", seconds=f"{tr.get('elapsed_sec', 0):.0f}"))
        if tr.get("best_val_bpc") is not None:
            facts.append(text(lang, "card.validation", bpc=f"{tr['best_val_bpc']:.3f}"))
        if self._serves_int8(m):
            facts.append(text(lang, "card.int8"))
        if facts:
            lines.append(" · ".join(facts))
        return "\n\n".join(lines)


def _alive(pid: int) -> bool:
    """Whether a process exists (POSIX); elsewhere assume it does, so nothing of a live server is deleted."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_older(folder: Path, age: float, now: float) -> None:
    """Delete ``folder``'s entries older than ``age`` seconds (all of it, and the folder, when ``age`` is 0)."""
    if age == 0:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for entry in folder.iterdir():
        if now - entry.stat().st_mtime > age:
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
