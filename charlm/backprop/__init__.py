"""Backpropagation with every number visible, for the Backprop tab and ``python -m charlm backprop``.

Imports run one way: ops ← spec ← engine ← trace ← svg.

- ``ops``: each activation and loss with its forward and derivative side by side;
- ``spec``: the JSON network description a user edits, parsed and validated;
- ``engine``: the exact float64 forward/backward/update (checked against torch autograd in the tests);
- ``trace``: the step-by-step equations with the actual numbers;
- ``svg``: the network drawing at any step;
- ``presets``: ready-made networks, starting with the textbook example, corrected.
"""

from charlm.backprop.engine import Result, forward, step, train
from charlm.backprop.ops import ACTIVATIONS, LOSSES, loss_value
from charlm.backprop.spec import Spec, parse_spec, randomize
from charlm.errors import SpecError

__all__ = ["ACTIVATIONS", "LOSSES", "Result", "Spec", "SpecError", "forward", "loss_value", "parse_spec",
           "randomize", "step", "train"]  # fmt: skip
