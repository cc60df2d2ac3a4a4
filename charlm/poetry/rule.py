"""The form as a decoding rule: constrained decoding, a visible lesson in how a decoding rule shapes output.

The form is a 25-state machine over the position p after the ':'. At p = 5 and 17 only '，' may come, at 11 and 23
only '。', at 24 only '\\n' (the poem's end, as in the corpus), at every other p only a Han character.
``QuatrainRule.allowed`` gives that set as a mask; a sampler that draws only from allowed ids cannot break the form,
whatever the model's logits say.
"""

from __future__ import annotations

import numpy as np
import torch

from charlm.errors import PoetryError
from charlm.poetry.form import COMMA, END, FORCED, POEM_LENGTH, STOP, han_array, prefix_problem
from charlm.vocab import CharVocab, describe_chars


class QuatrainRule:
    """The form as a decoding rule over one vocabulary: which ids may come next, given the poem so far.

    The 25 masks are built once (a few microseconds per step afterwards), so any sampler can use the rule:
    ``logits.masked_fill(~rule.allowed(n), -inf)`` or ``logits + rule.logit_bias(n)``, where ``n`` is how many
    characters follow the title's ':' so far. The unknown id 0 is never allowed (it is not a Han character).
    """

    def __init__(self, vocab: CharVocab) -> None:
        missing = [c for c in (COMMA, STOP, END) if c not in vocab]
        if missing:
            raise PoetryError(f"the model's vocabulary lacks {describe_chars(missing)}; it cannot write a quatrain")
        code_points = np.fromiter(map(ord, vocab.chars), dtype=np.int64, count=len(vocab.chars))
        han = np.zeros(vocab.size, dtype=bool)
        han[1:] = han_array(code_points)  # id i + 1 is vocab.chars[i]; id 0 (unknown) stays False
        if not han.any():
            raise PoetryError("the model's vocabulary has no Chinese characters; it cannot write a quatrain")
        self.vocab = vocab
        self.han = torch.from_numpy(han)
        self.forced_ids = {p: vocab.id_of(ch) for p, ch in FORCED.items()}
        self._masks = []
        for p in range(POEM_LENGTH):
            forced = self.forced_ids.get(p)
            if forced is None:
                self._masks.append(self.han)
            else:
                only = torch.zeros(vocab.size, dtype=torch.bool)
                only[forced] = True
                self._masks.append(only)
        self._biases: dict[int, torch.Tensor] = {}  # id(mask) -> 0 / -inf float vector, built on first use

    def position(self, generated: str | int) -> int:
        """How far the poem is: ``generated`` is the text after the ':' (checked) or its length (trusted)."""
        if isinstance(generated, int):
            if generated < 0:
                raise ValueError(f"position must be 0 or more, not {generated}")
            return generated
        problem = prefix_problem(generated)
        if problem:
            raise PoetryError(f"the poem so far breaks the form: {problem}")
        return len(generated)

    def done(self, generated: str | int) -> bool:
        """True once the newline that ends the poem has been written."""
        return self.position(generated) >= POEM_LENGTH

    def allowed(self, generated: str | int) -> torch.Tensor | None:
        """Boolean mask (vocab size) of the ids that may come next; None when the poem is complete.

        The tensor is shared between calls: read it, do not modify it."""
        p = self.position(generated)
        return None if p >= POEM_LENGTH else self._masks[p]

    def allowed_ids(self, generated: str | int) -> torch.Tensor:
        """The allowed next ids, ascending (empty when the poem is complete)."""
        mask = self.allowed(generated)
        return torch.empty(0, dtype=torch.long) if mask is None else mask.nonzero().flatten()

    def forced_id(self, generated: str | int) -> int | None:
        """The one id the form allows next, if there is only one: a sampler can skip sampling there."""
        return self.forced_ids.get(self.position(generated))

    def logit_bias(self, generated: str | int) -> torch.Tensor | None:
        """0 where allowed, -inf elsewhere (float32, vocab size): one addition per step; None when complete."""
        mask = self.allowed(generated)
        if mask is None:
            return None
        key = id(mask)
        if key not in self._biases:
            self._biases[key] = torch.zeros(mask.shape).masked_fill_(~mask, float("-inf"))
        return self._biases[key]


_RULES: dict[tuple[str, ...], QuatrainRule] = {}  # a few models' rules (building one costs ~1 ms at 6k ids)


def rule_for(vocab: CharVocab) -> QuatrainRule:
    """The quatrain rule of a vocabulary, built once."""
    key = tuple(vocab.chars)
    rule = _RULES.get(key)
    if rule is None:
        rule = QuatrainRule(vocab)
        if len(_RULES) >= 8:
            _RULES.pop(next(iter(_RULES)))
        _RULES[key] = rule
    return rule


def quatrain_steps(rule: QuatrainRule, start: int):
    """The ``sample_ids`` rule of the form: the forced id where the form allows one character, else the bias that
    forbids every id but Han characters."""

    def step(n: int) -> torch.Tensor | int | None:
        forced = rule.forced_id(start + n)
        return forced if forced is not None else rule.logit_bias(start + n)

    return step


def writes_poems(vocab: CharVocab) -> bool:
    """Whether a vocabulary is a poem model's: it can write a quatrain (，。 and Han characters), has the corpus's
    ``title:poem`` colon, and no Latin letters (a Chinese prose or mixed model is not read as a poem model)."""
    if ":" not in vocab or any(c.isascii() and c.isalpha() for c in vocab.chars):
        return False
    try:
        rule_for(vocab)
    except PoetryError:
        return False
    return True
