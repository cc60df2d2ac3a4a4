"""Issue 13 in the running app, driven with gradio_client: poem mode on the shipped poetry model, the interface's
language from the Accept-Language header, and one-click training on the built-in Chinese corpus."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from charlm.corpora import POEMS  # noqa: E402
from charlm.poetry import check_form, to_simplified, to_traditional  # noqa: E402
from charlm.ui.poem_panel import POETRY_MODEL  # noqa: E402

pytestmark = pytest.mark.app
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


@pytest.fixture
def zh_client(app_url):
    """A client whose requests say, as a Chinese browser does, that it reads simplified Chinese first."""
    c = Client(app_url, verbose=False, headers=ZH)
    yield c
    c.close()


def poem_lines(shown: str) -> tuple[str, str]:
    """(title, poem body) from the page's text: the title, a blank line, then one line of the poem per row."""
    title, _, body = shown.partition("\n\n")
    return title, body.replace("\n", "")


def test_the_poetry_model_ships_and_is_listed(client):
    card = client.predict(POETRY_MODEL, api_name="/model_card")
    assert "GRU" in card and re.search(r"vocabulary 6,?2\d\d\b", card), card  # over the poems' ~6,258 characters


@pytest.mark.parametrize("title", ["春晓", "静夜思", "江雪", "登鹳雀楼"])
def test_a_simplified_title_gives_a_well_formed_poem_in_either_script(client, title):
    shown, form, notices = client.predict(title, "", POETRY_MODEL, True, "simplified", 0.8, 3, api_name="/poem")
    head, body = poem_lines(shown)
    assert head == to_simplified(to_traditional(title)) and check_form(body).ok, shown
    assert "Form check passed" in form and "line 4" in form
    if to_traditional(title) != title:  # 江雪 is the same in both scripts: nothing to convert, nothing to say
        assert f"{title} → {to_traditional(title)}" in notices  # "the title in traditional characters, ..."
    shown_t, _, _ = client.predict(title, "", POETRY_MODEL, True, "traditional", 0.8, 3, api_name="/poem")
    head_t, body_t = poem_lines(shown_t)
    assert head_t == to_traditional(title) and to_simplified(body_t) == body  # same seed, same poem, other script


def test_a_first_line_alone_starts_the_poem(client):
    shown, form, _ = client.predict("", "床前明月光", POETRY_MODEL, True, "traditional", 0.8, 1, api_name="/poem")
    head, body = poem_lines(shown)
    assert head == "無題" and body.startswith("牀前明月光，") and check_form(body).ok  # OpenCC s2t: 床 -> 牀


def test_the_form_check_shows_what_free_sampling_breaks(client):
    """At a high temperature the unconstrained model breaks the form now and then; the check names the line."""
    results = [client.predict("秋思", "", POETRY_MODEL, False, "traditional", 2.0, seed, api_name="/poem")
               for seed in range(12)]  # fmt: skip
    broken = [(shown, form) for shown, form, _ in results if not check_form(poem_lines(shown)[1]).ok]
    assert broken, "12 poems at temperature 2 all kept the form: the test no longer shows the constraint's effect"
    for _, form in broken:
        assert "Form check failed" in form and "❌" in form


def test_chinese_requests_get_chinese_text_and_errors(zh_client):
    shown, form, notices = zh_client.predict("春晓", "", POETRY_MODEL, True, "simplified", 0.8, 1, api_name="/poem")
    assert "格律检查通过" in form and "第 4 句" in form and "标题已转换为模型学过的繁体字" in notices
    with pytest.raises(AppError, match="请选一个在中文诗歌上训练的模型"):
        zh_client.predict("春晓", "", "shakespeare-lstm", True, "simplified", 0.8, 1, api_name="/poem")
    with pytest.raises(AppError, match="请给出诗题或首句"):
        zh_client.predict("", "", POETRY_MODEL, True, "simplified", 0.8, 1, api_name="/poem")
    card = zh_client.predict(POETRY_MODEL, api_name="/model_card")
    assert "参数" in card  # the model card in Chinese


def test_english_requests_get_english(client):
    with pytest.raises(AppError, match="pick a model trained on Chinese poems"):
        client.predict("spring", "", "shakespeare-lstm", True, "simplified", 0.8, 1, api_name="/poem")


@pytest.mark.parametrize("native_bf16", [True, False])
def test_one_click_training_on_the_builtin_chinese_corpus(zh_client, monkeypatch, native_bf16):
    """The Train tab's built-in poems with every other field at its default (arch "auto": the large-vocabulary
    recipe); the trained model writes a constrained quatrain at once. On a CPU with native bf16 "auto" trains the
    recipe's 256-wide GRU in bf16 (issue 17: that crashed), elsewhere in fp32: both are forced here."""
    monkeypatch.setattr("charlm.device.cpu_has_native_bf16", lambda: native_bf16)
    job = zh_client.submit(source="builtin", corpus_file=None, builtin=POEMS, model_name="唐诗-gru", time_budget=5,
                           eval_interval=5, api_name="/train")  # fmt: skip
    job.result(timeout=180)
    *_, status, sample, name, _, picker = job.outputs()[-1]
    assert name == "唐诗-gru" and picker["value"] == "唐诗-gru" and "时间预算用完" in status, status
    card = zh_client.predict(name, api_name="/model_card")
    assert "GRU" in card.upper()
    with zipfile.ZipFile(zh_client.predict(name, api_name="/download_model")) as z:
        config = json.loads(z.read(next(n for n in z.namelist() if n.endswith("config.json"))))
    assert config["training"]["precision"] == ("bf16" if native_bf16 else "fp32")
    shown, form, _ = zh_client.predict("春晓", "", name, True, "simplified", 0.8, 1, api_name="/poem")
    assert check_form(poem_lines(shown)[1]).ok and "格律检查通过" in form
