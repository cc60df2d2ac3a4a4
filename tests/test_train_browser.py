"""The Train tab as a learner reads it, in a real chromium (issue 21): both loss curves and every compared run in
the plots' legends, the overfitting story with the kept step and the latest weights, the text source that changes
only when chosen, a failed run's error in place of the waiting line, and a Stop that is not shown as an error."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from test_browser import browser, server, shot  # noqa: F401 - the module's fixtures: app.py and one chromium

from tests.helpers import CHROMIUM, set_number

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
expect = sync_api.expect
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"),
]


def overfit_text() -> str:
    """2,930 characters that a tiny GPT learns by heart in a few dozen steps: one sentence repeated (the training
    part) then the same letters in random order (the last tenth, the validation part). Training loss falls fast;
    validation loss rises: overfitting, in seconds."""
    rnd = random.Random(1)
    return "the cat sat on the mat. " * 110 + "".join(rnd.choice("the cat sat on mat.") for _ in range(290))


@pytest.fixture(scope="module")
def page(server, browser):  # noqa: F811
    pg = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-US")
    pg.goto(server)
    pg.get_by_role("tab", name="Train").click()
    expect(pg.locator("#train-paste textarea")).to_be_visible(timeout=30_000)
    yield pg
    pg.close()


def legend(page, plot: str) -> list[str]:
    """The labels of a native plot's legend (Vega draws them as SVG text)."""
    return page.locator(f"{plot} svg .role-legend-label text").evaluate_all("els => els.map(e => e.textContent)")


def source(page) -> str:
    return page.locator("#train-source input:checked").get_attribute("value")


def test_a_failed_run_shows_its_error_instead_of_the_waiting_line(page):
    page.locator("#train-btn").click()  # "Training text" chosen, but no file uploaded
    expect(page.locator("#train-status")).to_contain_text("⚠", timeout=30_000)
    expect(page.locator("#train-status")).not_to_contain_text("Waiting")


def test_tabbing_through_the_corpus_list_keeps_the_pasted_text(page):
    paste = page.locator("#train-paste textarea")
    paste.fill(overfit_text())
    paste.press("End")
    paste.type(" ")  # typing picks the pasted text as the source
    expect(page.locator("#train-source input[value=paste]")).to_be_checked()
    paste.press("Tab")  # into the built-in corpus list…
    page.wait_for_timeout(300)
    page.locator("#train-stats").click()  # …and out of it, choosing nothing
    page.wait_for_timeout(1000)
    assert source(page) == "paste"
    expect(page.locator("#train-stats")).to_contain_text("pasted text")


def test_an_overfitting_run_draws_both_curves_and_tells_why_its_step_was_kept(page):
    page.locator("#train-arch").get_by_text("gpt", exact=True).click()
    page.locator("#train-size").get_by_text(re.compile(r"^tiny")).click()
    expect(page.locator("#train-size")).to_contain_text("vocabulary of 11 characters")  # this text's, not 100
    expect(page.locator("#train-size")).to_contain_text("only 2,931 characters")  # warned before training
    page.locator("#train-advanced").get_by_text("Advanced settings").click()
    set_number(page, "#train-max-steps input", "40")
    set_number(page, "#train-eval-every input", "5")
    page.locator("#train-name").locator("input, textarea").first.fill("cat")
    page.locator("#train-btn").click()
    status = page.locator("#train-status")
    expect(status).to_contain_text("finished", timeout=180_000)
    assert source(page) == "paste"
    expect(status).to_contain_text("very little text")  # 2,930 characters for 103,488 parameters
    expect(status).to_contain_text(re.compile(r"Kept:.*step \d+"))
    expect(status).to_contain_text("Overfitting")
    expect(page.locator("#loss-plot svg .role-legend-label text").first).to_be_attached(timeout=15_000)
    assert legend(page, "#loss-plot") == ["train", "validation"]
    expect(page.locator("#model-card")).to_contain_text(re.compile(r"weights of step \d+ of 40"))
    expect(page.locator("#model-card")).to_contain_text("Overfitting")
    page.locator("#loss-plot").scroll_into_view_if_needed()
    shot(page, "train-overfit")
    keep = page.locator("#train-keep-latest")
    expect(keep).to_contain_text("step 40")
    keep.click()
    expect(status).to_contain_text("cat-latest", timeout=30_000)
    expect(page.locator("#model-card")).to_contain_text("cat-latest", timeout=30_000)
    expect(keep).to_be_hidden()


def test_stop_ends_the_run_without_an_error(page):
    set_number(page, "#train-max-steps input", "0")  # the time budget alone: the run is still going when stopped
    set_number(page, "#train-eval-every input", "100")
    page.locator("#train-btn").click()
    expect(page.locator("#train-status")).to_contain_text(re.compile(r"step \d"), timeout=120_000)
    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_contain_text("stopped", timeout=30_000)
    expect(page.locator("#train-btn")).to_be_enabled(timeout=30_000)
    page.wait_for_timeout(1000)
    assert page.get_by_text("Error", exact=True).count() == 0
    assert page.locator("#train-progress .error, #train-status .error, #loss-plot .error").count() == 0


def test_compare_draws_every_run(page):
    page.locator("#compare").get_by_text("Compare", exact=False).first.click()
    runs = page.locator("#compare-runs")
    expect(runs).to_be_visible()
    runs.get_by_text("rnn/adamw", exact=True).click()  # a fourth run
    budget = page.locator("#compare-budget input[type=number]")
    budget.fill("5")
    budget.press("Enter")
    page.locator("#compare-btn").click()
    expect(page.locator("#compare-status")).to_contain_text("Best:", timeout=180_000)
    expect(page.locator("#compare-plot svg .role-legend-label text").first).to_be_attached(timeout=15_000)
    assert legend(page, "#compare-plot") == ["gpt/adamw", "lstm/adamw", "gru/adamw", "rnn/adamw"]
    shot(page, "train-compare")
