"""Training recipes: what to train when the user gives only a time budget.

At a fixed wall-clock budget the choice of architecture, size, batch, learning rate and schedule matters far more
than anything else (docs/benchmarks.md: the same 90 seconds give 1.77 nats/char with the old defaults and 1.54
with the best recipe). ``RECIPES`` is the best measured recipe per budget on tinyshakespeare, written by
``bench/bench_recipes.py`` (re-run it on a new machine and paste its table here). ``choose_recipe`` picks the
row for a budget; every setting stays overridable (CLI flags, the Train tab's fields).
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

    def settings(self) -> dict:
        """The training settings (everything but the measurement)."""
        return {k: v for k, v in asdict(self).items() if k not in ("budget", "val_loss", "measured")}

    def describe(self) -> str:
        return (f"{self.arch.upper()} {self.size}, block {self.block_size}, batch {self.batch_size}, lr {self.lr:g}, "
                f"weight decay {self.weight_decay:g}, min-lr-ratio {self.min_lr_ratio:g}, warm-up "
                f"{self.warmup_steps}, {self.threads} thread(s)")  # fmt: skip


# Written by bench/bench_recipes.py (the best candidate per budget; the command and every candidate's score are in
# docs/benchmarks.md, "Default recipes").
RECIPES: tuple[Recipe, ...] = ()


def choose_recipe(budget: float) -> Recipe:
    """The recipe for a time budget: the row with the largest measured budget not above it (the smallest row
    for shorter budgets), i.e. the recipe that measured best for that much time or a little less."""
    if budget <= 0:
        raise ValueError(f"the time budget must be positive, not {budget}")
    rows = sorted(RECIPES, key=lambda r: r.budget)
    fitting = [r for r in rows if r.budget <= budget]
    return fitting[-1] if fitting else rows[0]


def explain(recipe: Recipe, budget: float) -> str:
    """Which recipe was chosen and why, in one line (the CLI prints it; the Train tab shows it)."""
    return (f"recipe for {budget:g} s: {recipe.describe()} — the best measured for a {recipe.budget:g}-s budget "
            f"({recipe.val_loss:.3f} nats/char on tinyshakespeare, {recipe.measured}); every setting can be "
            "overridden")  # fmt: skip


__all__ = ["Recipe", "RECIPES", "choose_recipe", "explain"]
