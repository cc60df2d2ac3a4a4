"""Regenerate docs/inspect-zh.png: run the app, open the Inspect tab in a Chinese (zh-CN) chromium, inspect a
poem with the shipped poem model (GRU), show its update gate, take a picture.

python docs/make_inspect_screenshot.py   (needs playwright, Debian's chromium and a CJK font such as fonts-noto-cjk)
"""

from __future__ import annotations

from _screenshot import ROOT, app_page

POEM = (
    "\n靜夜思:床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。\n春曉:春眠不覺曉，處處聞啼鳥。夜來風雨聲，花落知多少。\n"
)


def main() -> None:
    from playwright.sync_api import expect

    with app_page("zh-CN") as page:
        expect(page.locator("#model-card")).to_contain_text("tang-poems-gru", timeout=60_000)  # zh default
        page.get_by_role("tab", name="透视").click()
        page.locator("#inspect-text textarea").fill(POEM)
        page.locator("#inspect-run").click()
        expect(page.locator("#inspect-status")).to_contain_text("GRU", timeout=120_000)
        page.locator("#inspect-gate").get_by_text("更新门", exact=False).click()
        expect(page.locator("#inspect-hid-plot .gtitle")).to_contain_text("更新门", timeout=30_000)
        page.wait_for_timeout(1500)
        page.locator("#tab-inspect").screenshot(path=str(ROOT / "docs" / "inspect-zh.png"))


if __name__ == "__main__":
    main()
