"""``Sampling``: every setting of one generated text, checked once, where it is made.

The CLI, the chat, the poem writer, ensembles, the trainer's samples and the batched engine all take one
``Sampling`` instead of six loose arguments, so a bad value is refused in one place with one message (a
``SamplingError``, which the CLI prints and the app shows in the user's language).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from charlm.errors import SamplingError


@dataclass(frozen=True)
class Sampling:
    """How to draw a continuation: ``temperature`` 0 is greedy, ``top_k`` 0 and ``top_p`` 1 are off, ``seed``
    None draws a fresh random seed, and generation ends before the first of the ``stop`` strings."""

    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 1.0
    max_new_chars: int = 200
    seed: int | None = None
    stop: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        temperature, top_k, top_p, max_new_chars = self.temperature, self.top_k, self.top_p, self.max_new_chars
        if not temperature >= 0:
            raise SamplingError(f"temperature must be 0 (greedy) or positive, not {temperature}")
        if top_k < 0:
            raise SamplingError(f"top-k must be 0 (off) or positive, not {top_k}")
        if not 0.0 < top_p <= 1.0:
            raise SamplingError(f"top-p must be in (0, 1], not {top_p}")
        if max_new_chars < 0:
            raise SamplingError(f"max new characters must be 0 or more, not {max_new_chars}")
        object.__setattr__(self, "stop", tuple(s for s in self.stop if s))  # an empty stop string means none


DEFAULT_SAMPLING = Sampling()  # the default of every entry point (frozen, so one shared instance is safe)
