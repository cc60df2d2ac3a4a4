"""``Sampling``: one frozen object, checked once when it is made; the generation package's shared helpers."""

import dataclasses

import pytest

from charlm.errors import CharlmError, SamplingError
from charlm.generation import Sampling
from charlm.generation.sample import find_stop, slid


@pytest.mark.parametrize(
    "bad, words",
    [({"temperature": -0.1}, "temperature"), ({"temperature": float("nan")}, "temperature"), ({"top_k": -1}, "top-k"),
     ({"top_p": 0.0}, "top-p"), ({"top_p": 1.5}, "top-p"), ({"max_new_chars": -1}, "max new characters")],
)  # fmt: skip
def test_bad_settings_are_refused_when_made(bad, words):
    with pytest.raises(SamplingError, match=words) as err:
        Sampling(**bad)
    assert isinstance(err.value, CharlmError)  # the CLI prints it, the app shows it translated


def test_settings_are_frozen_and_stop_strings_are_kept_without_empties():
    s = Sampling(temperature=0, top_k=1, top_p=1.0, max_new_chars=0, seed=3, stop=["", "\n\n", "A:"])
    assert s.stop == ("\n\n", "A:")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.seed = 4  # type: ignore[misc]
    assert dataclasses.replace(s, seed=4).seed == 4 and s.seed == 3


def test_the_one_slide_and_the_one_stop_detector():
    ids = list(range(10))
    assert slid(ids, 7, 8) is None and slid(ids, 8, 8) == [6, 7, 8, 9] and slid(ids, 1, 1) == [9]
    assert find_stop("abc\n\nde", ("\n\n", "c")) == 2 and find_stop("abc", ("x",)) == -1 and find_stop("a", ()) == -1
