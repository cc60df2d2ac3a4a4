"""Which models a browser session can use: the shipped checkpoints plus the models its user trained or uploaded
(kept on disk by ``charlm.storage.store``, so no restart loses them). One user never sees, selects or overwrites
another's models.

``ModelRegistry`` is what the tabs call; it joins four parts, each readable alone: the session table
(``charlm.ui.sessions``: who the user is), the models in memory (``charlm.ui.model_cache``), the store (on disk)
and scratch folders for downloads (``charlm.ui.scratch``); ``charlm.ui.model_card`` renders a model's card.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from charlm.errors import CheckpointError
from charlm.fit import FitReport, diagnose
from charlm.storage.archive import pack_checkpoint
from charlm.storage.checkpoint import CONFIG_FILE, MODEL_FILE, LoadedModel
from charlm.storage.run import Run, safe_name
from charlm.storage.store import BROWSER, SESSION, ModelStore
from charlm.ui.i18n import ui_text
from charlm.ui.limits import Limits
from charlm.ui.model_cache import Entry, ModelCache
from charlm.ui.model_card import render_card
from charlm.ui.scratch import Scratch
from charlm.ui.sessions import Session, SessionTable


class ModelRegistry:
    def __init__(self, checkpoints_dir: str | Path, limits: Limits, root: str | Path | None = None) -> None:
        self.limits = limits
        self.store = ModelStore(root or limits.storage_dir)
        self.table, self.scratch = SessionTable(), Scratch()
        self.clean_up(startup=True)
        self.models = ModelCache(Path(checkpoints_dir), limits.max_loaded_models, limits.serve_int8)
        self.shipped, self.load_errors = self.models.shipped, self.models.load_errors
        gpts = [n for n, e in self.shipped.items() if e.loaded.config.arch == "gpt"]
        self.default_name: str | None = (gpts or list(self.shipped) or [None])[0]

    def default_for(self, lang: str) -> str | None:
        """The model a page in ``lang`` opens on: a Chinese reader gets the shipped poem model (the Shakespeare GPT
        would answer "你好" with an unknown-character notice), everyone else ``default_name``."""
        if lang.startswith("zh"):
            from charlm.poetry import writes_poems

            for name, entry in self.shipped.items():
                if writes_poems(entry.loaded.vocab):
                    return name
        return self.default_name

    # --- sessions and users ---------------------------------------------------------------------------------------
    @property
    def sessions(self) -> dict[str, Session]:
        return self.table.sessions

    def session(self, key: str) -> Session:
        sess = self.table.get(key)
        self.store.touch(sess.user)
        return sess

    def bind(self, key: str, browser_key: str | None) -> str:
        """Tie session ``key`` to the browser's lasting key (a new one if it has none); returns that key."""
        browser_key, old = self.table.bind(key, browser_key)
        if old:
            self.store.drop_user(old)  # the temporary user it had before the page finished loading
        self.store.touch(self.sessions[key].user)
        return browser_key

    def drop_session(self, key: str) -> None:
        """A closed tab or client: a temporary user's models go with it; a browser's stay for its next visit."""
        sess = self.table.pop(key)
        if sess is not None and not sess.lasting:
            sess.stop.set()
            self.store.drop_user(sess.user)

    def stop_all(self, wait: float = 15.0) -> None:
        """Shutting down: every run stops and saves (within ``wait`` seconds)."""
        sessions = self.table.all()
        for sess in sessions:
            sess.stop.set()
        deadline = time.time() + wait
        for sess in sessions:
            sess.run_done.wait(timeout=max(0.0, deadline - time.time()))

    def clean_up(self, startup: bool = False) -> None:
        """Expire old users and idle API sessions, delete stale scratch files. At start-up and every few minutes."""
        now = time.time()
        self.store.expire(self.limits.retention_days * 86400, prefix=BROWSER, now=now)
        for key in self.table.idle(now, self.limits.session_ttl):
            self.drop_session(key)
        self.store.expire(self.limits.session_ttl, prefix=SESSION, now=now)
        self.store.expire(self.limits.session_ttl, prefix=".upload-", now=now)  # staging left by a crash
        self.scratch.clean_up(now, startup)

    # --- names: the store, seen through the session's user ----------------------------------------------------
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

    def fit(self, name: str, key: str) -> FitReport | None:
        """How the user's trained model ``name`` fitted (``charlm.fit``): which step was kept and whether the run
        overfitted; None for shipped and uploaded models and runs without an evaluation."""
        if name in self.shipped:
            return None
        run = self._find(name, key)
        return diagnose(run.loss_rows()) if run.kind == "trained" else None

    def keep_latest(self, name: str, key: str) -> str:
        """Keep the latest weights of run ``name`` (its ``last/``, not the best-validation ``best/`` it is used with)
        as a model of their own, ``<name>-latest``; returns the new model's name."""
        run = self._find(name, key)
        if not (run.last / MODEL_FILE).is_file():
            raise CheckpointError(f"{name!r} has no latest weights to keep")
        staging = self.scratch_dir(key, "latest") / "weights"
        staging.mkdir()
        shutil.copy2(run.last / MODEL_FILE, staging / MODEL_FILE)
        meta = json.loads((run.last / CONFIG_FILE).read_text(encoding="utf-8"))
        training = meta.get("training") or {}
        last_val = training.get("last_val") or {}
        if last_val.get("bpc") is not None:  # the card's validation figure is these weights', not the run's best
            training["best_val_bpc"], training["best_val_loss"] = last_val["bpc"], last_val.get("loss")
        meta["training"] = training
        (staging / CONFIG_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return self.adopt(key, f"{name}-latest", staging, run.corpus_name)

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
        return self.models.chat_copy(*self._entry(name or self.default_name or "", key))

    def _entry(self, name: str, key: str) -> tuple[object, Entry]:
        if name in self.shipped:
            return name, self.shipped[name]
        return self.models.entry(self.session(key).user, self._find(name, key))

    # --- upload, download, delete ---------------------------------------------------------------------------------
    def upload(self, key: str, files: list[str]) -> str:
        """Keep an uploaded checkpoint (``model.safetensors`` + ``config.json``, or a zip) as the user's model."""
        sess = self.session(key)
        run = self.store.add_upload(sess.user, [Path(f) for f in files or []], self.limits.max_upload_bytes,
                                    self.limits.max_params, max_char_mflop=self.limits.max_char_mflop)  # fmt: skip
        self.store.prune(sess.user, self.limits.max_session_models, protect={run.name} | {sess.training or ""})
        return run.name

    def zip_model(self, name: str, key: str) -> Path:
        """A zip of the checkpoint (weights + config), ready to upload again or load with the CLI."""
        folder = self.shipped[name].loaded.path if name in self.shipped else self._find(name, key).checkpoint
        out = self.scratch_dir(key, "zip") / f"{safe_name(name)}.zip"
        return pack_checkpoint(folder, out, safe_name(name))

    def delete(self, name: str, key: str) -> None:
        """Delete one of the user's own models with all its files."""
        if not name:
            raise CheckpointError("choose one of your own models to delete")
        if name in self.shipped:
            raise CheckpointError(f"{name!r} is a shipped model; only your own models can be deleted")
        sess = self.session(key)
        if sess.training and name == sess.training:
            raise CheckpointError(f"{name!r} is training now; stop it first")
        self._find(name, key)
        self.store.delete(sess.user, name)
        self.models.forget(sess.user, name)

    def scratch_dir(self, key: str, kind: str) -> Path:
        """A fresh folder for a session's downloadable file of this kind; the previous one is deleted."""
        return self.scratch.fresh(self.session(key).user, kind)

    def card(self, name: str | None, key: str, lang: str = "en") -> str:
        """The model's card (``charlm.ui.model_card``) in ``lang``."""
        if not name:
            return ui_text(lang, "card.none")
        m = self.resolve(name, key)
        return render_card(name, self.kind(name, key), m, self.models.serves_int8(m), lang, self.fit(name, key))
