"""Shared fixtures. Gradio reads its environment at import, so set it before anything imports gradio."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no telemetry or version-check threads (and no network)
os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="charlm-test-gradio-"))

import pytest  # noqa: E402

from tests.helpers import launch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def app_demo():
    """The full app (shipped checkpoints included) on a free port, with small limits so caps are testable."""
    pytest.importorskip("gradio")
    from charlm.ui.app import build_app, launch_kwargs
    from charlm.ui.limits import Limits

    limits = Limits(max_upload_mb=2, max_train_seconds=120, max_params=3_000_000, max_new_chars=500,
                    max_concurrent_training=1, storage=tempfile.mkdtemp(prefix="charlm-test-store-"))  # fmt: skip
    demo = build_app(limits=limits)
    url = launch(demo, **launch_kwargs(limits))
    yield demo, url
    demo.close()


@pytest.fixture(scope="session")
def app_url(app_demo):
    return app_demo[1]


@pytest.fixture
def client(app_url):
    """One gradio_client Client is one browser session (its own models)."""
    from gradio_client import Client

    c = Client(app_url, verbose=False)
    yield c
    c.close()


@pytest.fixture
def one_thread():
    """torch on one thread for the test: tiny recurrent steps are many small operators, and on a busy 2-core
    machine a second thread mostly waits for its time slice (measured: a 30-step GRU test 38 s -> 3 s)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
