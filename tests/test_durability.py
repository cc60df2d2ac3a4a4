"""No user loses a model: train in a real browser, kill -9 the server mid-run, restart it, and the same browser
finds its model again and resumes it; another browser does not see it; SIGTERM saves before exiting."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ARTIFACTS, ROOT

from tests.helpers import CHROME_ARGS, CHROMIUM, free_port, shakespeare_slice

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
expect = sync_api.expect


class App:
    """``python app.py`` on a fixed port and storage folder, so a restart is the same site with the same disk."""

    def __init__(self, port: int, storage: Path, log: Path) -> None:
        self.port, self.storage, self.log = port, storage, log
        self.url = f"http://127.0.0.1:{port}/"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(self.port),
               "GRADIO_ANALYTICS_ENABLED": "False", "CHARLM_STORAGE": str(self.storage), "CHARLM_SAVE_EVERY": "2",
               "CHARLM_MAX_TRAIN_SECONDS": "120"}  # fmt: skip
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out,
                                         stderr=subprocess.STDOUT)  # fmt: skip
        for _ in range(240):
            if self.proc.poll() is not None:
                pytest.fail("app.py exited:\n" + self.log.read_text())
            try:
                urllib.request.urlopen(self.url, timeout=1)
                return
            except OSError:
                time.sleep(0.5)
        pytest.fail("app.py did not answer in 120 s:\n" + self.log.read_text())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(60)


def open_page(page, url: str) -> None:
    """Load the app (the same origin, so the browser's stored key comes along); a page that was still talking to
    the killed server can abort the first navigation."""
    for attempt in range(3):
        try:
            page.goto(url)
            return
        except sync_api.Error:
            if attempt == 2:
                raise
            time.sleep(1)


def steps_shown(page) -> int:
    m = re.search(r"step ([\d,]+)", page.locator("#train-status").inner_text())
    return int(m.group(1).replace(",", "")) if m else 0


def start_training(page, name: str, resume: bool = False) -> None:
    page.get_by_role("tab", name="Train").click()
    if resume:
        page.get_by_label("Resume my last run").check()
    else:
        page.locator("#train-source").get_by_text("Pasted text").click()
        page.locator("#train-paste textarea").fill(shakespeare_slice(30_000))
        page.locator("#train-name").locator("input, textarea").first.fill(name)
    page.locator("#train-btn").click()
    expect(page.locator("#train-status")).to_contain_text(re.compile(r"step \d"), timeout=90_000)


def has_model(page, name: str) -> bool:
    page.locator("#model-picker input").click()
    found = page.get_by_role("option", name=name, exact=True).count() > 0
    page.keyboard.press("Escape")
    return found


@pytest.fixture
def app(tmp_path):
    a = App(free_port(), tmp_path / "storage", tmp_path / "app.log")
    a.start()
    yield a
    if a.proc.poll() is None:
        a.kill(signal.SIGTERM)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "durability-app.log").write_bytes(a.log.read_bytes())


def test_a_model_survives_kill_9_and_the_browser_resumes_it(app):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.goto(app.url)
        start_training(page, "durable")
        deadline = time.time() + 90
        while time.time() < deadline and steps_shown(page) < 30:  # a few 2-second saves have happened
            time.sleep(0.5)
        before_kill = steps_shown(page)
        time.sleep(3)
        app.kill()  # no warning, no clean-up: as a crash or an OOM kill would
        app.start()
        open_page(page, app.url)
        expect(page.locator("#model-card")).to_contain_text("shakespeare-gpt", timeout=60_000)
        assert has_model(page, "durable"), "the browser's model is gone after the restart"
        start_training(page, "", resume=True)  # the Train tab resumes the run that was killed
        expect(page.locator("#train-status")).to_contain_text("durable", timeout=30_000)
        resumed_from = steps_shown(page)
        assert resumed_from >= before_kill, (before_kill, resumed_from)
        page.locator("#train-stop").click()
        expect(page.locator("#train-status")).to_contain_text("stopped", timeout=60_000)
        other = browser.new_context().new_page()  # another browser: its own (empty) set of models
        other.goto(app.url)
        expect(other.locator("#model-card")).to_contain_text("shakespeare-gpt", timeout=60_000)
        assert not has_model(other, "durable")
        browser.close()


def test_sigterm_saves_the_run_before_exiting(app):
    from charlm.storage.run import open_run
    from charlm.storage.store import ModelStore

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        page = browser.new_context().new_page()
        page.goto(app.url)
        start_training(page, "graceful")
        time.sleep(1.0)
        shown = steps_shown(page)
        app.kill(signal.SIGTERM)
        assert app.proc.returncode == 0
        browser.close()
    store = ModelStore(app.storage)
    runs = [open_run(r.dir) for user in (app.storage / "users").iterdir() for r in store.models(user.name)]
    graceful = [r for r in runs if r.name == "graceful"]
    assert graceful and graceful[0].progress()["step"] >= shown  # saved at the stop, not 2 s earlier
