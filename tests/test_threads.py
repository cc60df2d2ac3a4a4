"""Thread choice per job (charlm.device.pick_threads) and the CPU share that scales a recipe's budget."""

from __future__ import annotations

import pytest

from charlm import device


@pytest.mark.parametrize(
    "cores,load,jobs,work,want",
    [
        (2, 0.0, 1, "train", 2),  # alone on the machine: every core
        (2, 1.2, 1, "train", 1),  # the other core is busy
        (2, 7.0, 1, "train", 1),  # a busy server: still at least one
        (8, 0.0, 2, "train", 4),  # two concurrent jobs share the cores
        (8, 3.0, 1, "score", 5),
        (8, 0.0, 1, "decode", 1),  # one character's step has nothing to split
    ],
)
def test_pick_threads(monkeypatch, cores, load, jobs, work, want):
    monkeypatch.setattr(device, "usable_cores", lambda: cores)
    monkeypatch.setattr(device.os, "getloadavg", lambda: (load, load, load))
    assert device.pick_threads(work, jobs) == want


def test_cpu_share(monkeypatch):
    monkeypatch.setattr(device, "usable_cores", lambda: 2)
    for load, want in ((0.0, 1.0), (1.0, 1.0), (3.0, 0.5), (7.0, 0.25)):
        monkeypatch.setattr(device.os, "getloadavg", lambda load=load: (load, load, load))
        assert device.cpu_share() == pytest.approx(want)
