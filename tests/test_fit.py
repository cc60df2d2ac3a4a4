"""Reading a run's loss curves (issue 21): which step was kept, whether the run overfitted, the plot's frames, the
names and words the Train tab shows. Real training for the overfitting case (a few dozen steps of a tiny GPT)."""

from __future__ import annotations

import math
import random

import pytest

from charlm.fit import diagnose, text_too_short

LN2 = math.log(2)


def rows(train: list[tuple[int, float]], val: list[tuple[int, float]]) -> list[dict]:
    """Loss rows in nats, as the trainer logs them, from (step, bits/char) pairs."""
    return ([{"step": s, "loss": b * LN2, "split": "train"} for s, b in train]
            + [{"step": s, "loss": b * LN2, "split": "validation"} for s, b in val])  # fmt: skip


def test_validation_rising_while_training_falls_is_overfitting():
    train = [(s, 4.0 - 0.1 * s) for s in range(1, 31)]
    fit = diagnose(rows(train, [(10, 3.0), (20, 3.4), (30, 3.9)]))
    assert fit.best_step == 10 and fit.last_step == 30 and fit.kept_early and fit.overfitting
    assert math.isclose(fit.best_val_bpc, 3.0) and math.isclose(fit.last_val_bpc, 3.9)
    assert fit.train_bpc_last < fit.train_bpc_at_best


def test_a_run_still_improving_or_merely_noisy_is_not_overfitting():
    train = [(s, 4.0 - 0.1 * s) for s in range(1, 31)]
    assert not diagnose(rows(train, [(10, 3.5), (20, 3.2), (30, 3.0)])).overfitting  # best at the end
    noisy = diagnose(rows(train, [(10, 3.0), (20, 2.99), (30, 3.01)]))  # 0.3 % above its best: noise
    assert noisy.kept_early and not noisy.overfitting
    flat = [(s, 2.0) for s in range(1, 31)]  # training loss flat too: not learning the text by heart
    assert not diagnose(rows(flat, [(10, 3.0), (20, 3.5), (30, 3.9)])).overfitting
    assert diagnose(rows(train, [])) is None


def test_too_short_a_text_is_fewer_characters_than_parameters():
    assert text_too_short(2_721, 78_308) and not text_too_short(1_000_000, 78_308)


def test_a_tiny_gpt_on_a_repeated_sentence_overfits_and_is_diagnosed(tmp_path):
    """The browser test's text, trained for real: validation is best early, then rises while training falls."""
    from charlm.data import build_corpus
    from charlm.models import config_parameters, preset_config
    from charlm.train import TrainConfig, train

    rnd = random.Random(1)
    text = "the cat sat on the mat. " * 110 + "".join(rnd.choice("the cat sat on mat.") for _ in range(290))
    corpus = build_corpus(text, name="cat")
    mcfg = preset_config("gpt", "tiny", corpus.vocab.size)
    out = []
    cfg = TrainConfig(max_steps=40, eval_interval=5, lr=3e-3, batch_size=16, warmup_steps=5, save_every=None, seed=1)
    for ev in train(corpus, mcfg, cfg, tmp_path / "run"):
        if ev.kind == "step":
            out.append({"step": ev.step, "loss": ev.loss, "split": "train"})
        elif ev.kind == "eval":
            out.append({"step": ev.step, "loss": ev.val_loss, "split": "validation"})
    fit = diagnose(out)
    assert fit.overfitting and fit.best_step < 40 == fit.last_step
    assert text_too_short(corpus.n_chars, config_parameters(mcfg))


def test_the_loss_plot_has_both_series_from_its_first_frame_in_bits():
    pytest.importorskip("gradio")
    from charlm.ui.train_job import plot_frame

    empty = plot_frame([])  # the browser's plot fixes its legend from its first data: both series are in it
    assert list(empty.columns) == ["step", "bits/char", "split"] and set(empty["split"]) == {"train", "validation"}
    frame = plot_frame([{"step": 1, "loss": LN2 * 3, "split": "train"}], "zh-CN")
    assert set(frame["split"]) == {"训练集", "验证集"}
    assert math.isclose(frame[frame["split"] == "训练集"]["bits/char"].iloc[0], 3.0)


def test_compare_names_every_run_in_its_first_frame():
    pytest.importorskip("gradio")
    from types import SimpleNamespace

    from charlm.ui.experiments import _curve_frame

    runs = [SimpleNamespace(label="gpt/adamw", curve=[(1.0, 3.2)]), SimpleNamespace(label="lstm/adamw", curve=[])]
    first = _curve_frame(runs, first=True)
    assert set(first["color_map"]) == {"gpt/adamw", "lstm/adamw"}
    assert set(first["value"]["run"]) == {"gpt/adamw", "lstm/adamw"}
    assert set(_curve_frame(runs)["run"]) == {"gpt/adamw", "lstm/adamw"}


def test_new_models_get_short_readable_names():
    pytest.importorskip("gradio")
    from charlm.ui.train_job import default_model_name

    assert default_model_name("五言绝句 Chinese quatrains (17,000 poems)", "gru", "tiny") == "五言绝句-gru-tiny"
    assert default_model_name("Python documentation (pydoc_data)", "gpt", "small") == "Python-documentation-gpt-small"
    assert default_model_name("verses.txt", "lstm", "tiny") == "verses-lstm-tiny"


def test_the_recipe_line_is_plain_words_with_the_details_folded():
    pytest.importorskip("gradio")
    from charlm.ui.train_job import recipe_plain

    line = recipe_plain(120, "en", share=1.0)
    plain, _, details = line.partition("<details>")
    assert "bits/char" in plain and "min-lr-ratio" not in plain and "nats" not in plain
    assert "min-lr-ratio" in details  # every setting is still there, one click away
    assert "比特/字符" in recipe_plain(120, "zh-CN", share=1.0).partition("<details>")[0]
