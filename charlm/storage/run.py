"""A model as the app keeps it: one folder with its name, the text it trained on and its checkpoints.

    <run>/run.json          {"name", "kind", "corpus", "created"}: what it is called, trained or uploaded, and
                            what it learned from
    <run>/corpus.txt        the (cleaned) training text, so the run can be resumed after a restart
    <run>/best/, <run>/last/  the trainer's checkpoints (``last`` can be resumed; an upload has only ``best``)

The CLI's ``train --out`` writes the same ``best``/``last`` layout; the app adds the two files above so that a
run is self-contained: everything needed to list it, resume it and redraw its loss curve is in the folder.
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from charlm.data import Corpus, build_corpus
from charlm.errors import TrainingError
from charlm.storage.checkpoint import MODEL_FILE, STATE_FILE
from charlm.text import read_text

RUN_FILE = "run.json"
CORPUS_FILE = "corpus.txt"
BEST, LAST = "best", "last"


MAX_NAME = 40  # characters; 40 Han characters are 120 bytes of UTF-8, far below any file system's 255


def _name_char(ch: str) -> bool:
    """Letters, digits and combining marks of any script (so `唐诗-gru` stays `唐诗-gru`), and . _ -"""
    return ch in "._-" or unicodedata.category(ch)[0] in "LNM"


def safe_name(text: str, default: str = "model") -> str:
    """A short name that is safe in a file name and a dropdown, in any script.

    Everything but letters, digits, marks and ``. _ -`` becomes '-': no path separators, no spaces, no control,
    format (bidi overrides, zero-width) or private-use characters. NFC first, so a name typed with combining accents
    and one typed precomposed give the same folder. No leading/trailing '.' or '-' (no dot-files, no '..')."""
    text = unicodedata.normalize("NFC", text or "")
    marked = "".join(ch if _name_char(ch) else "\0" for ch in text)  # \0 is never a name character itself
    name = re.sub("\0+", "-", marked).strip("-.")[:MAX_NAME].strip("-.")
    return name or default


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Run:
    dir: Path
    name: str
    corpus_name: str
    created: float = 0.0
    kind: str = "trained"  # or "uploaded"

    @property
    def best(self) -> Path:
        return self.dir / BEST

    @property
    def last(self) -> Path:
        return self.dir / LAST

    @property
    def checkpoint(self) -> Path | None:
        """The folder to chat with: best/ (lowest validation loss), else last/ (saved before any evaluation)."""
        for folder in (self.best, self.last):
            if (folder / MODEL_FILE).is_file():
                return folder
        return None

    def can_resume(self) -> bool:
        return (self.last / STATE_FILE).is_file() and (self.dir / CORPUS_FILE).is_file()

    def corpus(self) -> Corpus:
        """The exact text the run trained on (a resume must use the same text)."""
        return build_corpus(read_text(self.dir / CORPUS_FILE), name=self.corpus_name)

    def progress(self) -> dict:
        """Where ``last/`` stands: {"step", "elapsed"} (zeros before the first save)."""
        state = _read_state(self.last)
        return {"step": int(state.get("step", 0)), "elapsed": float(state.get("elapsed", 0.0))}

    def loss_rows(self) -> list[dict]:
        """The saved loss history as plot rows: {"step", "loss", "split": "train" | "validation"}."""
        rows = []
        for h in _read_state(self.last).get("history", []):
            if "train_loss" in h:
                rows.append({"step": h["step"], "loss": h["train_loss"], "split": "train"})
            if "val_loss" in h:
                rows.append({"step": h["step"], "loss": h["val_loss"], "split": "validation"})
        return rows


def _read_state(folder: Path) -> dict:
    """The JSON half of the resume state (no tensors): cheap enough to read for a plot."""
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def create_run(
    parent: str | os.PathLike, name: str, corpus_name: str, text: str | None, folder_name: str, kind: str = "trained"
) -> Run:
    """A new run folder under ``parent`` holding its name and (for training) its text."""
    run_dir = Path(parent) / folder_name
    run_dir.mkdir(parents=True)
    run = Run(run_dir, name, corpus_name, time.time(), kind)
    if text is not None:
        _write_atomic(run_dir / CORPUS_FILE, text)
    info = {"name": name, "kind": kind, "corpus": corpus_name, "created": run.created}
    _write_atomic(run_dir / RUN_FILE, json.dumps(info, ensure_ascii=False))
    return run


def open_run(run_dir: str | os.PathLike) -> Run:
    """Read a run folder written by ``create_run``."""
    run_dir = Path(run_dir)
    try:
        info = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
        return Run(run_dir, str(info["name"]), str(info["corpus"]), float(info.get("created", 0.0)),
                   str(info.get("kind", "trained")))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        raise TrainingError(f"{run_dir.name} is not a training run (no readable {RUN_FILE})") from None
