"""Scratch folders for downloadable files (model zips, evaluation reports), deleted when stale.

They are written inside Gradio's own cache folder, which it serves without making a copy; each session's previous
file of a kind is deleted when it gets a new one, and a server's folder goes when its process is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from gradio.utils import get_upload_folder

SCRATCH_AGE = 3600  # zips and reports older than this are deleted (the page has long downloaded them)


class Scratch:
    """This process's scratch folder: ``<gradio cache>/charlm-scratch/<pid>/<user>-<kind>-<ns>/``."""

    def __init__(self) -> None:
        self.root = Path(get_upload_folder()) / "charlm-scratch" / str(os.getpid())

    def fresh(self, owner: str, kind: str) -> Path:
        """A fresh folder for ``owner``'s downloadable file of this kind; the previous one is deleted."""
        prefix = f"{owner}-{kind}-"
        for old in self.root.glob(prefix + "*"):
            shutil.rmtree(old, ignore_errors=True)
        folder = self.root / f"{prefix}{time.time_ns()}"
        folder.mkdir(parents=True)
        return folder

    def clean_up(self, now: float, startup: bool = False) -> None:
        """Delete stale files (and, at start-up, the folders of dead processes and of charlm before 0.2)."""
        for folder in self.root.parent.glob("*") if self.root.parent.is_dir() else []:
            dead = startup and folder.name.isdigit() and not _alive(int(folder.name))
            if dead or folder.name == str(os.getpid()):
                _remove_older(folder, 0 if dead else SCRATCH_AGE, now)
        if startup:  # folders of charlm versions before 0.2, which deleted nothing
            for old in Path(tempfile.gettempdir()).glob("charlm-app-*"):
                if now - old.stat().st_mtime > SCRATCH_AGE:
                    shutil.rmtree(old, ignore_errors=True)


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
