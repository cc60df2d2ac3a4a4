"""What every docs/make_*_screenshot.py script needs: the app on a free port and a chromium page open on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import CHROME_ARGS, CHROMIUM, free_port  # noqa: E402


@contextmanager
def app_page(locale: str, height: int = 1500) -> Iterator:
    """Start ``app.py``, wait until it answers, and yield a Playwright page (1280 x ``height``) in ``locale`` on it;
    the browser and the server are stopped afterwards."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": height}, locale=locale)
            page.goto(url)
            yield page
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)
