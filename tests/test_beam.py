"""Beam search (charlm/generation/beam.py) and ``--beam N`` in the sample CLI, on the shipped models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import charlm
from charlm.errors import CharlmError
from charlm.generation.beam import beam_search, check_beam, continuation_logprob, reorder_state
from tests.helpers import REPO, TINY

SHIPPED = REPO / "checkpoints"
PROMPTS = {"shakespeare-gpt": "ROMEO:\nBut soft", "shakespeare-lstm": "KING HENRY:\nWhat say", "tang-poems-gru": "春"}


@pytest.fixture(scope="module", params=sorted(PROMPTS))
def shipped(request):
    if not (SHIPPED / request.param).is_dir():
        pytest.skip(f"no shipped checkpoint {request.param}")
    return request.param, charlm.load_checkpoint(SHIPPED / request.param)


def test_beam_one_is_greedy(shipped, one_thread):
    name, loaded = shipped
    greedy = "".join(charlm.generate(loaded, PROMPTS[name], charlm.Sampling(temperature=0, max_new_chars=30)))
    (beam,) = beam_search(loaded.model, loaded.vocab, PROMPTS[name], width=1, max_new_chars=30)
    assert beam.text == greedy
    ids = loaded.vocab.encode(greedy).ids
    assert beam.logprob == pytest.approx(continuation_logprob(loaded.model, loaded.vocab, PROMPTS[name], ids),
                                         abs=1e-3)  # fmt: skip


def test_wider_beams_find_more_probable_continuations_than_greedy(shipped, one_thread):
    name, loaded = shipped
    greedy = beam_search(loaded.model, loaded.vocab, PROMPTS[name], width=1, max_new_chars=30)[0]
    beams = beam_search(loaded.model, loaded.vocab, PROMPTS[name], width=4, max_new_chars=30)
    assert 1 <= len(beams) <= 4 and all(len(b.ids) == 30 for b in beams)
    assert [b.logprob for b in beams] == sorted((b.logprob for b in beams), reverse=True)
    assert beams[0].logprob >= greedy.logprob - 1e-4
    # the score is the model's own log-probability of the text, recomputed independently
    recomputed = continuation_logprob(loaded.model, loaded.vocab, PROMPTS[name], list(beams[0].ids))
    assert beams[0].logprob == pytest.approx(recomputed, abs=1e-3)


@pytest.mark.parametrize("arch", ["gpt", "lstm", "gru", "rnn"])
def test_every_architecture_and_an_ensemble(arch, one_thread):
    torch.manual_seed(0)
    vocab = charlm.CharVocab.from_chars("abc \n")
    model = charlm.build_model(charlm.ModelConfig(arch=arch, vocab_size=vocab.size, **TINY[arch])).eval()
    beams = beam_search(model, vocab, "ab", width=3, max_new_chars=8)
    assert beams and all(0 not in b.ids for b in beams)  # the unknown id is never chosen
    from charlm.models.ensemble import ensemble
    from charlm.storage.checkpoint import LoadedModel

    loaded = LoadedModel(model=model, vocab=vocab, config=model.config, meta={"name": "m"})
    mix = ensemble([loaded, loaded])
    assert beam_search(mix.model, vocab, "ab", 3, 8)[0].text == beams[0].text  # an ensemble of one model is it


def test_limits_are_checked_before_any_work():
    for width, n in ((0, 10), (17, 10), (4, 401), (16, 300)):
        with pytest.raises(CharlmError):
            check_beam(width, n)
    vocab = charlm.CharVocab.from_chars("ab")
    model = charlm.build_model(charlm.ModelConfig(arch="gpt", vocab_size=vocab.size, **TINY["gpt"]))
    with pytest.raises(CharlmError, match="sees 32 characters"):
        beam_search(model, vocab, "ab", 2, 32)


def test_reorder_state_follows_the_parents():
    h = torch.arange(6.0).view(1, 3, 2)
    out = reorder_state((h, [h]), torch.tensor([2, 2, 0]))
    assert out[0][0, :, 0].tolist() == [4.0, 4.0, 0.0] and out[1][0].shape == h.shape
    assert h[0, 0, 0] == 0.0  # the original is left alone


def test_cli_beam(tmp_path: Path):
    if not (SHIPPED / "shakespeare-lstm").is_dir():
        pytest.skip("no shipped LSTM")
    run = [sys.executable, "-m", "charlm", "sample", "--checkpoint", str(SHIPPED / "shakespeare-lstm"), "--prompt",
           "ROMEO:", "--max-new-chars", "20", "--fp32"]  # fmt: skip
    out = subprocess.run([*run, "--beam", "3", "--num-samples", "2"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("--- beam") == 2 and "log-probability -" in out.stdout
    greedy = subprocess.run([*run, "--beam", "1"], capture_output=True, text=True, cwd=REPO)
    plain = subprocess.run([*run, "--temperature", "0"], capture_output=True, text=True, cwd=REPO)
    assert greedy.stdout.splitlines()[1] == plain.stdout.rstrip("\n").splitlines()[0]
    bad = subprocess.run([*run, "--beam", "99"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "beam width" in bad.stderr
