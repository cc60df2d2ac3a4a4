"""Training recipes: what to train when the user gives only a time budget.

At a fixed wall-clock budget the choice of architecture, size, batch, learning rate and schedule matters far more
than anything else (docs/benchmarks.md: the same 90 seconds give 1.77 nats/char with the old defaults and 1.54
with the best recipe). ``RECIPES`` is the best measured recipe per budget on tinyshakespeare, written by
``bench/bench_recipes.py`` (re-run it on a new machine and paste its table here). ``choose_recipe`` picks the
row for a budget; every setting stays overridable (CLI flags, the Train tab's fields).

A large vocabulary (Chinese: the built-in poems have 6,258 characters) needs other settings: ``LARGE_VOCAB_RECIPES``,
chosen when the training text has more characters than ``charlm.models.output.ADAPTIVE_MIN_VOCAB`` (the models then
get the adaptive output layer, started at the text's unigram distribution).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Recipe:
    budget: float  # seconds of training this row was measured at (used for budgets from here to the next row)
    arch: str
    size: str  # preset in charlm.models.PRESETS
    block_size: int
    batch_size: int
    lr: float
    weight_decay: float
    min_lr_ratio: float  # where the cosine ends, as a share of the peak rate
    warmup_steps: int
    threads: int  # torch threads it was measured with (1: the machine's other core was busy)
    val_loss: float  # nats/char on tinyshakespeare's whole validation split after ``budget`` seconds
    measured: str  # when and under what load
    corpus: str = "tinyshakespeare"  # the text it was measured on (a file in ../shared/data)
    optimizer: str = "adamw"  # charlm.optim; ``lr`` is this optimizer's rate
    schedule: str = "cosine"  # charlm.train.lr_at: cosine, or wsd (constant, then linear over the last ``warmdown``)
    warmdown: float = 0.2
    average_last: float = 0.0  # evaluate/save the average of the weights over this last share of the run (0: off)

    def settings(self) -> dict:
        """The training settings (everything but the measurement)."""
        return {k: v for k, v in asdict(self).items() if k not in ("budget", "val_loss", "measured", "corpus")}

    def describe(self) -> str:
        return (f"{self.arch.upper()} {self.size}, {self.optimizer}, block {self.block_size}, batch {self.batch_size}, "
                f"lr {self.lr:g}, "
                f"weight decay {self.weight_decay:g}, min-lr-ratio {self.min_lr_ratio:g}, warm-up "
                f"{self.warmup_steps}{self.describe_schedule()}, {self.threads} thread(s)")  # fmt: skip

    def describe_schedule(self) -> str:
        """The WSD warm-down and the weight averaging, when the row uses them ("" for today's cosine, no average)."""
        wsd = f", WSD schedule (linear warm-down over the last {self.warmdown:.0%})" if self.schedule == "wsd" else ""
        avg = f", weights averaged over the last {self.average_last:.0%} of the run" if self.average_last else ""
        return wsd + avg


# The best candidate per budget, from bench/bench_recipes.py on this project's 2-core AVX2 machine, 1 thread
# (docs/benchmarks.md, "Default recipes", has every candidate's score and the commands). Issue 20 ("Muon and the GPT
# switches"): the same GRU with Muon beat it side by side at 30 s (2.023 vs 2.314) and 90 s (1.640 vs 1.705), both at
# load 6-9, where each run gets a fraction of a core (the AdamW rows they replace, from earlier runs: 1.9081 at load
# ~7, 1.6005 at load ~2). The large-vocabulary row keeps AdamW: Muon was not measured on the poems.
# fmt: off
RECIPES: tuple[Recipe, ...] = (
    Recipe(30, "gru", "tiny", 64, 64, 5e-2, 0.2, 0.01, 50, 1, 2.0230, "2026-12-04, bench_recipes, load 8.9-8.2",
           optimizer="muon"),
    Recipe(90, "gru", "tiny", 64, 64, 5e-2, 0.2, 0.01, 50, 1, 1.6396, "2026-12-04, bench_recipes, load 6.3-7.2",
           optimizer="muon"),
    Recipe(300, "gru", "small", 64, 64, 2e-2, 0.2, 0.01, 50, 1, 1.4946, "2026-11-29, bench_recipes, load 2.6-3.8"),
)
# fmt: on


# Large vocabularies (docs/benchmarks.md, "Large vocabularies": research runs, then ``python -m charlm train --data
# wujue_poems_zh.txt --time-budget 120 --threads 1``, which trains this row: unigram baseline 6.464). The
# Shakespeare recipe scores 6.55-6.60 nats/char on the poems in 2 minutes, worse than the unigram (6.464): its 50
# warm-up steps are half of a short run when a step costs more, and its rate is too high for the recurrent state
# of a 6k-way problem. Smaller batches (more steps) and a lower peak rate beat it by 1.4 nats.
LARGE_VOCAB_RECIPES: tuple[Recipe, ...] = (
    Recipe(120, "gru", "small", 64, 32, 1e-2, 0.1, 0.1, 20, 1, 5.134, "2026-11-29, load 2.5", "wujue_poems_zh"),
)

BUSY_BELOW = 0.8  # a smaller share of a core than this scales the budget down (see choose_recipe)


def choose_recipe(budget: float, cpu_share: float = 1.0, vocab_size: int | None = None) -> Recipe:
    """The recipe for a time budget: the row with the largest measured budget not above it (the smallest row
    for shorter budgets), i.e. the recipe that measured best for that much time or a little less.

    ``cpu_share`` (0-1]: the part of a core this run will get (``charlm.device.cpu_share``). On a busy machine a
    budget buys fewer steps, and fewer steps favour a smaller model (measured: 30 s at load 8 on 2 cores, GRU tiny
    1.91 nats/char vs GRU small 2.92), so the budget counts for its share only. A share of 0.8 or more counts as
    a whole core: the load average moves that much from one second to the next.

    ``vocab_size`` (the training text's, when known): above ``ADAPTIVE_MIN_VOCAB`` the large-vocabulary rows.
    """
    if budget <= 0:
        raise ValueError(f"the time budget must be positive, not {budget}")
    effective = budget * (1.0 if cpu_share >= BUSY_BELOW else max(cpu_share, 1e-3))
    rows = sorted(LARGE_VOCAB_RECIPES if large_vocab(vocab_size) else RECIPES, key=lambda r: r.budget)
    fitting = [r for r in rows if r.budget <= effective]
    return fitting[-1] if fitting else rows[0]


def large_vocab(vocab_size: int | None) -> bool:
    """Whether a text's vocabulary takes the large-vocabulary recipes (the same threshold as the adaptive head)."""
    from charlm.models.output import use_adaptive

    return vocab_size is not None and use_adaptive(vocab_size)


def explain(recipe: Recipe, budget: float, cpu_share: float = 1.0) -> str:
    """Which recipe was chosen and why, in one line (the CLI prints it; the Train tab can show it)."""
    busy = f"; the CPU is busy (this run gets ~{cpu_share:.0%} of a core)" if cpu_share < BUSY_BELOW else ""
    return (f"recipe for {budget:g} s{busy}: {recipe.describe()} — the best measured for a {recipe.budget:g}-s "
            f"budget ({recipe.val_loss:.3f} nats/char on {recipe.corpus}, {recipe.measured}); every setting can "
            "be overridden")  # fmt: skip


__all__ = ["Recipe", "RECIPES", "LARGE_VOCAB_RECIPES", "choose_recipe", "explain", "large_vocab"]
