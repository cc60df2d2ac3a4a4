"""The Learn tab in a real browser (Debian's chromium through Playwright), in English and in Chinese: every lesson
draws its figure, its "try this" control changes the figure, and its button opens the full tab with the same
settings; the "done" boxes survive a reload. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import ARTIFACTS

from tests.helpers import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
expect = sync_api.expect
from tests import test_browser  # noqa: E402

server, browser = test_browser.server, test_browser.browser  # the same `python app.py` and chromium fixtures
SLUGS = ("vectors", "attention", "recurrent", "loss", "training", "decoding", "tuning", "evaluation", "equations",
         "chapter")  # fmt: skip
TABS = {"vectors": "tab-inspect", "attention": "tab-inspect", "recurrent": "tab-inspect", "loss": "tab-evaluate",
        "training": "tab-train", "decoding": "tab-chat", "tuning": "tab-evaluate", "evaluation": "tab-evaluate",
        "equations": "tab-backprop", "chapter": "tab-train"}  # fmt: skip


def figure_html(page, slug: str) -> str:
    return page.locator(f"#learn-{slug}-fig").inner_html()


def wait_for_new_figure(page, slug: str, before: str, timeout: float = 90.0) -> None:
    """Until the lesson's figure is drawn and differs from ``before`` (the "try this" redrew it)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = figure_html(page, slug)
        if now != before and ("js-plotly-plot" in now or "<svg" in now):
            page.wait_for_timeout(300)
            if figure_html(page, slug) == now:  # settled
                return
        page.wait_for_timeout(250)
    pytest.fail(f"lesson {slug}: the figure did not change within {timeout:.0f} s")


def set_number(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(value)
    box.press("Enter")


def pick_option(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def try_this(page, slug: str) -> None:
    """The lesson's "try this", done the way a learner does it."""
    control = f"learn-{slug}-try-input"
    if slug == "vectors":
        pick_option(page, control, "T")
    elif slug in ("attention", "equations"):
        set_number(page, control, "5")
    elif slug in ("recurrent", "tuning"):
        page.locator(f"#{control} label").nth(1).click()
    elif slug == "loss":
        pick_option(page, control, "TO BE, OR NOT TO BE, THAT IS THE QUESTION.")
    elif slug == "evaluation":
        pick_option(page, control, "door the by mat the on sat cat the")
    elif slug == "decoding":
        set_number(page, control, "0.3")
    elif slug == "training":
        set_number(page, "learn-training-seconds", "4")
        page.locator(f"#{control}").click()
    elif slug == "chapter":
        set_number(page, "learn-chapter-steps", "30")
        page.locator(f"#{control}").click()


def walk_the_course(page, lang: str) -> None:
    expect(page.get_by_role("tab").first).to_have_text("Learn" if lang == "en" else "学习", timeout=60_000)
    expect(page.locator("#learn-vectors-fig .js-plotly-plot").first).to_be_visible(timeout=60_000)  # drawn on load
    for i, slug in enumerate(SLUGS, 1):
        page.locator(f"#learn-{slug}-button").click()
        expect(page.locator(f"#learn-{slug}-title")).to_contain_text(f"{i} ·", timeout=15_000)
        before = ""
        if slug not in ("training", "chapter"):  # these two train on request; the others draw when opened
            wait_for_new_figure(page, slug, "")
            before = figure_html(page, slug)
        try_this(page, slug)
        wait_for_new_figure(page, slug, before, timeout=150 if slug in ("training", "chapter") else 90)
        expect(page.locator(f"#learn-{slug}-note")).not_to_be_empty()
        if i in (1, 10):
            page.screenshot(path=str(ARTIFACTS / f"learn-{lang}-{i}.png"), full_page=True)
        page.locator(f"#learn-{slug}-open").click()
        expect(page.locator(f"#{TABS[slug]}-button")).to_have_attribute("aria-selected", "true", timeout=15_000)
        if slug == "attention":
            expect(page.locator("#inspect-text textarea")).to_have_value("To be, or not to be, that is the question.")
        if slug == "chapter":
            expect(page.locator("#train-paste textarea")).to_have_value(
                "The quick brown fox jumps over the lazy dog while the cat sleeps on."
            )
        page.locator("#tab-learn-button").click()
        expect(page.locator("#learn-lessons")).to_be_visible(timeout=15_000)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_a_learner_goes_from_lesson_1_to_lesson_10(server, browser, locale):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        page.goto(server)
        lang = "en" if locale == "en-US" else "zh"
        walk_the_course(page, lang)
        if lang == "zh":
            expect(page.locator("#learn-chapter-title")).to_contain_text("本章项目")
        # progress is remembered by this browser
        page.locator("#learn-vectors-button").click()
        page.locator("#learn-vectors-done input").check()
        expect(page.locator("#learn-progress")).to_contain_text("1✓", timeout=10_000)
        page.reload()
        expect(page.locator("#learn-vectors-done input")).to_be_checked(timeout=30_000)
        expect(page.locator("#learn-progress")).to_contain_text("1✓")
    finally:
        context.close()
