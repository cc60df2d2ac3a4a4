"""The translation tables: every key in both languages, every error message of the code translated, and the
pieces that turn the core's English into Chinese (message templates, the Backprop picture, the language of a
request). Fast: no server, no browser (those are tests/test_browser_i18n.py and tests/test_app_i18n.py)."""

from __future__ import annotations

import ast
import json
import re
import string
from pathlib import Path

import pytest

pytest.importorskip("gradio")

from charlm.ui import i18n  # noqa: E402
from charlm.ui.messages import MessageTable, extract_templates, has_text, placeholders  # noqa: E402

LOCALES = Path(i18n.__file__).with_name("locales")
UI = Path(i18n.__file__).parent
EN = json.loads((LOCALES / "en.json").read_text(encoding="utf-8"))
ZH = json.loads((LOCALES / "zh-CN.json").read_text(encoding="utf-8"))
MESSAGES = json.loads((LOCALES / "messages.zh-CN.json").read_text(encoding="utf-8"))
# Keys whose Chinese is rightly the same text as the English (names of things, symbols).
SAME_IN_BOTH = {"chat.top_k", "chat.top_p", "insp.att.hover"}
NO_HAN = SAME_IN_BOTH | {"eval.notes.joiner", "bp.preset.XOR (tanh)"}  # "；", "XOR（tanh）"
HAN = re.compile(r"[\u4e00-\u9fff]")


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# --- the UI tables -------------------------------------------------------------------------------------------------
def test_every_key_exists_in_both_languages_and_none_is_empty():
    assert sorted(set(EN) - set(ZH)) == [], "keys missing in zh-CN.json"
    assert sorted(set(ZH) - set(EN)) == [], "keys missing in en.json"
    assert [k for k, v in {**EN, **ZH}.items() if not v.strip()] == []


def test_translations_keep_their_placeholders_and_are_chinese():
    assert [k for k in EN if fields(EN[k]) != fields(ZH[k])] == []
    untranslated = [k for k in EN if k not in SAME_IN_BOTH and ZH[k] == EN[k] and not k.startswith("corpus.")]
    assert untranslated == []
    no_chinese = [k for k in ZH if k not in NO_HAN and not HAN.search(ZH[k])]
    assert no_chinese == []


def _keys_in_code() -> set[str]:
    """Every constant key passed to t / t_or / text / tr / text_or / late_label / choices in charlm/ui."""
    position = {"t": 0, "t_or": 0, "text": 1, "tr": 1, "text_or": 1, "late_label": 1}
    keys: set[str] = set()
    for path in UI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            name, args = node.func.id, node.args
            if name in position and len(args) > position[name] and isinstance(args[position[name]], ast.Constant):
                keys.add(args[position[name]].value)
            elif name == "choices" and args and isinstance(args[0], ast.List):
                keys |= {pair.elts[0].value for pair in args[0].elts if isinstance(pair, ast.Tuple)}
    return keys


def test_every_key_the_code_uses_is_in_the_tables():
    used = _keys_in_code()
    assert len(used) > 200
    assert sorted(used - set(EN)) == []


def test_keys_made_from_names_cover_every_name():
    """Keys built at run time (f"bp.title.{phase}") exist for every value the code can produce."""
    from charlm.backprop.presets import PRESETS
    from charlm.corpora import BUILTIN
    from charlm.evaluation import EXPLANATIONS
    from charlm.inspection import CLASSES

    names = [f"bp.title.{p}" for p in ("input", "forward", "loss", "backward", "update")]
    names += [f"bp.phase.{p}" for p in ("input", "forward", "loss", "backward", "update")]
    names += [f"bp.preset.{p}" for p in PRESETS] + [f"bp.note.{p}" for p in PRESETS]
    names += [f"eval.explain.{k}" for k in EXPLANATIONS] + [f"insp.class.{c}" for c in CLASSES]
    names += [f"corpus.{c}" for c in BUILTIN] + [f"card.kind.{k}" for k in ("shipped", "trained", "uploaded")]
    names += [f"train.reason.{r}" for r in ("done", "time budget", "stopped")]
    names += [f"insp.col.{c}" for c in ("position", "char", "prob", "bits", "model_expected", "unit", "feature",
                                         "correlation", "neighbour", "cosine")]  # fmt: skip
    assert [n for n in names if n not in EN] == []


def test_english_texts_copied_from_the_core_are_current():
    """The English of texts the core owns is the core's own: a change there must reach the translation too."""
    from charlm.backprop.presets import PRESETS
    from charlm.backprop.svg import LEGEND
    from charlm.evaluation import EXPLANATIONS
    from charlm.recipes import choose_recipe, explain
    from charlm.ui.train_job import recipe_line

    assert {k: EN[f"eval.explain.{k}"] for k in EXPLANATIONS} == EXPLANATIONS
    assert {p: EN[f"bp.note.{p}"] for p in PRESETS} == {p: d["note"] for p, d in PRESETS.items()}
    assert EN["bp.legend"] == LEGEND
    for budget, share in ((30, 1.0), (90, 1.0), (300, 0.3)):
        assert recipe_line(budget, "en", share) == explain(choose_recipe(budget, share), budget, share)
        assert "秒" in recipe_line(budget, "zh-CN", share)


def test_traditional_table_is_made_from_the_simplified_one():
    tw = i18n.TABLES["zh-TW"]
    assert set(ZH) <= set(tw)
    assert tw["chat.tab"] == "對話" and tw["train.batch"] == "批次大小"
    assert "參數" in tw["card.head"] and "循環神經網路" in tw["train.arch.info"]  # not 引數 / 迴圈 (TW_FIXES)


# --- error messages ------------------------------------------------------------------------------------------------
def test_every_error_message_in_the_code_has_a_translation():
    """A new ``raise CharlmError(f"...")`` needs its line in messages.zh-CN.json (python -m charlm.ui.messages)."""
    templates = extract_templates()
    assert len(templates) > 150
    missing = {t: where for t, where in templates.items() if not MESSAGES.get(t, "").strip()}
    assert missing == {}, "untranslated messages (add them to charlm/ui/locales/messages.zh-CN.json)"


def test_message_translations_are_current_and_keep_their_placeholders():
    templates = extract_templates()
    assert sorted(set(MESSAGES) - set(templates)) == [], "translations of messages no longer in the code"
    assert [t for t, zh in MESSAGES.items() if sorted(placeholders(t)) != sorted(placeholders(zh))] == []
    assert [t for t, zh in MESSAGES.items() if not HAN.search(zh)] == []


def test_templates_are_read_from_raise_sites_with_their_placeholders(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "errors.py").write_text("class CharlmError(Exception): ...\nclass DataError(CharlmError): ...\n")
    (pkg / "m.py").write_text(
        "def f(name, n, what, problems):\n"
        "    problems.append(f'{name} is odd')\n"
        "    if n:\n"
        "        raise DataError(f'{name} has {n:,} lines' + ('' if what else '; too many'))\n"
        "    raise ValueError('a {literal} brace')\n"
        "    raise DataError(str(n))\n"
        "    raise KeyError(f'not shown {name}')\n"
    )
    assert list(extract_templates(pkg)) == [
        "a {{literal}} brace", "{name} has {n:,} lines", "{name} has {n:,} lines; too many", "{name} is odd",
    ]  # fmt: skip
    assert not has_text("{exc}") and has_text("{exc}: bad")


def test_message_table_fills_in_the_values():
    table = MessageTable({
        "{name} is empty": "{name} 是空的",
        "{a}: {b}": "{a}：{b}",
        "no such file: {p.name}": "文件不存在：{p.name}",
        "{where} has an invalid model: {exc}": "{where} 中的模型无效：{exc}",
        "dropout must be in [0, 1), not {d!r}": "dropout 必须在 [0, 1) 之间，而不是 {d!r}",
        "a {{x}} b {n}": "甲 {{x}} 乙 {n}",
    }, "；", {"the box": "输入框"})  # fmt: skip
    assert table.render("notes.txt is empty") == "notes.txt 是空的"
    assert table.render("the box is empty") == "输入框是空的"  # a name the table knows, no space between Chinese
    assert table.render("no such file: notes.txt") == "文件不存在：notes.txt"  # the more specific template wins
    assert table.render("cfg has an invalid model: x is empty") == "cfg 中的模型无效：x 是空的"  # nested
    two = table.render("a is empty; dropout must be in [0, 1), not 2")  # two problems joined
    assert two == "a 是空的；dropout 必须在 [0, 1) 之间，而不是 2"
    assert table.render("a {x} b 3") == "甲 {x} 乙 3"
    assert table.render("something else") == "something else"


@pytest.mark.parametrize("lang", ["zh-CN", "zh-TW"])
def test_real_errors_come_out_in_chinese(lang):
    from charlm.errors import CharlmError
    from charlm.ui.train_job import check_train_form

    with pytest.raises(CharlmError) as exc:
        check_train_form({"time_budget": 5000, "max_steps": 0}, 900)
    zh = i18n.tr_error(lang, str(exc.value))
    assert zh.startswith("时间预算" if lang == "zh-CN" else "時間預算") and "900" in zh
    assert i18n.tr_error("en", str(exc.value)) == str(exc.value)


# --- the language of a request ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header,lang",
    [
        ("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("zh-SG", "zh-CN"), ("zh-Hans-CN", "zh-CN"),
        ("zh-TW", "zh-TW"), ("zh-HK", "zh-TW"), ("zh-Hant", "zh-TW"), ("zh-hant-tw", "zh-TW"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("en-US,en;q=0.9,zh-CN;q=0.8", "en"), ("en;q=0.5,zh-TW", "zh-TW"),
        ("fr-FR", "en"), ("", "en"), (None, "en"), ("*", "en"),
    ],
)  # fmt: skip
def test_language_from_accept_language(header, lang):
    assert i18n.lang_from_header(header) == lang


def test_text_fills_fields_and_falls_back_to_english():
    assert i18n.ui_text("zh-CN", "common.seconds", n=5) == "5 秒"
    assert i18n.ui_text("fr", "common.seconds", n=5) == "5 s"
    with pytest.raises(KeyError):
        i18n.ui_text("en", "no.such.key")
    key = i18n.t("common.seconds", n=7).key  # a key of its own, in every language
    assert [i18n.TABLES[lang][key] for lang in ("en", "zh-CN", "zh-TW")] == ["7 s", "7 秒", "7 秒"]


# --- the Backprop picture and equations ------------------------------------------------------------------------------
ENGLISH_WORDS = re.compile(r"\b(step|of|input|layer|forward|backward|update|loss|inactive|blue|value|more|Step|Input|"
                           r"Forward|Backward|Loss|SGD update)\b")  # fmt: skip


@pytest.mark.parametrize("name", ["textbook (corrected)", "XOR (tanh)", "dead ReLU", "softmax (2 classes)"])
def test_backprop_picture_and_equations_in_chinese(name):
    from charlm.backprop import parse_spec, step
    from charlm.backprop.presets import preset
    from charlm.backprop.svg import render_svg
    from charlm.backprop.trace import build_trace
    from charlm.ui.backprop_i18n import equations_html, svg_labels

    spec = parse_spec(json.dumps(preset(name)))
    r = step(spec)
    steps = build_trace(r)
    for k, st in enumerate(steps):
        svg = render_svg(r, k, svg_labels("zh-CN"))
        words = [m for t in re.findall(r"<text [^>]*>([^<]*)</text>|<title>([^<]*)</title>", svg) for m in t if m]
        left = [w for w in words if ENGLISH_WORDS.search(w.replace(spec.loss, ""))]
        assert left == [], f"English left in step {k}"
        eq = equations_html(st, spec, "zh-CN")
        assert f"第 {k} 步" in eq and not ENGLISH_WORDS.search(re.sub(r"<[^>]+>|" + spec.loss, "", eq))
        assert render_svg(r, k, svg_labels("en")) == render_svg(r, k)
