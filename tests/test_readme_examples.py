"""Every command-line example in the README, run exactly as written (issue 17): each `python -m charlm …` and
`torchrun …` line of a code block, continuation lines joined, in a scratch folder laid out like a clone (the
repository's `checkpoints/` and `examples/`, `../shared/data` beside it). Time budgets and step counts are capped
through the environment (``charlm.cli.common.CAPS``), so the whole README runs in a few minutes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.helpers import DATA_DIR, REPO

pytestmark = pytest.mark.slow
CAPS = {"CHARLM_CLI_MAX_SECONDS": "3", "CHARLM_CLI_MAX_STEPS": "6", "CHARLM_CLI_MAX_CHARS": "2000"}
STARTS = ("python -m charlm ", "torchrun ", "OMP_NUM_THREADS=1 python -m charlm ")


def code_blocks(text: str) -> list[str]:
    """The code blocks of a Markdown text: fenced (``` … ```) and 4-space-indented, each as its text."""
    blocks, fenced, indented = [], None, []
    for line in text.splitlines() + [""]:
        if fenced is not None:
            if line.startswith("```"):
                blocks.append("\n".join(fenced))
                fenced = None
            else:
                fenced.append(line)
        elif line.startswith("```"):
            fenced = []
        elif line.startswith("    ") and line.strip():
            indented.append(line[4:])
        elif indented:
            blocks.append("\n".join(indented))
            indented = []
    return blocks


def readme_commands() -> list[str]:
    """The example commands of README.md, in order, continuation lines (ending in a backslash) joined."""
    commands = []
    for block in code_blocks((REPO / "README.md").read_text(encoding="utf-8")):
        for command in re.sub(r"\\\n\s*", "", block).splitlines():
            command = command.strip()
            if command.startswith(STARTS):
                commands.append(command)
    return commands


COMMANDS = readme_commands()


def test_the_readme_has_the_examples_it_should():
    assert len(COMMANDS) >= 20
    for verb in ("train", "sample", "poem", "score", "inspect", "compare", "search", "eval", "backprop"):
        assert any(f"charlm {verb} " in c for c in COMMANDS), verb
    files = {f for c in COMMANDS for f in re.findall(r"(?<![\w/.])examples/[\w.]+", c)}
    assert files and all((REPO / f).is_file() for f in files), files


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A folder laid out as a fresh clone sees it: the repository's files, ../shared/data beside it."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"corpora not found at {DATA_DIR}")
    root = tmp_path_factory.mktemp("readme")
    (root / "shared").mkdir()
    (root / "shared" / "data").symlink_to(DATA_DIR.resolve(), target_is_directory=True)
    work = root / "charlm"
    work.mkdir()
    for name in ("checkpoints", "examples"):
        (work / name).symlink_to(REPO / name, target_is_directory=True)
    return work


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs_as_written(clone, command):
    if command.startswith("torchrun ") and shutil.which("torchrun") is None:
        pytest.skip("torchrun is not on PATH")
    env = {**os.environ, **CAPS, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    p = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"{command}\nstdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-3000:]}"
    assert "Traceback" not in p.stderr


def test_caps_lower_budgets_and_refuse_nonsense(monkeypatch):
    import argparse

    from charlm.cli.common import apply_caps
    from charlm.errors import CharlmError

    monkeypatch.setenv("CHARLM_CLI_MAX_SECONDS", "3")
    monkeypatch.setenv("CHARLM_CLI_MAX_CHARS", "2000")
    monkeypatch.delenv("CHARLM_CLI_MAX_STEPS", raising=False)
    args = argparse.Namespace(time_budget=90.0, trial_budget=2.0, max_steps=5000, eval_chars=None, max_new_chars=300)
    apply_caps(args)
    assert (args.time_budget, args.trial_budget, args.max_steps, args.eval_chars, args.max_new_chars) == \
        (3.0, 2.0, 5000, 2000, 300)  # fmt: skip
    monkeypatch.setenv("CHARLM_CLI_MAX_STEPS", "ten")
    with pytest.raises(CharlmError, match="CHARLM_CLI_MAX_STEPS must be a positive whole number, not 'ten'"):
        apply_caps(args)
