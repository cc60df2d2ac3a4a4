"""The session table: which user each Gradio session is, and each session's training run.

Who the user is: a page load sends the random key the browser keeps in its localStorage (``gr.BrowserState``);
``bind`` ties the Gradio session to that key's folder, so the same browser finds its models again after a restart
or in a new tab. A session without a key (an API client) gets a temporary user of its own, deleted when it closes
or after ``session_ttl`` idle seconds (``charlm.ui.registry`` does the deleting, through the store).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from charlm.storage.store import BROWSER, SESSION, user_id

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass
class Session:
    key: str  # Gradio's session_hash
    user: str  # the store's user id
    stop: threading.Event = field(default_factory=threading.Event)
    run_done: threading.Event = field(default_factory=threading.Event)
    last_seen: float = field(default_factory=time.time)
    last_result: tuple | None = None  # (model name, zip path, status message) of the last training run
    training: str | None = None  # name of the model this session is training now
    queued: bool = False  # Train was clicked and the run waits for its slot (its Stop flag is ``stop``)

    def __post_init__(self) -> None:
        self.run_done.set()  # no run in progress

    @property
    def lasting(self) -> bool:
        return self.user.startswith(BROWSER)


class SessionTable:
    """Gradio session key -> ``Session``, safe to use from every request thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sessions: dict[str, Session] = {}

    def get(self, key: str) -> Session:
        """The session of ``key`` (a new one, with a temporary user, on first sight), marked as seen now."""
        with self._lock:
            if not key:  # never one user shared by every caller without a session (charlm.ui.common.session_key)
                key = f"anon-{secrets.token_hex(16)}"
            sess = self.sessions.get(key)
            if sess is None:
                sess = self.sessions[key] = Session(key, user_id(key, SESSION))
            sess.last_seen = time.time()
        return sess

    def bind(self, key: str, browser_key: str | None) -> tuple[str, str]:
        """Tie session ``key`` to the browser's lasting key (a new one if it has none): ``(browser key, the
        temporary user it had before, or "")``, so the caller can delete that user's folder."""
        if not (isinstance(browser_key, str) and KEY_RE.match(browser_key)):
            browser_key = secrets.token_urlsafe(24)  # 32 characters: unguessable, and safe in any URL or header
        sess = self.get(key)
        old, sess.user = sess.user, user_id(browser_key, BROWSER)
        return browser_key, old if old != sess.user and not old.startswith(BROWSER) else ""

    def pop(self, key: str) -> Session | None:
        with self._lock:
            return self.sessions.pop(key, None)

    def all(self) -> list[Session]:
        with self._lock:
            return list(self.sessions.values())

    def idle(self, now: float, ttl: float) -> list[str]:
        """The keys of sessions not seen for ``ttl`` seconds."""
        with self._lock:
            return [k for k, s in self.sessions.items() if now - s.last_seen > ttl]
