"""Every user's models on disk, so that no restart loses them: trained runs and uploads, one folder each.

    <root>/browser-secret            the key of the browsers' stored values (``browser_secret``)
    <root>/users/<user>/<folder>/    one model (``charlm.storage.run``: run.json, corpus.txt, best/, last/)

A user is an opaque id: ``user_id`` derives it from a secret the browser keeps (so the folder name reveals
nothing), or from an API session, whose models are temporary. The store enforces the per-user cap (oldest models
go first, with all their files) and the retention time; the app's registry decides who the user is.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from charlm.errors import CheckpointError, TrainingError
from charlm.storage.archive import unpack_checkpoint
from charlm.storage.checkpoint import CONFIG_FILE, MODEL_FILE, load_checkpoint
from charlm.storage.run import RUN_FILE, Run, create_run, open_run, safe_name

BROWSER, SESSION = "u-", "s-"  # user id prefixes: a browser's lasting key, or an API session's temporary one


def user_id(secret: str, prefix: str = BROWSER) -> str:
    """A folder-safe id that does not reveal the secret it comes from."""
    return prefix + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:32]


class ModelStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        (self.root / "users").mkdir(parents=True, exist_ok=True)

    def user_dir(self, user: str) -> Path:
        if not user or "/" in user or user.startswith("."):
            raise ValueError(f"bad user id {user!r}")
        return self.root / "users" / user

    # --- listing -------------------------------------------------------------------------------------------------
    def models(self, user: str) -> list[Run]:
        """The user's models, oldest first (folders that are not finished models are skipped)."""
        folder = self.user_dir(user)
        runs = []
        for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
            if (sub / RUN_FILE).is_file():
                try:
                    runs.append(open_run(sub))
                except TrainingError:
                    continue
        return sorted(runs, key=lambda r: r.created)

    def find(self, user: str, name: str) -> Run | None:
        return next((r for r in self.models(user) if r.name == name), None)

    def unique_name(self, user: str, wanted: str, taken: set[str] = frozenset()) -> str:
        base = safe_name(wanted)
        taken = set(taken) | {r.name for r in self.models(user)}
        name, k = base, 2
        while name in taken:
            name, k = f"{base}-{k}", k + 1
        return name

    def last_run(self, user: str) -> Run | None:
        """The newest trained model that can be resumed."""
        runs = [r for r in self.models(user) if r.kind == "trained" and r.can_resume()]
        return runs[-1] if runs else None

    # --- adding -------------------------------------------------------------------------------------------------
    def new_run(self, user: str, name: str, corpus_name: str, text: str) -> Run:
        folder = f"{safe_name(name)}-{time.time_ns()}"
        return create_run(self.user_dir(user), name, corpus_name, text, folder, kind="trained")

    def add_upload(self, user: str, files: list[Path], max_bytes: int, max_params: int, name: str = "",
                   max_char_mflop: float | None = None) -> Run:  # fmt: skip
        """Check an uploaded ``model.safetensors`` + ``config.json`` pair, or a zip of a checkpoint folder, and keep
        it as a model of ``user``. Nothing is kept if any check fails (size, config, cost per generated character
        ``max_char_mflop``, training metadata, weights)."""
        for p in files:
            if p.stat().st_size > max_bytes:
                raise CheckpointError(f"{p.name} is larger than the {max_bytes / 2**20:g} MB upload limit")
        staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=self.root / "users"))
        try:
            wanted = _stage_upload(files, staging, max_bytes)
            loaded = load_checkpoint(staging, max_params=max_params, max_char_mflop=max_char_mflop)
            name = self.unique_name(user, name or loaded.meta.get("name") or wanted or "uploaded")
            run = create_run(self.user_dir(user), name, "uploaded checkpoint", None,
                             f"{safe_name(name)}-{time.time_ns()}", kind="uploaded")  # fmt: skip
            os.replace(staging, run.best)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return run

    def adopt(self, user: str, name: str, checkpoint: Path, corpus_name: str) -> Run:
        """Keep a checkpoint folder made elsewhere (an experiment's best run) as a model of ``user``; it is moved."""
        name = self.unique_name(user, name)
        run = create_run(self.user_dir(user), name, corpus_name, None, f"{safe_name(name)}-{time.time_ns()}")
        shutil.move(str(checkpoint), str(run.best))
        return run

    # --- removing -----------------------------------------------------------------------------------------------
    def delete(self, user: str, name: str) -> bool:
        run = self.find(user, name)
        if run is None:
            return False
        shutil.rmtree(run.dir, ignore_errors=True)
        return True

    def prune(self, user: str, keep: int, protect: set[str] = frozenset()) -> list[str]:
        """Delete the oldest models beyond ``keep`` (never those in ``protect``: a run still training)."""
        runs = [r for r in self.models(user) if r.name not in protect]
        extra = len(runs) + len([n for n in protect if self.find(user, n)]) - keep
        gone = []
        for run in runs[: max(0, extra)]:
            shutil.rmtree(run.dir, ignore_errors=True)
            gone.append(run.name)
        return gone

    def touch(self, user: str) -> None:
        """Mark the user as active now (retention counts from the last visit); users without models have no folder."""
        folder = self.user_dir(user)
        if folder.is_dir():
            os.utime(folder)

    def expire(self, max_age: float, prefix: str = "", now: float | None = None) -> list[str]:
        """Delete users (with ``prefix``) not seen for ``max_age`` seconds; returns their ids."""
        now = time.time() if now is None else now
        gone = []
        for folder in (self.root / "users").iterdir():
            if folder.name.startswith(prefix) and now - folder.stat().st_mtime > max_age:
                shutil.rmtree(folder, ignore_errors=True)
                gone.append(folder.name)
        return gone

    def drop_user(self, user: str) -> None:
        shutil.rmtree(self.user_dir(user), ignore_errors=True)

    def browser_secret(self) -> str:
        """The key that encrypts the browser's stored value: kept with the models, so a restart can still read the
        browsers' keys (and so find their users' folders)."""
        path = self.root / "browser-secret"
        if not path.is_file():
            tmp = path.with_name(f".browser-secret-{os.getpid()}")
            tmp.write_text(secrets.token_urlsafe(24))
            os.replace(tmp, path)
        return path.read_text().strip()

    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in (self.root / "users").rglob("*") if f.is_file())


def _stage_upload(files: list[Path], dest: Path, max_bytes: int) -> str:
    """Put an upload's two files into ``dest`` under their fixed names; returns a name suggested by the upload."""
    if not files:
        raise CheckpointError("choose a checkpoint: model.safetensors + config.json, or a .zip of the folder")
    if len(files) == 1 and files[0].suffix.lower() == ".zip":
        unpack_checkpoint(files[0], dest, max_bytes=2 * max_bytes)
        return files[0].stem
    configs = [p for p in files if p.suffix.lower() == ".json"]
    weights = [p for p in files if p.suffix.lower() == ".safetensors"]
    if len(configs) != 1 or len(weights) != 1 or len(files) != 2:
        raise CheckpointError(
            "upload exactly two files, model.safetensors and config.json (or one .zip of the folder); "
            f"got {', '.join(p.name for p in files)}"
        )
    shutil.copyfile(configs[0], dest / CONFIG_FILE)
    shutil.copyfile(weights[0], dest / MODEL_FILE)
    return ""
