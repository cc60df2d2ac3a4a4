"""Checkpoints as zip files: what the app offers for download and accepts as an upload.

A zip is untrusted input. Member paths are never used to write (no path traversal): only ``config.json`` and
``model.safetensors`` are copied out, to fixed names. Every read is bounded whatever the zip's header claims
(no zip bombs), and the member count is capped. The files are then read by ``load_checkpoint`` like any other
checkpoint: safetensors and JSON, never unpickled.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath

from charlm.errors import CheckpointError
from charlm.storage.checkpoint import CONFIG_FILE, MODEL_FILE

MAX_MEMBERS = 64
_CHUNK = 1 << 20


def pack_checkpoint(folder: str | os.PathLike, out_zip: str | os.PathLike, name: str) -> Path:
    """Zip ``folder``'s weights and config as ``name/config.json`` and ``name/model.safetensors``."""
    folder, out_zip = Path(folder), Path(out_zip)
    tmp = out_zip.with_name(f".{out_zip.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for fname in (CONFIG_FILE, MODEL_FILE):
            zf.write(folder / fname, f"{name}/{fname}")
    os.replace(tmp, out_zip)  # a reader never sees half a zip
    return out_zip


def unpack_checkpoint(zpath: str | os.PathLike, dest: str | os.PathLike, max_bytes: int) -> None:
    """Copy the checkpoint files out of ``zpath`` into ``dest``; refuse anything that unpacks past ``max_bytes``.

    A zip of a whole training folder works too: its ``best/`` checkpoint is taken.
    """
    zpath, dest = Path(zpath), Path(dest)
    try:
        zf = zipfile.ZipFile(zpath)
    except (zipfile.BadZipFile, OSError):
        raise CheckpointError(f"{zpath.name} is not a valid zip file") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_MEMBERS:
            raise CheckpointError(f"{zpath.name} holds {len(infos)} files; a checkpoint zip holds two to four")
        by_dir: dict[PurePosixPath, dict[str, zipfile.ZipInfo]] = {}
        for info in infos:
            p = PurePosixPath(info.filename)
            if p.name in (CONFIG_FILE, MODEL_FILE):
                by_dir.setdefault(p.parent, {})[p.name] = info
        folders = [d for d, m in by_dir.items() if len(m) == 2]
        if not folders:
            raise CheckpointError(f"{zpath.name} has no folder with both {CONFIG_FILE} and {MODEL_FILE}")
        folders.sort(key=lambda d: (d.name != "best", len(d.parts)))  # a training folder: use best/
        written = 0
        for fname, info in by_dir[folders[0]].items():
            try:
                with zf.open(info) as src, open(dest / fname, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise CheckpointError(f"{zpath.name} unpacks to more than {max_bytes >> 20} MB")
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                raise CheckpointError(f"{zpath.name} is corrupt ({exc.__class__.__name__})") from None
