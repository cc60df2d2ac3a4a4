"""Backpropagation with every number visible, for the Backprop tab and ``python -m charlm backprop``.

- ``engine``: the exact float64 forward/backward/update (checked against torch autograd in the tests);
- ``spec``: the JSON network description a user edits, parsed and validated;
- ``trace``: the step-by-step equations with the actual numbers;
- ``svg``: the network drawing at any step;
- ``presets``: ready-made networks, starting with the textbook example, corrected.
"""

from charlm.backprop.engine import ACTIVATIONS, LOSSES, Result, forward, loss_value, step, train
from charlm.backprop.spec import Spec, parse_spec, randomize
from charlm.errors import SpecError

__all__ = ["ACTIVATIONS", "LOSSES", "Result", "Spec", "SpecError", "forward", "loss_value", "parse_spec",
           "randomize", "step", "train"]  # fmt: skip
