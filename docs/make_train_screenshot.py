"""Regenerate docs/train-tab.png: run the app, train a tiny GPT on too little text in chromium, and take a picture of
the Train tab's status (the kept step, the overfitting notice, the short-text warning) and its two loss curves.

python docs/make_train_screenshot.py   (needs playwright and Debian's chromium, as the browser tests)
"""

from __future__ import annotations

import random

from _screenshot import ROOT, app_page

from tests.helpers import set_number


def overfit_text() -> str:
    """A sentence repeated (what the model learns by heart), then its letters shuffled (the validation part)."""
    rnd = random.Random(1)
    return "the cat sat on the mat. " * 110 + "".join(rnd.choice("the cat sat on mat.") for _ in range(290))


def main() -> None:
    from playwright.sync_api import expect

    with app_page("en-US") as page:
        page.get_by_role("tab", name="Train").click()
        paste = page.locator("#train-paste textarea")
        expect(paste).to_be_visible(timeout=60_000)
        paste.fill(overfit_text())
        paste.type(" ")
        page.locator("#train-arch").get_by_text("gpt", exact=True).click()
        page.locator("#train-advanced").get_by_text("Advanced settings").click()
        set_number(page, "#train-max-steps input", "60")
        set_number(page, "#train-eval-every input", "5")
        page.locator("#train-name").locator("input, textarea").first.fill("cat")
        page.locator("#train-btn").click()
        expect(page.locator("#train-status")).to_contain_text("Overfitting", timeout=300_000)
        expect(page.locator("#train-keep-latest")).to_be_visible(timeout=60_000)
        page.locator("#train-advanced").get_by_text("Advanced settings").click()  # fold it: a shorter picture
        page.wait_for_timeout(1500)
        page.evaluate("window.scrollTo(0, 0)")  # bounding boxes are then page coordinates, as clip wants
        top = page.locator("#train-btn").bounding_box()
        bottom = page.locator("#loss-plot").bounding_box()
        y0, y1 = top["y"] - 10, bottom["y"] + bottom["height"] + 10
        page.screenshot(path=str(ROOT / "docs" / "train-tab.png"), full_page=True,
                        clip={"x": 0, "y": y0, "width": 1280, "height": y1 - y0})  # fmt: skip


if __name__ == "__main__":
    main()
