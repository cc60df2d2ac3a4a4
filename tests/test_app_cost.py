"""Issue 19 A in the real app: uploads are all or nothing, and ensembles take the session's own models (API)."""

from __future__ import annotations

import json

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tests.test_cost_model import tiny_checkpoint  # noqa: E402

pytestmark = pytest.mark.app
CHARS = "abcdefghijklmnopqrstuvwxyz ,.\n"


def upload(client, folder) -> str:
    picker, _ = client.predict([handle_file(str(folder / f)) for f in ("config.json", "model.safetensors")],
                               api_name="/upload_model")  # fmt: skip
    return picker["value"]


def test_ensembles_accept_the_sessions_own_models(client, tmp_path):
    folder, _ = tiny_checkpoint(tmp_path, CHARS, "mine")
    first, second = upload(client, folder), upload(client, folder)
    assert (first, second) == ("mine", "mine-2")
    table = client.predict([first, second], "the cat sat on the mat.", api_name="/score_ensemble")
    rows = table["data"]  # the ensemble, then each member (named by its checkpoint's own name)
    assert len(rows) == 3 and [row[0] for row in rows][1:] == ["mine", "mine"] and all(row[1] > 0 for row in rows)
    assert client.predict([first, second], "the ", 1, api_name="/sample_ensemble")
    with pytest.raises(AppError, match="no model named 'nobody'"):  # other names are still refused by the registry
        client.predict([first, "nobody"], "the cat", api_name="/score_ensemble")


def test_an_upload_with_bad_metadata_keeps_nothing(client, app_demo, tmp_path):
    folder, _ = tiny_checkpoint(tmp_path, CHARS, "bad")
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps({**meta, "training": {"steps": "abc"}}), encoding="utf-8")
    with pytest.raises(AppError, match="training metadata steps must be a number, not 'abc'"):
        upload(client, folder)
    assert "no model named" in client.predict("bad", api_name="/model_card")  # the card does not break: no model
    registry = app_demo[0].charlm_registry
    assert all(r.name != "bad" for s in registry.table.all() for r in registry.store.models(s.user))
