"""The app in a real browser: Debian's chromium driven by Playwright (no `playwright install` needed).

Runs `python app.py` exactly as a user would, chats with the shipped model, uploads a text, trains briefly,
watches the loss plot, chats with the new model and downloads it. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ARTIFACTS, ROOT

from tests.helpers import CHROME_ARGS, CHROMIUM, free_port, set_number

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
expect = sync_api.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python app.py` on a free port, with a short training cap so the test stays quick."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "app.log"
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "CHARLM_MAX_TRAIN_SECONDS": "30", "GRADIO_ANALYTICS_ENABLED": "False"}  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail("app.py exited:\n" + log.read_text())
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("app.py did not answer in 120 s:\n" + log.read_text())
        yield url
    finally:
        proc.terminate()
        proc.wait(20)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(log, ARTIFACTS / "browser-app.log")


@pytest.fixture(scope="module")
def browser():
    """One chromium for the module (Playwright's sync API allows one running instance per thread)."""
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(server, browser):
    pg = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    pg.goto(server)
    yield pg
    pg.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def send(page, text: str) -> None:
    """Type a chat message, wait for the streamed reply to finish."""
    n = page.locator('#chatbot [data-testid="bot"]').count()
    page.locator("#prompt textarea").fill(text)
    page.locator("#prompt textarea").press("Enter")
    expect(page.locator('#chatbot [data-testid="bot"]')).to_have_count(n + 1, timeout=30_000)
    expect(page.locator('#prompt [data-testid="submit-button"]')).to_be_visible(timeout=60_000)


def test_chat_with_the_shipped_model(page):
    expect(page.locator("#model-card")).to_contain_text("shakespeare-gpt", timeout=30_000)
    expect(page.get_by_role("tab", name="Chat")).to_be_visible()
    page.get_by_role("tab", name="Chat").click()  # the app opens on Learn, the first tab
    send(page, "Good morrow, fair Juliet.")
    bot = page.locator('#chatbot [data-testid="bot"]').last
    expect(bot).not_to_be_empty()
    style = bot.locator(".message-content span").first.evaluate("e => getComputedStyle(e).whiteSpace")
    assert style == "pre-wrap"  # spaces and newlines are shown as generated
    shot(page, "1-chat")


def test_upload_train_watch_chat_download(page, tmp_path):
    text = tmp_path / "verses.txt"
    text.write_text(("The quick brown fox jumps over the lazy dog.\nA stitch in time saves nine.\n\n") * 40)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-file input[type=file]").set_input_files(str(text))
    expect(page.locator("#train-stats")).to_contain_text("verses.txt", timeout=30_000)
    expect(page.locator("#train-stats")).to_contain_text("vocabulary")
    page.locator("#train-advanced").get_by_text("Advanced settings").click()
    expect(page.locator("#train-max-steps input")).to_be_visible()
    for box, value in (("#train-max-steps input", "40"), ("#train-eval-every input", "10")):
        set_number(page, box, value)
    page.locator("#train-name").locator("input, textarea").first.fill("fox")
    page.locator("#train-btn").click()
    expect(page.locator("#train-status")).to_contain_text(re.compile(r"step \d|finished"), timeout=60_000)
    shot(page, "2-training")  # usually mid-run: step, chars/s, ETA, progress bar
    expect(page.locator("#train-status")).to_contain_text("finished", timeout=120_000)
    expect(page.locator("#train-status")).to_contain_text("40 steps")
    expect(page.locator("#loss-plot svg").first).to_be_visible()
    expect(page.locator("#train-sample textarea")).not_to_have_value("")
    with page.expect_download() as dl:
        page.locator("#ckpt a").first.click()
    assert dl.value.suggested_filename == "fox.zip"
    shot(page, "3-trained")
    page.get_by_role("tab", name="Chat").click()
    expect(page.locator("#model-card")).to_contain_text("fox", timeout=15_000)
    page.locator("#chat-mode").get_by_text("completion", exact=True).click()
    send(page, "The quick")
    shot(page, "4-chat-own-model")


def test_other_tabs_render(page):
    page.get_by_role("tab", name="Evaluate").click()
    expect(page.locator("#eval-run")).to_be_visible(timeout=15_000)
    shot(page, "5-evaluate")
    page.get_by_role("tab", name="Backprop").click()
    expect(page.locator("#bp-next")).to_be_visible(timeout=15_000)
    shot(page, "6-backprop")


def test_inspect_tab_opens_with_its_example_drawn(page):
    page.get_by_role("tab", name="Inspect").click()
    expect(page.locator("#inspect-status")).to_contain_text("bits/char", timeout=15_000)
    page.locator("#inspect-att-plot").scroll_into_view_if_needed()
    expect(page.locator("#surprise-text span").first).to_be_visible()
    assert page.locator("#surprise-text span").count() > 100  # one span per character, coloured by surprise
    title = page.locator("#surprise-text span").nth(5).get_attribute("title")
    assert "top-5" in title and "bits" in title  # the hover shows the model's five best guesses
    expect(page.locator("#inspect-att-plot .js-plotly-plot").first).to_be_visible(timeout=60_000)
    expect(page.locator("#inspect-emb-plot .js-plotly-plot").first).to_be_visible(timeout=60_000)
    expect(page.locator("#query-text")).to_contain_text("Romeo")
    shot(page, "7-inspect")


@pytest.fixture(scope="module")
def zh_page(server, browser):
    """A browser set to simplified Chinese (navigator.language and Accept-Language both say zh-CN)."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.goto(server)
    yield pg
    context.close()


def test_chinese_browser_sees_chinese_and_writes_a_poem(zh_page):
    """Issue 13's user: a Chinese browser, a Chinese interface, the poetry model, a title typed in simplified
    characters, a well-formed quatrain in either script."""
    page = zh_page
    expect(page.get_by_role("tab", name="对话")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="对话").click()  # the app opens on Learn (学习), the first tab
    for name in ("训练", "评估"):
        expect(page.get_by_role("tab", name=name)).to_be_visible()
    expect(page.locator("#poem-write")).to_have_text("写一首诗")
    picker = page.locator("#model-picker input")
    picker.click()
    page.get_by_role("option", name="tang-poems-gru").click()
    expect(page.locator("#model-card")).to_contain_text("tang-poems-gru", timeout=15_000)
    expect(page.locator("#model-card")).to_contain_text("参数")  # the card is written by the server, in Chinese
    page.locator("#poem-title").locator("input, textarea").first.fill("春晓")
    page.locator("#poem-write").click()
    expect(page.locator("#poem-form")).to_contain_text("格律检查通过", timeout=30_000)
    expect(page.locator("#poem-notice")).to_contain_text("春晓 → 春曉")
    poem = page.locator("#poem-output textarea").input_value()
    title, _, body = poem.partition("\n\n")
    assert title == "春晓" and len(body.splitlines()) == 4, poem
    shot(page, "8-zh-poem")
    page.locator("#poem-script").get_by_text("繁体字", exact=False).click()
    page.locator("#poem-write").click()
    expect(page.locator("#poem-output textarea")).to_have_value(re.compile(r"^春曉\n\n"), timeout=30_000)
    expect(page.locator("#poem-form")).to_contain_text("格律检查通过")
