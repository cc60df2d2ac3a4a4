"""Issue 22: the two Gradio costs the app removes (docs/benchmarks.md, "A classroom"), each checked to change
nothing but the time: a failed ``import matplotlib`` on every event, and ``inspect.signature`` recomputed for
each of the app's components in every new session."""

from __future__ import annotations

import importlib.util
import inspect
import sys

import pytest

pytest.importorskip("gradio")


def test_a_missing_matplotlib_is_marked_once_and_still_fails_to_import(monkeypatch):
    from gradio.utils import MatplotlibBackendMananger

    from charlm.ui.app import skip_missing_matplotlib

    monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)  # not installed, on any machine
    assert skip_missing_matplotlib() is True
    assert skip_missing_matplotlib() is False  # once
    with pytest.raises(ImportError):
        import matplotlib  # noqa: F401
    with MatplotlibBackendMananger():  # Gradio's own wrapper of every event still works
        pass


def test_an_installed_matplotlib_is_left_alone(monkeypatch):
    from charlm.ui.app import skip_missing_matplotlib

    monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())  # installed
    assert skip_missing_matplotlib() is False
    assert "matplotlib" not in sys.modules


def test_remembered_signatures_give_every_session_the_same_configs(app_demo, monkeypatch):
    import gradio.blocks
    from gradio.state_holder import SessionState

    from charlm.ui.app import _CachedSignatures, cache_block_signatures

    assert isinstance(gradio.blocks.inspect, _CachedSignatures)  # installed by build_app
    assert cache_block_signatures() is False  # once
    assert gradio.blocks.inspect.Parameter is inspect.Parameter  # the rest of inspect, unchanged
    demo = app_demo[0]
    cached = SessionState(demo).config_values
    monkeypatch.setattr(gradio.blocks, "inspect", inspect)  # Gradio as it comes
    plain = SessionState(demo).config_values
    assert len(plain) > 100 and cached == plain


def test_a_streaming_reply_has_its_inputs_checked_once_not_at_every_update(app_demo, monkeypatch):
    import json

    import httpx

    demo, url = app_demo
    guard, checked = demo.charlm_guard, []
    original = guard.check
    monkeypatch.setattr(guard, "check", lambda fn, *a: checked.append(fn.api_name) or original(fn, *a))
    base = url.rstrip("/") + "/gradio_api/call/chat"
    data = ["ROMEO:", "", "completion", "ROMEO", "JULIET", 0.8, 0, 1.0, 60, 1]
    event = httpx.post(base, json={"data": data}, timeout=30).json()["event_id"]
    stream = httpx.get(f"{base}/{event}", timeout=120).text
    updates = stream.count("event: generating")
    assert updates >= 2 and "event: complete" in stream  # it streamed
    assert len(json.loads(stream.rsplit("data:", 1)[1])[0]) > 0
    assert checked.count("chat") == 1
    with pytest.raises(AssertionError):  # (and the check still runs on a new request: a bad one is refused)
        bad = httpx.post(base, json={"data": ["x" * 10**6, *data[1:]]}, timeout=30).json()["event_id"]
        assert "event: error" not in httpx.get(f"{base}/{bad}", timeout=60).text
    assert checked.count("chat") == 2


def test_starting_the_app_does_not_import_rouge_or_nltk():
    """rouge-score pulls in nltk and scipy: 1.7 s of the app's cold start, for a metric asked for later if ever."""
    import subprocess

    code = ("import sys, charlm.ui.app, charlm.cli\n"
            "print(sorted(m for m in ('nltk', 'rouge_score') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]"
