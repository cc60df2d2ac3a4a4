"""Regenerate docs/learn-tab.png: run the app, open the Learn tab's decoding lesson in chromium, take a picture.

python docs/make_learn_screenshot.py   (needs playwright and Debian's chromium, as the browser tests)
"""

from __future__ import annotations

from _screenshot import ROOT, app_page


def main() -> None:
    from playwright.sync_api import expect

    with app_page("en-US") as page:
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


if __name__ == "__main__":
    main()
