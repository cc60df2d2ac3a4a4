"""What is chosen from the machine (charlm.device): threads, precision, device. Each choice is forced both ways
here, so the suite never depends on the CPU it happens to run on (issue 17)."""

from __future__ import annotations

import pytest
import torch

from charlm import device


@pytest.mark.parametrize(
    "cores,idle,jobs,work,want",
    [
        (2, 2.0, 1, "train", 2),  # alone on the machine: every core
        (2, 1.85, 1, "train", 2),  # the shell, tqdm and this job's own start leave the cores nearly idle
        (2, 1.0, 1, "train", 1),  # the other core is busy
        (2, 1.5, 1, "train", 1),  # half busy: a second thread would wait on it
        (2, 0.0, 1, "train", 1),  # a busy server: still at least one
        (8, 8.0, 2, "train", 4),  # two concurrent jobs share the cores
        (8, 5.0, 1, "score", 5),
        (8, 8.0, 1, "decode", 1),  # one character's step has nothing to split
    ],
)
def test_pick_threads(monkeypatch, cores, idle, jobs, work, want):
    monkeypatch.setattr(device, "usable_cores", lambda: cores)
    monkeypatch.setattr(device, "idle_cores", lambda: idle)
    assert device.pick_threads(work, jobs) == want


def _stat(tmp_path, name, rows):
    path = tmp_path / name
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"] + [f"cpu{i} {u} 0 {s} {idle} {io} 0 0 0 0 0" for i, (u, s, idle, io) in rows]
    path.write_text("\n".join(lines) + "\nintr 1 2 3\n", encoding="ascii")
    return str(path)


@pytest.mark.parametrize(
    "second,want",
    [
        ([(0, (100, 0, 100, 0)), (1, (100, 0, 100, 0))], 2.0),  # no tick but idle ones: both cores idle
        ([(0, (100, 0, 100, 0)), (1, (130, 0, 70, 0))], 1.0),  # cpu1 spun the whole window
        ([(0, (100, 15, 80, 5)), (1, (100, 0, 100, 0))], 1.5),  # cpu0 half busy (iowait counts as idle)
    ],
)
def test_idle_cores_reads_proc_stat(monkeypatch, tmp_path, second, want):
    first = _stat(tmp_path, "a", [(0, (100, 0, 70, 0)), (1, (100, 0, 70, 0))])
    second = _stat(tmp_path, "b", second)
    reads = iter([device._cpu_times(first), device._cpu_times(second)])
    monkeypatch.setattr(device, "_cpu_times", lambda: next(reads))
    monkeypatch.setattr(device, "usable_cpu_ids", lambda: [0, 1])
    monkeypatch.setattr(device, "usable_cores", lambda: 2)
    assert device.idle_cores(window=0.0) == pytest.approx(want)


def test_idle_cores_falls_back_to_the_load_average(monkeypatch):
    monkeypatch.setattr(device, "_cpu_times", lambda: None)
    monkeypatch.setattr(device, "usable_cores", lambda: 2)
    monkeypatch.setattr(device.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert device.idle_cores() == pytest.approx(1.5)


def test_idle_cores_on_this_machine_is_a_count_of_cores():
    assert 0.0 <= device.idle_cores(window=0.05) <= device.usable_cores() + 1e-6


def test_cpu_share(monkeypatch):
    monkeypatch.setattr(device, "usable_cores", lambda: 2)
    for load, want in ((0.0, 1.0), (1.0, 1.0), (3.0, 0.5), (7.0, 0.25)):
        monkeypatch.setattr(device.os, "getloadavg", lambda load=load: (load, load, load))
        assert device.cpu_share() == pytest.approx(want)


# --- precision: "auto" resolved with and without native bf16, and on CUDA with and without bf16 -------------------
@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("width", [64, 128, 256, 512])
def test_auto_precision_on_the_cpu(monkeypatch, native, width):
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    want = "bf16" if native and width >= 256 else "fp32"
    assert device.pick_precision("auto", torch.device("cpu"), width) == want
    for forced in ("fp32", "bf16"):
        assert device.pick_precision(forced, torch.device("cpu"), width) == forced


@pytest.mark.parametrize("supported", [True, False])
def test_auto_precision_on_cuda(monkeypatch, supported):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    assert device.pick_precision("auto", torch.device("cuda"), 64) == ("bf16" if supported else "fp32")


@pytest.mark.parametrize("flags,want", [("fpu avx2 avx512f avx512_bf16", True), ("fpu amx_bf16 amx_tile", True),
                                        ("fpu avx avx2 fma", False)])  # fmt: skip
def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch, tmp_path, flags, want):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n", encoding="ascii")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(info if path == "/proc/cpuinfo" else path,
                                                                         *a, **k))  # fmt: skip
    assert device.cpu_has_native_bf16() is want


@pytest.mark.parametrize("cuda", [True, False])
def test_auto_device_follows_cuda(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert device.pick_device("auto").type == ("cuda" if cuda else "cpu")
    assert device.pick_device("cpu").type == "cpu"
    if not cuda:
        with pytest.raises(ValueError, match="no CUDA device"):
            device.pick_device("cuda")
