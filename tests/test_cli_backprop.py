"""``python -m charlm backprop`` as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from charlm.backprop.presets import preset

KEYS = {"loss", "z", "a", "delta", "grad_weights", "grad_biases", "updated_weights", "updated_biases"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charlm", "backprop", *args], capture_output=True, text=True, timeout=60
    )


def test_spec_file_json(tmp_path):
    spec = tmp_path / "net.json"
    spec.write_text(
        json.dumps(
            {
                "layers": [3, 2, 1],
                "activations": ["relu", "linear"],
                "weights": [[[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]], [[0.7, 0.8]]],
                "biases": [[0.5, 0.6], [0.9]],
                "input": [1, 2, 3],
                "target": [2.0],
                "loss": "half_sse",
                "lr": 0.1,
            }
        )
    )
    proc = run_cli("--spec", str(spec), "--json")
    assert proc.returncode == 0, proc.stderr
    spec.write_bytes(spec.read_text().encode("utf-16"))  # read by charlm.text as every other text file is
    assert run_cli("--spec", str(spec), "--json").stdout == proc.stdout
    out = json.loads(proc.stdout)
    assert KEYS <= set(out)
    assert out["loss"] == pytest.approx(3.89205, abs=1e-12)
    assert out["z"][0] == pytest.approx([1.9, 3.2]) and out["a"][1] == pytest.approx([4.79])
    assert out["delta"] == [pytest.approx([1.953, 2.232]), pytest.approx([2.79])]
    assert out["updated_biases"][1] == pytest.approx([0.621])


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"layers": [3, 2, 1], "activations": ["relu", "gelu"]}, "unknown activation"),
        (
            preset("textbook (corrected)") | {"weights": [[[0.1, 0.2], [0.3, 0.4]], [[0.7, 0.8]]]},
            "weights[0] must have shape [2, 3]",
        ),
    ],
)
def test_malformed_spec_exits_2_with_one_line(tmp_path, spec, needle):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    proc = run_cli("--spec", str(path), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]


def test_preset_trace_and_training():
    proc = run_cli("--preset", "XOR (tanh)", "--steps", "200")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("trained 200 steps: loss")
    assert "Backward, layer 1" in proc.stdout and "SGD update" in proc.stdout
    bad = run_cli("--preset", "nope")
    assert bad.returncode == 2 and "unknown preset" in bad.stderr


def test_a_missing_spec_file_is_one_clear_line(tmp_path):
    proc = run_cli("--spec", str(tmp_path / "nowhere.json"))
    assert (
        proc.returncode == 2 and proc.stderr.strip() == "error: cannot read the spec file: no such file: nowhere.json"
    )
