"""What the chat feeds the model (issue 21): a context notice only when turns really drop out, completion that
continues the message alone, and the poem model read as it was trained (titles, traditional characters)."""

from __future__ import annotations

from pathlib import Path

import pytest

from charlm.poetry import writes_poems
from charlm.storage.checkpoint import load_checkpoint
from charlm.ui.chat_tab import build_prompt, fit_prompt, reply_stream
from charlm.ui.limits import Limits
from charlm.vocab import CharVocab

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


def test_fit_prompt_keeps_whole_recent_turns_and_says_only_what_was_dropped():
    blocks = ["A" * 40, "B" * 40, "C" * 40]
    assert fit_prompt(blocks, "tail", 200) == ("A" * 40 + "B" * 40 + "C" * 40 + "tail", 0, False)  # all fit
    prompt, dropped, cut = fit_prompt(blocks, "tail", 100)
    assert prompt == "B" * 40 + "C" * 40 + "tail" and dropped == 1 and not cut  # the oldest turn goes, whole
    prompt, dropped, cut = fit_prompt(blocks, "x" * 150, 100)
    assert prompt == "x" * 100 and dropped == 3 and cut  # the message alone is too long: its end is kept


def test_completion_continues_the_message_alone():
    turns = [("Hello there", "Good morrow")]
    assert build_prompt(turns, "Once upon", "completion", "ROMEO", "JULIET") == "Once upon"
    assert build_prompt(turns, "Hi", "dialogue", "A", "B") == "A:\nHello there\n\nB:\nGood morrow\n\nA:\nHi\n\nB:\n"


def test_only_the_poem_vocabulary_writes_poems():
    assert writes_poems(CharVocab.from_chars("，。:\n春眠不覺曉"))
    assert not writes_poems(CharVocab.from_chars("，。:\n春眠不覺曉abc"))  # Latin letters: a mixed text model
    assert not writes_poems(CharVocab.from_chars("ABC abc:.,"))


@pytest.fixture(scope="module")
def models():
    return {name: load_checkpoint(CHECKPOINTS / name) for name in ("shakespeare-gpt", "tang-poems-gru")}


def reply(loaded, turns, message, mode="dialogue", lang="en", n=60):
    out = list(reply_stream(loaded, turns, message, mode=mode, you="", them="", temperature=0.8, top_k=0, top_p=1.0,
                            max_new_chars=n, seed=1, limits=Limits(), lang=lang))  # fmt: skip
    return out[-1]


def test_two_short_turns_need_no_context_notice(models):
    gpt = models["shakespeare-gpt"]
    _, notice = reply(gpt, [("Hi", "Well met.")], "How now?")
    assert notice == ""  # 2 short turns fit the 128-character window
    _, notice = reply(gpt, [("Hi " * 10, "Well met, good sir. " * 3)] * 3, "How now?")
    assert "3 of the 3 earlier turns" in notice  # they really do not fit


def test_the_poem_model_answers_a_title_with_a_poem_in_simplified_characters(models):
    text, notice = reply(models["tang-poems-gru"], [], "春晓", lang="zh-CN")
    assert "ROMEO" not in text and "JULIET" not in text and "\n" not in text
    assert "，" in text and "写诗的模型" in notice and "简体字" in notice
    assert "曉" not in text and "風" not in text  # shown in simplified characters, as poem mode does
    _, notice = reply(models["tang-poems-gru"], [], "你好", lang="zh-CN")
    assert "从未见过" not in notice  # the poem model knows 你好: no unknown-character notice
