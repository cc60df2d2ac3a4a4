"""Ready-made networks for the Backprop tab and CLI, starting with the textbook example, corrected.

The textbook's example has x = [1, 2, 3] but a 2×2 hidden weight matrix, which cannot multiply a 3-vector.
We keep every number it gives and complete W_h with a third column [0.3, 0.5]: each row continues its own
+0.1 step (0.1, 0.2 → 0.3 and 0.3, 0.4 → 0.5). Any completion with c₁ > −1/3 and c₂ > −17/30 keeps both
ReLUs active; ours gives round numbers that can be checked by hand:

    z_h = [0.1·1 + 0.2·2 + 0.3·3 + 0.5, 0.3·1 + 0.4·2 + 0.5·3 + 0.6] = [1.9, 3.2] = a_h   (both ReLUs active)
    ŷ = 0.7·1.9 + 0.8·3.2 + 0.9 = 4.79,   L = ½ (4.79 − 2)² = 3.89205
    δ_o = ŷ − y = 2.79,   ∂L/∂W_o = 2.79·[1.9, 3.2] = [5.301, 8.928],   ∂L/∂b_o = 2.79
    δ_h = W_oᵀ δ_o ⊙ relu′(z_h) = [0.7·2.79, 0.8·2.79] = [1.953, 2.232]
    ∂L/∂W_h = δ_h xᵀ = [[1.953, 3.906, 5.859], [2.232, 4.464, 6.696]],   ∂L/∂b_h = [1.953, 2.232]
    W_h ← [[−0.0953, −0.1906, −0.2859], [0.0768, −0.0464, −0.1696]],   b_h ← [0.3047, 0.3768]
    W_o ← [0.1699, −0.0928],   b_o ← 0.621
    after the step: z_h = [−1.0295, −0.148] (both ReLUs now inactive), ŷ = 0.621, L = 0.9508205
"""

from __future__ import annotations

from charlm.errors import SpecError

TEXTBOOK_NOTE = """\
### The textbook example, corrected

**What the original got wrong**

1. **Shape.** The input x = [1, 2, 3] has 3 numbers, but the book's hidden weights
   W_h = [[0.1, 0.2], [0.3, 0.4]] are 2×2. A 2×2 matrix cannot multiply a 3-vector, so z_h = W_h x + b_h is
   undefined and every number computed from it is wrong. W_h must be 2×3 ([out, in]).
   We keep all the book's numbers and add the third column **[0.3, 0.5]**: each row continues its own
   +0.1 step (0.1, 0.2 → 0.3 and 0.3, 0.4 → 0.5).
2. **Dead ReLU.** The book says a hidden unit is "dead". None is: every input, weight and bias in the
   hidden layer is positive, so z_h = [1.9, 3.2] > 0 for any completion with a non-negative third column.
   Both ReLUs pass their gradient (relu′ = 1) and all six hidden weights move.
   (See the *dead ReLU* preset for what a really dead unit looks like.)

**Correct numbers** (half squared error, α = 0.1, y = 2):

| quantity | value |
|---|---|
| z_h = a_h | [1.9, 3.2] |
| ŷ | 0.7·1.9 + 0.8·3.2 + 0.9 = 4.79 |
| L | ½ (4.79 − 2)² = 3.89205 |
| δ_o | 2.79 |
| ∂L/∂W_o, ∂L/∂b_o | [5.301, 8.928], 2.79 |
| δ_h | [1.953, 2.232] |
| ∂L/∂W_h | [[1.953, 3.906, 5.859], [2.232, 4.464, 6.696]] |
| W_h after | [[−0.0953, −0.1906, −0.2859], [0.0768, −0.0464, −0.1696]] |
| b_h after, W_o after, b_o after | [0.3047, 0.3768], [0.1699, −0.0928], 0.621 |

**After the update** the step has overshot: z_h = [−1.0295, −0.148], so *now* both ReLUs are inactive,
ŷ = b_o = 0.621 and L = 0.9508205. With α = 0.1 this example kills its hidden layer in one step: a dead
ReLU appears only *after* the update, never in the book's forward pass. Try α = 0.01 and compare.
"""

PRESETS: dict[str, dict] = {
    "textbook (corrected)": {
        "name": "textbook (corrected)",
        "layers": [3, 2, 1],
        "activations": ["relu", "linear"],
        "weights": [[[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]], [[0.7, 0.8]]],
        "biases": [[0.5, 0.6], [0.9]],
        "input": [1.0, 2.0, 3.0],
        "target": [2.0],
        "loss": "half_sse",
        "lr": 0.1,
        "note": TEXTBOOK_NOTE,
    },
    "XOR (tanh)": {
        "name": "XOR (tanh)",
        "layers": [2, 2, 1],
        "activations": ["tanh", "tanh"],
        "weights": [[[0.9, -0.7], [0.6, 0.8]], [[0.7, -0.5]]],
        "biases": [[0.1, -0.2], [0.05]],
        "input": [1.0, 0.0],
        "target": [1.0],
        "loss": "half_sse",
        "lr": 0.3,
        "samples": [
            {"input": [0.0, 0.0], "target": [-1.0]},
            {"input": [0.0, 1.0], "target": [1.0]},
            {"input": [1.0, 0.0], "target": [1.0]},
            {"input": [1.0, 1.0], "target": [-1.0]},
        ],
        "note": "XOR with targets ±1 and tanh units. No single line separates the classes, so the hidden "
        "layer must bend the space. Step through one example, then *Train N steps*: training cycles "
        "through the 4 samples and the curve shows their mean loss.",
    },
    "dead ReLU": {
        "name": "dead ReLU",
        "layers": [2, 2, 1],
        "activations": ["relu", "linear"],
        "weights": [[[0.5, -1.0], [0.4, 0.3]], [[0.6, -0.9]]],
        "biases": [[0.2, 0.1], [0.3]],
        "input": [1.0, 2.0],
        "target": [1.0],
        "loss": "half_sse",
        "lr": 0.1,
        "note": "Hidden unit 1 has z = 0.5·1 − 1.0·2 + 0.2 = −1.3 ≤ 0, so relu′(z) = 0. Its δ is 0 whatever "
        "comes back from the output, so ∂L/∂W for its incoming weights and bias are 0 and they do "
        "not move: the unit is *dead* for this input. Its outgoing weight has zero gradient too, "
        "because its activation is 0.",
    },
    "softmax (2 classes)": {
        "name": "softmax (2 classes)",
        "layers": [2, 3, 2],
        "activations": ["tanh", "softmax"],
        "weights": [[[0.5, -0.4], [0.3, 0.8], [-0.6, 0.2]], [[0.7, -0.3, 0.5], [-0.2, 0.6, -0.4]]],
        "biases": [[0.0, 0.1, -0.1], [0.0, 0.0]],
        "input": [1.0, -1.0],
        "target": [0.0, 1.0],
        "loss": "softmax_ce",
        "lr": 0.5,
        "note": "Two classes with a softmax output and cross-entropy loss. The softmax Jacobian and the log "
        "cancel, so the output delta is simply δᴸ = softmax(z) − y (y one-hot).",
    },
}


def preset(name: str) -> dict:
    """A fresh copy of a preset spec (callers may edit it)."""
    import copy

    if name not in PRESETS:
        raise SpecError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
