"""The Evaluate tab over its API: same numbers as the CLI and the core, for English and Chinese sets."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import pytest  # noqa: E402

gr = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402

from charlm.cli import main  # noqa: E402
from charlm.evaluation import SCORE_KEYS  # noqa: E402
from charlm.ui.evaluate_tab import build_evaluate_tab  # noqa: E402
from tests.helpers import launch  # noqa: E402

pytestmark = pytest.mark.app
DATA = Path(__file__).parent / "data" / "metrics"


def _tiny_model(folder: Path):
    """A random tiny GPT through the real checkpoint code."""
    import torch

    from charlm.models import build_model, preset_config
    from charlm.storage.checkpoint import load_checkpoint, save_checkpoint
    from charlm.vocab import CharVocab

    torch.manual_seed(0)
    vocab = CharVocab.from_chars(sorted(set("The cat sat on the mat. 今天天气很好。")))
    config = preset_config("gpt", "tiny", vocab.size)
    save_checkpoint(folder / "tiny", build_model(config), vocab, config, name="tiny")
    return load_checkpoint(folder / "tiny")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from charlm.ui.limits import Limits
    from charlm.ui.registry import ModelRegistry

    folder = tmp_path_factory.mktemp("ckpt")
    _tiny_model(folder)  # the registry serves it as a shipped model, exactly as the app does
    registry = ModelRegistry(folder, Limits(), root=tmp_path_factory.mktemp("store"))
    with gr.Blocks() as demo:
        picker = gr.Dropdown(["tiny"], value="tiny", label="model")
        build_evaluate_tab(picker, registry)
    url = launch(demo)
    c = Client(url, verbose=False)
    yield c
    c.close()
    demo.close()


def _cli(capsys, name: str) -> dict:
    args = ["eval", "--hyp", str(DATA / f"{name}.hyp.txt"), "--ref", str(DATA / f"{name}.ref.txt"), "--json"]
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def _check_same(result, cli: dict) -> None:
    summary, examples, chart, csv_path, json_path, notes, matches = result
    report = json.loads(Path(json_path).read_text(encoding="utf-8"))
    assert {k: report[k] for k in (*SCORE_KEYS, "n_segments", "tokenize", "signatures")} == cli  # signatures here
    rows = {r[0]: r for r in summary["data"]}
    assert summary["headers"] == ["metric", "score", "tokenizer"]  # not in the table: noise for a learner
    for key in SCORE_KEYS:
        assert rows[key][1] == round(cli[key], 2)
        assert rows[key][2] == cli["tokenize"]
    assert len(examples["data"]) == cli["n_segments"]
    assert Path(csv_path).read_text(encoding="utf-8").startswith("line,hypothesis,reference,bleu")
    assert f"tokenizer `{cli['tokenize']}`" in notes and "PRECISION" in notes


def test_api_name(client):
    assert "/evaluate" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]


@pytest.mark.parametrize("name", ["en", "zh"])
def test_pasted_text_equals_cli(client, capsys, name):
    hyp = (DATA / f"{name}.hyp.txt").read_text(encoding="utf-8")
    ref = (DATA / f"{name}.ref.txt").read_text(encoding="utf-8")
    result = client.predict(hyp, ref, None, "auto", api_name="/evaluate")
    _check_same(result, _cli(capsys, name))


def test_uploaded_files_equal_cli(client, capsys):
    files = [handle_file(str(DATA / "zh.hyp.txt")), handle_file(str(DATA / "zh.ref.txt"))]
    result = client.predict("", "", files, "auto", api_name="/evaluate")
    _check_same(result, _cli(capsys, "zh"))


def test_worst_examples_first_and_multi_reference_sets(client):
    hyp = "The cat sat on the mat.\nxyz\n"
    ref = "The cat is sitting on the mat.\nIt rains.\n---\nA cat sat on the mat.\nabc\n"
    summary, examples, _, _, json_path, _, matches = client.predict(hyp, ref, None, "auto", api_name="/evaluate")
    assert examples["data"][0][1] == "xyz"
    assert "nrefs:2" in json.loads(Path(json_path).read_text(encoding="utf-8"))["signatures"]["bleu"]
    marked = {(m["token"], m["class_or_confidence"]) for m in matches}
    assert ("sat", "4") in marked  # "A cat sat on" is in the second reference set: matches count every reference


def test_matched_ngrams_and_chinese_headers_and_the_chrf_note(client):
    zh = Client(client.src, verbose=False, headers={"Accept-Language": "zh-CN"})
    summary, examples, chart, _, _, notes, matches = zh.predict("今天天气很好。", "今天的天气非常好。", None, "auto",
                                                               api_name="/evaluate")  # fmt: skip
    zh.close()
    assert summary["headers"] == ["指标", "分数", "分词器"]
    assert examples["headers"][:3] == ["行", "输出", "参考"] and "chrF" in examples["headers"]
    assert "完全匹配" in {row[0] for row in chart["data"]} and "为什么这里 chrF" in notes
    marks = [(m["token"], m["class_or_confidence"]) for m in matches]
    assert ("今天天气", "2") in marks and ("很", None) in marks  # 今天 and 天气 are in the reference, 很 is not


def test_count_mismatch_is_a_clear_error(client):
    with pytest.raises(Exception, match="2 hypothesis lines but 1 lines in reference set 1"):
        client.predict("a\nb", "a", None, "auto", api_name="/evaluate")


def test_model_based_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    if "/score_model" not in endpoints:
        pytest.skip("LM core (charlm.storage.checkpoint) not available")
    table = client.predict("tiny", "The cat sat on the mat.", api_name="/score_model")
    assert table["headers"][:2] == ["bpc", "perplexity"] and table["data"][0][0] > 0
    args = ("tiny", "The cat\n今天", "The cat sat on the mat.\n今天天气很好。", 10, 1.0, 3, "auto")
    first = client.predict(*args, api_name="/generate_and_score")
    second = client.predict(*args, api_name="/generate_and_score")
    assert first[0] == second[0] and len(first[1]["data"]) == 2
