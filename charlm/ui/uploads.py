"""Bounds on what a request may bring before any route reads it: Gradio's anonymous upload route
(``POST /gradio_api/upload``) and the size of every other request body.

Gradio stores whatever is posted there in its upload folder before any event runs, with no user attached: ten
10 MB posts were 100 MB on disk in 0.7 s, kept for two hours. Gradio 6 offers a per-file cap
(``launch(max_file_size=...)``) and a periodic cleaner (``Blocks(delete_cache=(every, age))``), nothing per user
or in total. ``UploadQuota`` is an ASGI middleware (installed through ``launch(app_kwargs={"middleware": ...})``,
see ``charlm.ui.app.launch_kwargs``) that refuses an upload, from its Content-Length and before a byte is stored,
when it would take

- one client (its address; behind a proxy, the last ``X-Forwarded-For`` hop) past ``Limits.upload_quota_mb``
  within ``Limits.upload_ttl`` seconds, or
- the upload folder past ``Limits.upload_total_mb`` (what is on disk plus what is arriving now).

An upload request carries no session (the page sends the file first, the event later), so the client's address
is the finest key there is. Uploaded files are deleted ``upload_ttl`` seconds after they arrive
(``delete_cache``), minutes rather than hours; the refusals are in the language of the request.

Every other POST (an event's JSON, which Starlette reads and parses whole before Gradio or ``charlm.ui.guard`` sees
a field) must say its size and stay under ``max_body_bytes``: four bytes per character of the largest text field
(JSON may escape a character as six), plus a megabyte.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

from charlm.ui.i18n import lang_from_header, ui_text
from charlm.ui.limits import Limits

MB = 1024 * 1024


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (the cleaner keeps it to a few minutes' uploads)."""
    total = 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def max_body_bytes(limits: Limits) -> int:
    """The largest request body other than an upload (see the module's docstring)."""
    return 4 * limits.max_text_chars + MB


class UploadQuota:
    """ASGI middleware: per-client and total byte bounds on ``POST …/upload``, a size cap on every other POST
    (see the module's docstring)."""

    def __init__(self, app, limits: Limits, folder: str | os.PathLike | None = None) -> None:
        self.app = app
        self.per_client = int(limits.upload_quota_mb * MB)
        self.total = int(limits.upload_total_mb * MB)
        self.window = float(limits.upload_ttl)
        self.max_body = max_body_bytes(limits)
        self._folder = Path(folder) if folder else None
        self._lock = threading.Lock()
        self._ledger: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._in_flight = 0
        self._disk = (0.0, 0)  # (when measured, bytes)

    @property
    def folder(self) -> Path:
        if self._folder is None:  # Gradio's, read when first needed (tests set GRADIO_TEMP_DIR before launching)
            from gradio.utils import get_upload_folder

            self._folder = Path(get_upload_folder())
        return self._folder

    def _disk_bytes(self, now: float) -> int:
        when, size = self._disk
        if now - when > 1.0:
            size = folder_bytes(self.folder) if self.folder.is_dir() else 0
            self._disk = (now, size)
        return size

    @staticmethod
    def _client(scope: dict, headers: dict[str, str]) -> str:
        forwarded = headers.get("x-forwarded-for", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()  # the hop the nearest proxy added
        client = scope.get("client") or ("unknown", 0)
        return str(client[0])

    def _refusal(self, headers: dict[str, str], length: int | None, client: str, now: float) -> tuple[int, str]:
        """(status, message) when the upload must be refused, else (0, "") with its bytes reserved."""
        lang = lang_from_header(headers.get("accept-language"))
        if length is None:
            return 411, ui_text(lang, "upload.no_length")
        with self._lock:
            ledger = self._ledger[client]
            while ledger and now - ledger[0][0] > self.window:
                ledger.popleft()
            used = sum(n for _, n in ledger)
            if used + length > self.per_client:
                minutes = f"{self.window / 60:g}"
                return 429, ui_text(lang, "upload.quota", mb=f"{self.per_client / MB:g}", minutes=minutes)
            if self._disk_bytes(now) + self._in_flight + length > self.total:
                return 507, ui_text(lang, "upload.full", minutes=f"{self.window / 60:g}")
            ledger.append((now, length))
            self._in_flight += length
            for key in [k for k, v in self._ledger.items() if not v]:  # forget clients with nothing left
                del self._ledger[key]
        return 0, ""

    def _body_refusal(self, headers: dict[str, str], length: int | None) -> tuple[int, str]:
        lang = lang_from_header(headers.get("accept-language"))
        if length is None and "chunked" in headers.get("transfer-encoding", "").lower():
            return 411, ui_text(lang, "request.no_length")
        if length is not None and length > self.max_body:
            return 413, ui_text(lang, "request.too_big", mb=f"{length / MB:,.1f}", most=f"{self.max_body / MB:,.0f}")
        return 0, ""

    @staticmethod
    async def _answer(send, status: int, message: str) -> None:
        body = message.encode("utf-8")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            length = int(headers["content-length"])
        except (KeyError, ValueError):
            length = None
        if not scope["path"].rstrip("/").endswith("/upload"):
            status, message = self._body_refusal(headers, length)
            if status:
                await self._answer(send, status, message)
            else:
                await self.app(scope, receive, send)
            return
        status, message = self._refusal(headers, length, self._client(scope, headers), time.time())
        if status:
            await self._answer(send, status, message)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            with self._lock:
                self._in_flight -= length or 0
                self._disk = (0.0, 0)  # measure again: the file is on disk now


__all__ = ["UploadQuota", "folder_bytes", "max_body_bytes"]
