"""Quatrains: corpus format, form check, the constrained-decoding rule, prompts and script conversion."""

import pytest
import torch

from charlm import poetry
from charlm.corpora import POEMS, builtin_text
from charlm.errors import PoetryError
from charlm.poetry import (
    POEM_LENGTH,
    QuatrainRule,
    check_form,
    fit_prompt,
    is_well_formed,
    parse_corpus,
    parse_line,
    poem_prompt,
    to_simplified,
    to_traditional,
    well_formed_corpus,
)
from charlm.vocab import UNK_ID, CharVocab

GOOD = "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"
BAD = {
    "功名還壯士，道術付諸儒。但欲謀田□，扁舟下五湖。": ["line 3: '□' is not a Han character"],  # a lost character
    "普天皆滅焰，匝地盡藏煙。不知何處火？來就客心然。": ["line 3 ends with '？'; it should end with '，'"],
    "床前明月光，疑是地上霜。舉頭望明月，": ["the poem has 3 lines, not 4"],
    "床前明月光光，疑是地上霜。舉頭望明月，低頭思故鄉。": ["line 1 has 6 characters, not 5"],
    "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉": ["line 4 has no closing punctuation; it should end with '。'"],
    "床前明月光。疑是地上霜，舉頭望明月，低頭思故鄉。": [
        "line 1 ends with '。'; it should end with '，'", "line 2 ends with '，'; it should end with '。'"],
    "鵝，鵝，鵝，曲項向天歌。白毛浮綠水，紅掌撥清波。": None,  # irregular lines (a real corpus poem)
    "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。又一行字句。": ["the poem has 5 lines, not 4"],
    "": ["the poem has 0 lines, not 4"],
    "床前明月 ，疑是地上霜。舉頭望明月，低頭思故鄉。": ["line 1: ' ' is not a Han character"],
}  # fmt: skip


@pytest.fixture(scope="module")
def poems_text():
    return builtin_text(POEMS)


def test_parse_corpus_line_format(poems_text):
    poems = parse_corpus(poems_text)
    assert len(poems) == 17_000
    assert parse_line("靜夜思:" + GOOD + "\n") == poetry.Poem("靜夜思", GOOD)
    assert parse_line("no colon here") is None
    assert parse_line("a:b:c") == poetry.Poem("a", "b:c")  # the poem is everything after the first ':'


def test_form_check_on_known_good_and_bad_poems():
    good = check_form(GOOD)
    assert good.ok and good.problems() == [] and len(good.lines) == 4
    assert [line.text for line in good.lines] == ["床前明月光，", "疑是地上霜。", "舉頭望明月，", "低頭思故鄉。"]
    assert check_form(GOOD + "\n").ok and is_well_formed(GOOD + "\n")  # the poem's closing newline is allowed
    assert "well-formed" in good.summary()
    for body, problems in BAD.items():
        result = check_form(body)
        assert not result.ok and not is_well_formed(body), body
        if problems is not None:
            assert result.problems() == problems, body
        assert result.summary() == "; ".join(result.problems())


def test_form_check_agrees_with_the_regular_expression_on_the_whole_corpus(poems_text):
    bodies = [p.body for p in parse_corpus(poems_text)]
    passed = [check_form(b).ok for b in bodies]
    assert passed == [is_well_formed(b) for b in bodies]
    assert sum(passed) == 16_888  # the research's count: 99.34% of the corpus


def test_well_formed_corpus_keeps_each_good_poem_once(poems_text):
    clean = well_formed_corpus(poems_text)
    poems = parse_corpus(clean)
    assert len(poems) == 16_260
    assert all(is_well_formed(p.body) and len(p.title) <= poetry.MAX_TITLE for p in poems)
    assert len({p.body for p in poems}) == len(poems)


@pytest.fixture(scope="module")
def vocab(poems_text):
    # the corpus's characters plus some that look like poem characters but are not Han: they must never be allowed
    return CharVocab.from_chars(set(poems_text) | set("□？○〇!a :\u3000"))


def _sample_constrained(rule, logits_for, gen) -> str:
    """A sampler that draws only from the allowed ids, however wild the logits (the rule's whole promise)."""
    out = ""
    while (mask := rule.allowed(len(out))) is not None:
        assert mask.any(), f"nothing allowed at position {len(out)}"
        logits = logits_for(out).masked_fill(~mask, float("-inf"))
        out += rule.vocab.decode([int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen))])
    return out


@pytest.mark.parametrize("seed", range(100))
def test_random_logits_under_the_rule_never_break_the_form(vocab, seed):
    rule = QuatrainRule(vocab)
    gen = torch.Generator().manual_seed(seed)
    not_han = ~rule.han

    # random logits that strongly prefer what the form forbids: punctuation, □, the unknown id, the newline
    def logits_for(_):
        return torch.randn(vocab.size, generator=gen) * 3 + not_han.float() * 20

    poem = _sample_constrained(rule, logits_for, gen)
    assert len(poem) == POEM_LENGTH and poem.endswith("\n") and poem.count("\n") == 1  # ends at its newline
    assert check_form(poem).ok, poem
    assert rule.done(poem) and rule.allowed(poem) is None


def test_rule_masks_positions_and_biases(vocab):
    rule = QuatrainRule(vocab)
    han_ids = rule.allowed_ids(0)
    assert UNK_ID not in han_ids.tolist()
    assert all(poetry.is_han(c) for c in vocab.decode(han_ids.tolist()))
    assert not any(vocab.id_of(c) in set(han_ids.tolist()) for c in "□？○〇!a :\u3000")
    for p, ch in poetry.FORCED.items():
        assert rule.allowed_ids(p).tolist() == [vocab.id_of(ch)] and rule.forced_id(p) == vocab.id_of(ch)
    assert rule.forced_id(0) is None and rule.allowed_ids(POEM_LENGTH).numel() == 0
    bias = rule.logit_bias("床前明月光")  # position 5: only '，'
    assert bias[vocab.id_of("，")] == 0 and torch.isinf(bias).sum() == vocab.size - 1
    assert rule.logit_bias(3) is rule.logit_bias(4)  # built once, shared
    assert rule.position("床前明月光，疑") == 7
    with pytest.raises(PoetryError, match="character 6"):
        rule.allowed("床前明月光。")
    with pytest.raises(PoetryError, match="not a Han character"):
        rule.allowed("床前□")


def test_rule_needs_the_form_s_characters():
    with pytest.raises(PoetryError, match="lacks"):
        QuatrainRule(CharVocab.from_chars("床前明月光\n"))
    with pytest.raises(PoetryError, match="no Chinese characters"):
        QuatrainRule(CharVocab.from_chars("abc，。\n"))


def test_prompts_for_a_title_or_a_first_line():
    assert poem_prompt("靜夜思") == "\n靜夜思:"
    assert poem_prompt("  靜夜\n思 ") == "\n靜夜 思:"  # a line break would end the corpus line
    assert poem_prompt("a:b") == "\na：b:"  # an ASCII ':' would start the poem early
    assert poem_prompt("靜夜思", "床前明月光") == "\n靜夜思:床前明月光，"  # its '，' added
    assert poem_prompt("靜夜思", "床前明月光,") == "\n靜夜思:床前明月光，"
    assert poem_prompt("", "床前明月光") == "\n無題:床前明月光，"
    assert poem_prompt("靜夜思", "床前明月光，疑是地上霜") == "\n靜夜思:床前明月光，疑是地上霜。"
    with pytest.raises(PoetryError, match="title or a first line"):
        poem_prompt(" ")
    with pytest.raises(PoetryError, match="at most 30"):
        poem_prompt("長" * 31)
    with pytest.raises(PoetryError, match="first line"):
        poem_prompt("靜夜思", "床前明月光光")
    assert fit_prompt(list(range(100)), None) == list(range(100))
    assert fit_prompt(list(range(100)), 64) == list(range(100 - 39, 100))  # prompt + 25-char poem fit 64
    with pytest.raises(PoetryError, match="too short"):
        fit_prompt([1, 2], 20)


TITLES = {  # simplified -> the corpus's traditional form (OpenCC s2t)
    "春晓": "春曉",
    "静夜思": "靜夜思",
    "登鹳雀楼": "登鸛雀樓",
    "送别": "送別",
    "黄鹤楼送孟浩然之广陵": "黃鶴樓送孟浩然之廣陵",
    "江雪": "江雪",
}


def test_simplified_titles_round_trip(vocab):
    for simplified, traditional in TITLES.items():
        assert to_traditional(simplified) == traditional
        assert to_simplified(traditional) == simplified
        assert to_simplified(to_traditional(simplified)) == simplified
        assert all(c in vocab for c in to_traditional(simplified, vocab))  # every character known to the model


def test_unknown_converted_character_keeps_the_users_own():
    vocab = CharVocab.from_chars("黄鹤樓送孟浩然之廣陵\n")  # knows 黄 (the corpus's common form), not 黃
    assert to_traditional("黄鹤楼送孟浩然之广陵") == "黃鶴樓送孟浩然之廣陵"
    assert to_traditional("黄鹤楼送孟浩然之广陵", vocab) == "黄鹤樓送孟浩然之廣陵"


def test_problems_name_the_line_count_once():
    from charlm.poetry import check_form

    assert check_form("牀前明月光").problems()[0] == "the poem has 1 line, not 4"
    six = "牀前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。一二三四五，六七八九十。"
    problems = check_form(six).problems()
    assert problems == ["the poem has 6 lines, not 4"]
