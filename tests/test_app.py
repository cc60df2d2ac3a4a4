"""The whole web app in a real server, driven with gradio_client: chat, train, sessions, uploads, limits."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from charlm.storage.checkpoint import load_checkpoint  # noqa: E402

pytestmark = pytest.mark.app
ROOT = Path(__file__).resolve().parents[1]
TEXT = (
    "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n\n"
) * 12
TINY = dict(arch="gpt", size="tiny", time_budget=60, max_steps=20, eval_interval=10, seed=1)


def _train(client: Client, name: str, **kw) -> tuple:
    """Train a tiny model on pasted text through /train; returns every streamed output."""
    args = {"source": "paste", "corpus_file": None, "pasted_text": TEXT, "model_name": name, **TINY, **kw}
    job = client.submit(api_name="/train", **args)
    job.result(timeout=120)  # raises the app's message if training refused to start
    return tuple(job.outputs())


@pytest.fixture(scope="module")
def trained(app_url):
    """One client session that trained a model: (client, model name, zip path)."""
    c = Client(app_url, verbose=False)
    outs = _train(c, "hamlet")
    yield c, outs[-1][3], outs[-1][4], outs
    c.close()


def test_endpoints_are_named(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/chat", "/chat_stream", "/train", "/stop_training", "/corpus_stats", "/upload_model",
            "/download_model", "/model_card", "/evaluate", "/backprop"} <= names  # fmt: skip
    assert not any(n.startswith("/lambda") for n in names)


def test_chat_streams_plain_strings_and_is_reproducible(client):
    chunks = list(client.submit("Good morrow, sweet lady.", seed=3, max_new_chars=80, api_name="/chat"))
    assert len(chunks) >= 3 and all(isinstance(c, str) for c in chunks)
    assert all(b.startswith(a) for a, b in zip(chunks, chunks[1:], strict=False))  # each chunk is the reply so far
    again = client.predict("Good morrow, sweet lady.", seed=3, max_new_chars=80, api_name="/chat")
    assert again == chunks[-1] and 0 < len(again) <= 80
    assert "\n\n" not in again  # dialogue: the model's turn ends at a blank line


def test_page_chat_matches_api_and_reports_unknown_characters(client):
    """The ChatInterface endpoint runs the same generator; odd characters give a notice, not an error."""
    msg = "Hé <b>1</b>   ok"
    reply, notice = client.predict(msg, "shakespeare-gpt", "completion", "A", "B", 0.8, 0, 1.0, 60, 7,
                                   api_name="/chat_stream")  # fmt: skip
    text = reply["content"][0]["text"]
    assert text == client.predict(msg, mode="completion", max_new_chars=60, seed=7, api_name="/chat")
    assert "never saw" in notice and "'é'" in notice and "'<'" in notice


def test_long_history_keeps_the_most_recent_text(client):
    window = load_checkpoint(ROOT / "checkpoints" / "shakespeare-gpt").config.block_size
    long = "ROMEO:\nWhat light through yonder window breaks?\n\n" * 200  # 10k chars >> the model's context
    reply, notice = client.predict(long, "shakespeare-gpt", "completion", "A", "B", 0.0, 0, 1.0, 40, 1,
                                   api_name="/chat_stream")  # fmt: skip
    assert f"last {window} characters" in notice and reply["content"][0]["text"]
    tail = client.predict(long[-window:], mode="completion", temperature=0.0, max_new_chars=40, api_name="/chat")
    assert reply["content"][0]["text"] == tail  # only the last window counts


def test_train_auto_uses_the_recipe_for_the_budget(client):
    """arch "auto" (the tab's default) trains the recipe charlm.recipes picks for the budget: a GRU here."""
    from charlm.recipes import choose_recipe

    outs = _train(client, "auto-model", arch="auto", size="auto", max_steps=5, eval_interval=5)
    name = outs[-1][3]
    card = client.predict(name, api_name="/model_card")
    assert choose_recipe(60).arch.upper() in card and "5 steps" in card


def test_bad_chat_settings_give_clear_messages(client):
    with pytest.raises(AppError, match="top-p must be in"):
        client.predict("hi", top_p=0.0, api_name="/chat")
    with pytest.raises(AppError, match="no model named 'nope'"):
        client.predict("hi", model="nope", api_name="/chat")


def test_train_streams_progress_then_chat_with_the_new_model(trained):
    c, name, zip_path, outs = trained
    assert name == "hamlet" and len(outs) >= 2
    plot, status, sample, _, _, picker = outs[-1]
    splits = {row[2] for row in plot["data"]}
    assert splits == {"train", "validation"} and "finished" in status and "20 steps" in status
    assert sample and picker["value"] == "hamlet"
    with zipfile.ZipFile(zip_path) as zf:
        assert sorted(zf.namelist()) == ["hamlet/config.json", "hamlet/model.safetensors"]
    reply = c.predict("To be", model=name, mode="completion", seed=1, max_new_chars=30, api_name="/chat")
    assert isinstance(reply, str) and len(reply) == 30
    page, _ = c.predict("To be", name, "completion", "A", "B", 0.8, 0, 1.0, 30, 1, api_name="/chat_stream")
    assert page["content"][0]["text"] == reply  # the Chat tab finds this session's model too
    assert "20 steps" in c.predict(name, api_name="/model_card")


def test_resume_continues_the_last_run(trained):
    c, name, _, _ = trained
    outs = _train(c, "", pasted_text="", resume=True)
    assert outs[-1][3] == name and "40 steps" in outs[-1][1]
    steps = [row[0] for row in outs[-1][0]["data"]]
    assert min(steps) <= 10 and max(steps) == 40  # the plot keeps the first run's history


def test_sessions_do_not_see_each_other(trained, client):
    _, name, _, _ = trained
    with pytest.raises(AppError, match="no model named 'hamlet'"):
        client.predict("hi", model=name, api_name="/chat")
    with pytest.raises(AppError, match="no model named"):
        client.predict(name, api_name="/download_model")
    assert "no model named" in client.predict(name, api_name="/model_card")


def test_downloaded_zip_uploads_in_another_session(trained, client, tmp_path):
    _, _, zip_path, _ = trained
    picker, card = client.predict([handle_file(zip_path)], api_name="/upload_model")
    assert picker["value"] == "hamlet" and "uploaded" in card
    assert client.predict("To be", model="hamlet", max_new_chars=10, seed=1, api_name="/chat")
    # the pair of files works too; the second copy gets a new name
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(tmp_path)
    files = [handle_file(str(tmp_path / "hamlet" / f)) for f in ("model.safetensors", "config.json")]
    picker, _ = client.predict(files, api_name="/upload_model")
    assert picker["value"] == "hamlet-2"
    dl = client.predict("hamlet-2", api_name="/download_model")
    with zipfile.ZipFile(dl) as zf:
        zf.extractall(tmp_path / "again")
    assert load_checkpoint(tmp_path / "again" / "hamlet-2").n_params > 0


def test_bad_uploads_give_clear_messages(client, tmp_path, app_url):
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    binary = tmp_path / "data.txt"
    binary.write_bytes(bytes(range(256)) * 4)
    for path, message in ((empty, "is empty"), (binary, "looks binary")):
        with pytest.raises(AppError, match=message):
            client.predict(api_name="/train", source="file", corpus_file=handle_file(str(path)), **TINY)
    with pytest.raises(AppError, match="upload a .txt file first"):
        client.predict(api_name="/train", source="file", corpus_file=None, **TINY)
    junk_zip = tmp_path / "junk.zip"
    with zipfile.ZipFile(junk_zip, "w") as zf:
        zf.writestr("../../evil/config.json", "{}")
        zf.writestr("notes.txt", "hello")
    with pytest.raises(AppError, match="no folder with both"):
        client.predict([handle_file(str(junk_zip))], api_name="/upload_model")
    fake = tmp_path / "config.json"
    fake.write_text('{"hello": 1}')
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not safetensors")
    with pytest.raises(AppError, match="not a charlm checkpoint"):
        client.predict([handle_file(str(fake)), handle_file(str(weights))], api_name="/upload_model")
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"PK nope")
    with pytest.raises(AppError, match="not a valid zip"):
        client.predict([handle_file(str(not_zip))], api_name="/upload_model")
    # the session still works after all that
    assert client.predict("hi", max_new_chars=5, seed=1, api_name="/chat")


def test_nonsense_settings_and_caps(client):
    with pytest.raises(AppError, match="divisible"):
        _train(client, "bad", n_embd=64, n_head=3)
    with pytest.raises(AppError, match="parameters; this server allows"):
        _train(client, "big", size="medium")
    with pytest.raises(AppError, match="must be between 5 and 120, not 10000"):  # checked before the slider's own check
        _train(client, "long", time_budget=10_000)


def test_upload_size_cap_is_enforced_by_the_server(app_url, tmp_path):
    import httpx

    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (3 * 1024 * 1024))  # the test app's cap is 2 MB
    with open(big, "rb") as f:
        r = httpx.post(app_url.rstrip("/") + "/gradio_api/upload", files={"files": ("big.txt", f)})
    assert r.status_code == 413


def test_stop_keeps_the_model_trained_so_far(client):
    job = client.submit(api_name="/train", source="paste", corpus_file=None, pasted_text=TEXT, model_name="halt",
                        arch="gpt", size="tiny", time_budget=60, max_steps=0, eval_interval=10, seed=1)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and len(job.outputs()) < 2:  # wait until it is really training
        time.sleep(0.2)
    assert "Stopping" in client.predict(api_name="/stop_training")
    job.result(timeout=60)
    outs = job.outputs()
    assert "stopped" in outs[-1][1] and outs[-1][3] == "halt"
    assert client.predict("To", model="halt", max_new_chars=5, seed=1, api_name="/chat")


def test_cancel_registers_the_saved_checkpoint(client):
    """A cancelled job (the page's Stop button, a closed tab) still leaves the model in the session."""
    job = client.submit(api_name="/train", source="paste", corpus_file=None, pasted_text=TEXT, model_name="cut",
                        arch="gpt", size="tiny", time_budget=60, max_steps=0, eval_interval=10, seed=1)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and len(job.outputs()) < 2:
        time.sleep(0.2)
    job.cancel()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            assert client.predict("To", model="cut", max_new_chars=5, seed=1, api_name="/chat")
            break
        except AppError:
            time.sleep(0.5)
    else:
        pytest.fail("the cancelled run's model never appeared in the session")
    assert "cut" in client.predict("cut", api_name="/model_card")


def test_closed_api_session_deletes_its_models_and_files(app_demo, trained):
    """A client without a browser key (an API session) has temporary models: closing it deletes their files."""
    demo, url = app_demo
    registry = demo.charlm_registry
    c = Client(url, verbose=False)
    c.predict([handle_file(trained[2])], api_name="/upload_model")
    folder = registry.store.user_dir(registry.sessions[c.session_hash].user)
    assert folder.is_dir() and "hamlet" in c.predict(api_name="/model_card", model="hamlet")
    c.close()
    deadline = time.time() + 30
    while time.time() < deadline and c.session_hash in registry.sessions:
        time.sleep(0.5)
    assert c.session_hash not in registry.sessions and not folder.exists()


def test_a_browser_key_finds_its_models_from_any_session(app_demo, trained):
    """What a page load does (bind the browser's key): the same key in a new session, e.g. after a restart, sees
    the same models; another key sees none of them."""
    demo, url = app_demo
    registry = demo.charlm_registry
    first, second, stranger = (Client(url, verbose=False) for _ in range(3))
    try:
        key = registry.bind(first.session_hash, None)
        first.predict([handle_file(trained[2])], api_name="/upload_model")
        assert registry.bind(second.session_hash, key) == key
        assert "hamlet" in second.predict("hamlet", api_name="/model_card")
        registry.bind(stranger.session_hash, None)
        assert "no model named" in stranger.predict("hamlet", api_name="/model_card")
        first.close()  # a closed tab does not delete a browser's models
        time.sleep(2)
        assert "hamlet" in second.predict("hamlet", api_name="/model_card")
        second.predict("hamlet", api_name="/delete_model")
        assert "no model named" in second.predict("hamlet", api_name="/model_card")
        with pytest.raises(AppError, match="shipped model"):
            second.predict("shakespeare-gpt", api_name="/delete_model")
    finally:
        for cl in (second, stranger):
            cl.close()


def test_training_queues_while_chat_stays_responsive(app_url):
    """One training slot (the test app's cap): a second user's run waits in the queue; chat does not."""
    a, b, c = (Client(app_url, verbose=False) for _ in range(3))
    try:
        long_run = dict(source="paste", corpus_file=None, pasted_text=TEXT, arch="gpt", size="tiny", time_budget=60,
                        max_steps=0, eval_interval=10, seed=1)  # fmt: skip
        job_a = a.submit(api_name="/train", model_name="first", **long_run)
        deadline = time.time() + 60
        while time.time() < deadline and len(job_a.outputs()) < 2:
            time.sleep(0.2)
        job_b = b.submit(api_name="/train", model_name="second", **{**long_run, "max_steps": 10})
        deadline = time.time() + 10
        while time.time() < deadline and job_b.status().code.name != "IN_QUEUE":
            time.sleep(0.1)
        assert job_b.status().code.name == "IN_QUEUE" and job_b.status().rank is not None
        t0 = time.time()
        assert c.predict("Good morrow", max_new_chars=40, seed=1, api_name="/chat")
        assert time.time() - t0 < 15  # not stuck behind the training queue
        a.predict(api_name="/stop_training")
        job_b.result(timeout=60)
        assert job_b.outputs()[-1][3] == "second"
        assert "stopped" in job_a.outputs()[-1][1]
    finally:
        for cl in (a, b, c):
            cl.close()


def test_zip_bomb_and_traversal_are_refused(client, tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("m/config.json", "{}")
        zf.writestr("m/model.safetensors", b"\0" * (5 * 1024 * 1024))  # 5 MB of zeros, a few KB zipped
    assert bomb.stat().st_size < 100_000
    with pytest.raises(AppError, match="unpacks to more than"):
        client.predict([handle_file(str(bomb))], api_name="/upload_model")
    sneaky = tmp_path / "sneaky.zip"
    with zipfile.ZipFile(sneaky, "w") as zf:  # names are never used as paths: only two fixed files are written
        zf.writestr("../../../tmp/charlm-evil/config.json", "{}")
        zf.writestr("../../../tmp/charlm-evil/model.safetensors", b"x")
    with pytest.raises(AppError, match="not a charlm checkpoint"):
        client.predict([handle_file(str(sneaky))], api_name="/upload_model")
    assert not Path("/tmp/charlm-evil").exists()


def test_a_reply_longer_than_the_servers_limit_is_refused_clearly(client):
    """The test app allows 500 characters per reply. The page's slider stops there (Gradio refuses more); the API
    endpoint used to cut a longer request to the limit silently (issue 17): now it says what the limit is."""
    with pytest.raises(AppError, match="max_new_chars is 600, more than this server's limit of 500"):
        client.predict("hi", max_new_chars=600, api_name="/chat")
    with pytest.raises(AppError, match="must be between 1 and 500, not 600"):
        client.predict("ROMEO:", "shakespeare-gpt", "completion", "A", "B", 0.8, 0, 1.0, 600, 1,
                       api_name="/chat_stream")  # fmt: skip
    reply = client.predict("ROMEO:", mode="completion", max_new_chars=500, seed=1, api_name="/chat")
    assert 0 < len(reply) <= 500
