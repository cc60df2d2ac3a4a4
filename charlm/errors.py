"""One exception family for every error a user can cause.

The CLI prints ``CharlmError`` as a one-line message (exit code 2) and the app shows it in the page; anything
else is a bug and keeps its traceback.
"""


class CharlmError(Exception):
    """A problem with the user's input, files or settings, worded for the user."""


class DataError(CharlmError):
    """Text that cannot be used: empty, binary, undecodable, too short or too large."""


class CheckpointError(CharlmError):
    """A checkpoint folder that is missing, corrupt, foreign or inconsistent."""


class TrainingError(CharlmError):
    """Training that cannot go on (non-finite loss, impossible settings)."""


class SpecError(CharlmError):
    """A backprop spec that cannot describe a network: bad JSON, wrong shapes, unknown names."""


class BudgetError(CharlmError):
    """A request whose estimated cost is over one of the server's limits (the message names the limit)."""


class PoetryError(CharlmError):
    """A poem request the model cannot serve: a bad title or first line, or a vocabulary that lacks the form."""


class SamplingError(CharlmError):
    """Sampling settings out of range: a negative temperature or top-k, a top-p outside (0, 1]."""
