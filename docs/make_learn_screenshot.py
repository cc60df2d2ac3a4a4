"""Regenerate docs/learn-tab.png: run the app, open the Learn tab's decoding lesson in chromium, take a picture.

python docs/make_learn_screenshot.py   (needs playwright and Debian's chromium, as the browser tests)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import CHROME_ARGS, CHROMIUM, free_port  # noqa: E402


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

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
            page = browser.new_page(viewport={"width": 1280, "height": 1500}, locale="en-US")
            page.goto(url)
            expect(page.locator("#learn-vectors-fig .js-plotly-plot").first).to_be_visible(timeout=60_000)
            page.locator("#learn-decoding-button").click()
            box = page.locator("#learn-decoding-try-input input[type=number]")
            expect(page.locator("#learn-decoding-note")).to_contain_text("beam", timeout=60_000)
            box.fill("0.7")
            box.press("Enter")
            page.wait_for_timeout(1000)
            expect(page.locator("#learn-decoding-note")).to_contain_text("beam", timeout=60_000)
            page.wait_for_timeout(1500)
            page.locator("#tab-learn").screenshot(path=str(ROOT / "docs" / "learn-tab.png"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)


if __name__ == "__main__":
    main()
