"""What a learner sees in every tab (issue 21), in a real browser (Debian's chromium through Playwright): a
Chinese browser walks every tab and finds no table header, chart axis, legend or title in Latin script beyond
names, numbers and metric acronyms; the Inspect query box answers Enter; Evaluate's examples and matched n-grams;
Backprop's Reset. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
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

# the same `python app.py`, chromium and English page fixtures
server, browser, page = test_browser.server, test_browser.browser, test_browser.page

# every header, axis title, legend entry and chart title on the page (Gradio tables, plotly and Vega charts)
COLLECT = """() => {
  const sel = ['th', '.gtitle', '.g-xtitle', '.g-ytitle', '.legendtext', '.cbtitle', '.role-axis-title text',
               '.role-legend-title text', '.role-legend-label text', '.role-title-text text'];
  const out = [];
  for (const s of sel) for (const e of document.querySelectorAll(s)) {
    const t = (e.textContent || '').trim();
    if (t) out.push(s + ' | ' + t);
  }
  return out;
}"""
WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*")
# names, metric acronyms and symbols a Chinese page keeps as they are
ALLOWED = {"BLEU", "chrF", "ROUGE-1", "ROUGE-2", "ROUGE-L", "ROUGE-Lsum", "TER", "F1", "PCA", "PC1", "PC2", "GPT",
           "LSTM", "GRU", "RNN", "SGD", "AdamW", "Muon", "shakespeare-gpt", "shakespeare-lstm",
           "tang-poems-gru"}  # fmt: skip


def latin(texts: list[str]) -> list[str]:
    """The texts with a Latin word of two letters or more that is not a name or an acronym."""
    bad = []
    for item in texts:
        text = item.split(" | ", 1)[1]
        words = [w for w in WORD.findall(text) if len(w) > 1 and w not in ALLOWED]
        if words:
            bad.append(f"{item}  ->  {words}")
    return bad


def pick_model(page, name: str) -> None:
    page.locator("#model-picker input").click()
    page.get_by_role("option", name=name, exact=True).click()
    expect(page.locator("#model-card")).to_contain_text(name, timeout=30_000)


def test_a_chinese_browser_sees_every_header_and_axis_in_chinese(server, browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    page, seen = context.new_page(), []
    try:
        page.goto(server)
        expect(page.locator("#learn-vectors-fig .js-plotly-plot").first).to_be_visible(timeout=60_000)
        seen += page.evaluate(COLLECT)
        # Chat: a Chinese reader opens on the poem model, so 你好 is not unknown to it
        expect(page.locator("#model-card")).to_contain_text("tang-poems-gru", timeout=30_000)
        page.get_by_role("tab", name="对话").click()
        test_browser.send(page, "你好")
        expect(page.locator("#chat-notice")).to_contain_text("写诗的模型")
        expect(page.locator("#chat-notice")).not_to_contain_text("从未见过")
        page.locator("#chat-mode").get_by_text("续写", exact=True).click()
        expect(page.locator("#chat-notice")).to_be_empty(timeout=10_000)  # a mode switch clears the old notice
        # Train: the search table's headers
        page.get_by_role("tab", name="训练").click()
        page.locator("#search").get_by_role("button").first.click()
        expect(page.locator("#search-table th").first).to_be_visible(timeout=15_000)
        page.locator("#compare").get_by_role("button").first.click()
        expect(page.locator("#compare-table th").first).to_be_visible(timeout=15_000)
        expect(page.locator("#train-size")).to_contain_text("微型")
        seen += page.evaluate(COLLECT)
        # Evaluate: an example, its tables, chart, matched n-grams and the chrF note; an error's title
        page.get_by_role("tab", name="评估").click()
        page.locator("#eval-run").click()  # nothing pasted yet: an error, titled in Chinese
        expect(page.locator('[data-testid="toast-body"]').first).to_contain_text("错误", timeout=15_000)
        expect(page.locator('[data-testid="toast-body"]').first).not_to_contain_text("Error")
        seen += page.evaluate(COLLECT)  # the empty tables: real headers, not "1 2 3"
        page.locator("#eval-example-zh").click()
        expect(page.locator("#eval-hyps textarea")).to_have_value(re.compile("今天天气很好"))
        page.locator("#eval-run").click()
        expect(page.locator("#eval-notes")).to_contain_text("为什么这里 chrF", timeout=60_000)
        expect(page.locator("#eval-chart .role-axis-title text").first).to_be_visible(timeout=30_000)
        seen += page.evaluate(COLLECT)
        # Backprop: the loss plot's axes and the zig-zag explained
        page.get_by_role("tab", name="反向传播").click()
        page.locator("#bp-preset input").click()
        page.get_by_role("option").filter(has_text="XOR").first.click()
        page.locator("#bp-train").click()
        expect(page.locator("#bp-train-msg")).to_contain_text("逐样本", timeout=60_000)
        expect(page.locator("#bp-loss-plot .role-axis-title text").first).to_be_visible(timeout=30_000)
        seen += page.evaluate(COLLECT)
        # Inspect: the GPT example (drawn at start), then the LSTM with its forget gate
        page.get_by_role("tab", name="透视").click()
        expect(page.locator("#inspect-emb-plot .js-plotly-plot").first).to_be_visible(timeout=60_000)
        seen += page.evaluate(COLLECT)
        pick_model(page, "shakespeare-lstm")
        page.locator("#inspect-run").click()
        expect(page.locator("#inspect-status")).to_contain_text("LSTM", timeout=120_000)
        page.locator("#inspect-gate").get_by_text("遗忘门", exact=False).click()
        expect(page.locator("#inspect-hid-plot .gtitle")).to_contain_text("遗忘门", timeout=30_000)
        units = page.locator("#inspect-units").text_content()
        assert re.search("行内位置|大写|换行之后", units) and "position in line" not in units  # feature names
        seen += page.evaluate(COLLECT)
        page.screenshot(path=str(ARTIFACTS / "zh-tabs-inspect.png"), full_page=True)
    finally:
        context.close()
    (ARTIFACTS / "zh-headers.txt").write_text("\n".join(seen), encoding="utf-8")
    for selector, text in (
        ("th", "位置"),
        ("th", "分词器"),
        ("th", "状态"),
        ("th", "词元/秒"),
        (".role-axis-title", "指标"),
        (".role-axis-title", "步数"),
        (".g-xtitle", "字符"),
        (".legendtext", "小写字母"),
    ):
        assert any(s.startswith(selector) and text in s for s in seen), (selector, text)  # the walk saw them
    assert not latin(seen), "\n".join(latin(seen))


def test_inspect_query_box_answers_enter(page):
    page.get_by_role("tab", name="Inspect").click()
    expect(page.locator("#query-text")).to_be_visible(timeout=60_000)
    box = page.locator('#inspect-query [data-testid="number-input"]')
    box.fill("20")
    box.press("Enter")  # the box keeps the focus: no blur, no release
    expect(page.locator("#inspect-query-view")).to_contain_text("query 20 ", timeout=15_000)


def test_evaluate_examples_and_matched_ngrams(page):
    page.get_by_role("tab", name="Evaluate").click()
    headers = page.locator("#eval-summary th").all_inner_texts()
    assert [h.strip() for h in headers][:3] == ["metric", "score", "tokenizer"], headers  # not "1 2 3"
    page.locator("#eval-example-en").click()
    expect(page.locator("#eval-hyps textarea")).to_have_value(re.compile("The cat sat on the mat"))
    page.locator("#eval-run").click()
    expect(page.locator("#eval-notes")).to_contain_text("segments", timeout=60_000)
    assert "signature" not in " ".join(page.locator("#eval-summary th").all_inner_texts())
    assert latin(page.evaluate(COLLECT))  # the Chinese walk's check does find English headers
    matches = page.locator("#eval-matches")
    expect(matches).to_contain_text("mat")
    marked = matches.locator(".token.highlighted").filter(has_text="mat.").first
    assert "74, 222, 128" in marked.get_attribute("style")  # "on the mat ." is in the reference: 4's colour
    assert "sat" not in " ".join(matches.locator(".token.highlighted").all_inner_texts())  # "sat" matches nothing
    expect(matches.locator('[data-testid="highlighted-text:category-legend"]')).to_contain_text("4")


def test_backprop_reset_puts_the_preset_back(page):
    page.get_by_role("tab", name="Backprop").click()
    spec = page.locator("#bp-spec .cm-content")
    expect(spec).to_be_visible(timeout=15_000)
    original = spec.inner_text()
    page.locator("#bp-train").click()  # training writes the trained weights into the spec
    expect(page.locator("#bp-train-msg")).to_contain_text("Trained", timeout=60_000)
    expect(page.locator("#bp-spec")).not_to_contain_text('"weights": [[[0.1, 0.2, 0.3]')
    page.locator("#bp-reset").click()
    squeeze = re.compile(r"\s+")
    for _ in range(60):  # CodeMirror's lines: compare without whitespace
        if squeeze.sub("", spec.inner_text()) == squeeze.sub("", original):
            break
        page.wait_for_timeout(250)
    assert squeeze.sub("", spec.inner_text()) == squeeze.sub("", original)
