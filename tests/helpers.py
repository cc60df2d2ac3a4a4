"""Shared test helpers: where the corpora are, and tiny models that train in a second."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("CHARLM_DATA_DIR", REPO.parent / "shared" / "data"))
SHAKESPEARE = DATA_DIR / "tinyshakespeare.txt"
POEMS = DATA_DIR / "wujue_poems_zh.txt"


def shakespeare_slice(n: int = 20_000) -> str:
    if not SHAKESPEARE.is_file():
        pytest.skip(f"corpus not found at {SHAKESPEARE} (set CHARLM_DATA_DIR)")
    with open(SHAKESPEARE, encoding="utf-8") as f:
        return f.read(n)


def poems_slice(n: int = 5_000) -> str:
    if not POEMS.is_file():
        pytest.skip(f"corpus not found at {POEMS} (set CHARLM_DATA_DIR)")
    with open(POEMS, encoding="utf-8") as f:
        return f.read(n)


TINY = {
    "gpt": dict(n_layer=2, n_embd=32, n_head=4, block_size=32),
    "lstm": dict(n_layer=2, n_embd=16, hidden_size=32, block_size=32),
    "gru": dict(n_layer=2, n_embd=16, hidden_size=32, block_size=32),
    "rnn": dict(n_layer=2, n_embd=16, hidden_size=32, block_size=32),
}
ARCHS = tuple(TINY)


# The real-browser tests drive Debian's chromium through Playwright (no `playwright install`).
CHROMIUM = os.environ.get("CHARLM_CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def free_port() -> int:
    """A free local port (gradio cannot be asked for port 0: it health-checks the port it was given)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(demo, **kwargs) -> str:
    """Launch a Blocks on a free local port without blocking; returns its URL."""
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **kwargs)  # fmt: skip
    return url


# --- texts of the metric tests (tests/test_metric_*.py, tests/test_evaluation_*.py) -----------------------------
EN_H, EN_R = "The cat sat on the mat.", "The cat is sitting on the mat."
ZH_H, ZH_R = "今天天气很好。", "今天的天气非常好。"
MIX_H, MIX_R = "我用Python写代码，速度很快。", "我用 Python 编写代码，速度非常快。"


def one(h: str, r: str, tokenize: str = "auto"):
    """One hypothesis scored against one reference."""
    from charlm.evaluation import evaluate_texts

    return evaluate_texts([h], [[r]], tokenize=tokenize)


def set_number(page, box: str, value: str) -> None:
    """Type ``value`` into the number box ``box`` (a CSS selector) of a Playwright page, and check it stayed: an
    accordion mounts its children lazily, and a value typed too early can be reset."""
    from playwright.sync_api import expect

    for _ in range(5):
        page.locator(box).fill(value)
        page.locator(box).press("Tab")
        page.wait_for_timeout(300)
        if page.locator(box).input_value() == value:
            break
    expect(page.locator(box)).to_have_value(value)
