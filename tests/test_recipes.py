"""Default recipes: the table's choice for a time budget, and how the CLI fills in only what the user left unset."""

from __future__ import annotations

import argparse

import pytest

from charlm.cli.train import add_parser, apply_recipe
from charlm.recipes import RECIPES, Recipe, choose_recipe, explain


@pytest.fixture(autouse=True)
def idle_machine(monkeypatch):
    """The recipe depends on how busy the CPU is; tests pin it to an idle machine (one test changes it)."""
    monkeypatch.setattr("charlm.device.cpu_share", lambda: 1.0)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["train", "--data", "x.txt", "--out", "runs/x", *argv])


def test_the_table_is_sorted_by_budget_and_names_its_measurement():
    assert RECIPES and [r.budget for r in RECIPES] == sorted(r.budget for r in RECIPES)
    for r in RECIPES:
        assert r.val_loss > 0 and "load" in r.measured


def test_choose_recipe_takes_the_row_measured_at_or_below_the_budget():
    rows = sorted(RECIPES, key=lambda r: r.budget)
    assert choose_recipe(rows[0].budget / 2) == rows[0]  # shorter than any row: the shortest
    for r in rows:
        assert choose_recipe(r.budget) == r
        assert choose_recipe(r.budget + 1).budget >= r.budget
    assert choose_recipe(10**6) == rows[-1]
    with pytest.raises(ValueError, match="positive"):
        choose_recipe(0)


def test_a_busy_machine_counts_only_its_share_of_the_budget(monkeypatch):
    rows = sorted(RECIPES, key=lambda r: r.budget)
    big = rows[-1].budget
    assert choose_recipe(big, cpu_share=0.01) == rows[0]  # 1% of a core: the budget buys the shortest row's steps
    assert choose_recipe(big, cpu_share=1.0) == rows[-1]
    monkeypatch.setattr("charlm.device.cpu_share", lambda: 0.01)
    args = parse("--time-budget", str(big))
    line = apply_recipe(args)
    assert args.arch == rows[0].arch and "busy" in line


def test_explain_says_what_and_why():
    r = choose_recipe(90)
    line = explain(r, 90)
    assert r.arch.upper() in line and f"{r.val_loss:.3f}" in line and "overridden" in line


def test_cli_time_budget_alone_takes_the_recipe():
    args = parse("--time-budget", "90")
    line = apply_recipe(args)
    r = choose_recipe(90)
    assert line == explain(r, 90)
    for key, value in r.settings().items():
        if key != "threads":  # threads come from the machine's load (charlm.device.pick_threads)
            assert getattr(args, key) == value


def test_cli_flags_override_the_recipe():
    r = choose_recipe(90)
    args = parse("--time-budget", "90", "--lr", "1e-3", "--batch-size", "7")
    line = apply_recipe(args)
    assert args.lr == 1e-3 and args.batch_size == 7 and args.weight_decay == r.weight_decay
    assert "your batch_size, lr kept" in line


def test_cli_without_a_budget_or_with_another_arch_keeps_the_old_defaults():
    args = parse("--max-steps", "10")
    assert apply_recipe(args) is None and (args.arch, args.size, args.lr) == ("gpt", "small", None)
    other = next(a for a in ("gpt", "lstm") if a != choose_recipe(90).arch)
    args = parse("--time-budget", "90", "--arch", other)
    assert apply_recipe(args) is None and args.arch == other and args.size == "small"
    assert apply_recipe(parse("--time-budget", "90", "--resume")) is None


def test_recipe_settings_are_training_settings_only():
    r = Recipe(30, "gru", "small", 64, 64, 2e-2, 0.2, 0.01, 50, 1, 1.8, "test, load 0")
    assert set(r.settings()) == {"arch", "size", "block_size", "batch_size", "lr", "weight_decay", "min_lr_ratio",
                                 "warmup_steps", "threads", "optimizer", "schedule", "warmdown",
                                 "average_last"}  # fmt: skip
    assert r.optimizer == "adamw"  # a row without one was measured with AdamW
    assert (r.schedule, r.average_last) == ("cosine", 0.0) and "WSD" not in r.describe()  # today's schedule
    from charlm.train import TrainConfig

    TrainConfig(**{k: v for k, v in r.settings().items() if k not in ("arch", "size", "block_size", "threads")})
    wsd = Recipe(30, "gru", "small", 64, 64, 2e-2, 0.2, 0.01, 50, 1, 1.8, "test", schedule="wsd", warmdown=0.3,
                 average_last=0.2)  # fmt: skip
    assert "warm-down over the last 30%" in wsd.describe() and "averaged over the last 20%" in wsd.describe()
    args = parse("--time-budget", "90")
    apply_recipe(args)
    r90 = choose_recipe(90)
    assert (args.schedule, args.warmdown, args.average_last) == (r90.schedule, r90.warmdown, r90.average_last)


def test_a_large_vocabulary_takes_its_own_recipe():
    """Chinese text (thousands of characters) gets the large-vocabulary row; Shakespeare's 65 the usual one."""
    from charlm.models.output import ADAPTIVE_MIN_VOCAB
    from charlm.recipes import LARGE_VOCAB_RECIPES

    for budget in (30, 120, 600):
        assert choose_recipe(budget, vocab_size=6258) in LARGE_VOCAB_RECIPES
        assert choose_recipe(budget, vocab_size=66) in RECIPES
        assert choose_recipe(budget, vocab_size=ADAPTIVE_MIN_VOCAB) in RECIPES  # the adaptive head's threshold
        assert choose_recipe(budget, vocab_size=ADAPTIVE_MIN_VOCAB + 1) in LARGE_VOCAB_RECIPES
    args = parse("--time-budget", "120")
    line = apply_recipe(args, vocab_size=6258)
    r = choose_recipe(120, vocab_size=6258)
    assert line == explain(r, 120) and r.corpus in line and args.batch_size == r.batch_size and args.lr == r.lr


def test_the_train_tab_shows_the_recipe_of_a_builtin_corpus():
    from charlm.corpora import POEMS, PYDOC
    from charlm.recipes import LARGE_VOCAB_RECIPES
    from charlm.ui.train_tab import _recipe_line

    poems, pydoc = _recipe_line("auto", 120, "builtin", POEMS, "en"), _recipe_line("auto", 120, "builtin", PYDOC, "en")
    assert LARGE_VOCAB_RECIPES[0].corpus in poems and "tinyshakespeare" in pydoc
    assert "秒" in _recipe_line("auto", 120, "builtin", POEMS, "zh-CN")


def test_the_recipes_optimizer_and_its_rate_come_together(monkeypatch):
    """A Muon recipe trains with Muon at its rate; asking for another optimizer keeps that optimizer's own measured
    rate (the recipe's is Muon's), and the other settings still come from the recipe."""
    from charlm.cli.train import train_config
    from charlm.optim import default_lr

    row = Recipe(90, "gru", "tiny", 64, 64, 5e-2, 0.2, 0.01, 50, 1, 1.6, "test, load 0", optimizer="muon")
    monkeypatch.setattr("charlm.recipes.RECIPES", (row,))
    args = parse("--time-budget", "90")
    assert "muon" in apply_recipe(args)
    cfg = train_config(args)
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay) == ("muon", 5e-2, 0.2)
    args = parse("--time-budget", "90", "--optimizer", "adamw")
    apply_recipe(args)
    cfg = train_config(args)
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, args.arch) == ("adamw", default_lr("adamw", "gru"), 0.2, "gru")
    args = parse("--max-steps", "5")  # no budget, no recipe: AdamW as before
    apply_recipe(args)
    assert train_config(args).optimizer == "adamw"


def test_the_train_tabs_auto_optimizer_is_the_recipes(monkeypatch):
    """The Train tab: optimizer "auto" with arch "auto" trains the recipe's optimizer at the recipe's rate; a chosen
    optimizer keeps its own default rate; a chosen architecture with optimizer "auto" gets AdamW, as before."""
    from charlm.ui.train_job import AUTO, recipe_for_form

    row = Recipe(90, "gru", "tiny", 64, 64, 5e-2, 0.2, 0.01, 50, 1, 1.6, "test, load 0", optimizer="muon")
    monkeypatch.setattr("charlm.recipes.RECIPES", (row,))
    form = dict(arch=AUTO, size=AUTO, time_budget=90, block_size=0, batch_size=0, lr=0, optimizer=AUTO)
    chosen, train, line = recipe_for_form(form, 66)
    assert (chosen["arch"], chosen["optimizer"], chosen["lr"], train["weight_decay"]) == ("gru", "muon", 5e-2, 0.2)
    assert "muon" in line
    chosen, _, _ = recipe_for_form(dict(form, optimizer="sgd"), 66)
    assert (chosen["optimizer"], chosen["lr"]) == ("sgd", None)  # sgd's measured default, not Muon's rate
    chosen, train, _ = recipe_for_form(dict(form, arch="gpt"), 66)
    assert (chosen["optimizer"], chosen["size"], train) == ("adamw", "tiny", {})


def test_a_recipes_schedule_and_averaging_reach_the_train_tab(monkeypatch):
    """A row with the WSD warm-down and weight averaging: the Train tab's auto trains them and says so (both
    languages)."""
    from charlm.ui.train_job import AUTO, recipe_for_form, recipe_line

    row = Recipe(90, "gru", "tiny", 64, 64, 5e-2, 0.2, 0.01, 50, 1, 1.6, "test, load 0", optimizer="muon",
                 schedule="wsd", warmdown=0.3, average_last=0.2)  # fmt: skip
    monkeypatch.setattr("charlm.recipes.RECIPES", (row,))
    form = dict(arch=AUTO, size=AUTO, time_budget=90, block_size=0, batch_size=0, lr=0, optimizer=AUTO)
    _, train, _ = recipe_for_form(form, 66)
    assert (train["schedule"], train["warmdown"], train["average_last"]) == ("wsd", 0.3, 0.2)
    assert "30%" in recipe_line(90, "en", share=1.0) and "WSD" in recipe_line(90, "en", share=1.0)
    zh = recipe_line(90, "zh-CN", share=1.0)
    assert "线性降到底" in zh and "权重平均" in zh
