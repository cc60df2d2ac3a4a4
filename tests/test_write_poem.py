"""Writing a quatrain with a model: the constrained sampler never breaks the form, free mode ends at the line's
end, simplified titles, both scripts, the CLI."""

import json
import os
import subprocess
import sys

import pytest
import torch

from charlm.data import build_corpus
from charlm.errors import PoetryError
from charlm.generation.settings import Sampling
from charlm.models import ModelConfig, build_model, resolve_head
from charlm.models.output import count_ids
from charlm.models.quantize import quantize_for_cpu
from charlm.poetry import FREE_MAX_CHARS, POEM_LENGTH, check_form, to_simplified, write_poem
from charlm.storage.checkpoint import LoadedModel, save_checkpoint
from charlm.vocab import CharVocab
from tests.helpers import REPO, TINY, poems_slice


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(poems_slice(5_000), name="poems-5k")


def untrained(corpus, arch, **kw):
    """A model that has learned nothing: left to itself it writes noise, so only the rule can keep the form."""
    config = ModelConfig(arch=arch, vocab_size=corpus.vocab.size, head="auto", **{**TINY[arch], **kw})
    config = resolve_head(config, count_ids(corpus.split()[0], corpus.vocab.size))
    torch.manual_seed(0)
    return LoadedModel(model=build_model(config).eval(), vocab=corpus.vocab, config=config)


@pytest.fixture(scope="module")
def gru(corpus):
    return untrained(corpus, "gru")


def test_the_constrained_sampler_never_breaks_the_form(gru, one_thread):
    free_ok = 0
    for seed in range(100):
        out = write_poem(gru, "春晓", constrained=True, sampling=Sampling(seed=seed, temperature=1.2))
        assert out.well_formed and check_form(out.poem_traditional).ok, (seed, out.poem)
        assert len(out.poem) == POEM_LENGTH - 1 and out.title == "春曉"
        free_ok += write_poem(gru, "春晓", sampling=Sampling(seed=seed)).well_formed
    assert free_ok < 10  # the same model unconstrained: the form is the rule's doing, not the model's


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_every_architecture_and_a_first_line(corpus, arch):
    lm = untrained(corpus, arch, block_size=32)  # a GPT window of 32: the prompt is cut to fit the poem
    out = write_poem(lm, "", "床前明月光", constrained=True, sampling=Sampling(seed=3, top_k=50, top_p=0.9))
    assert out.well_formed and out.title == "無題" and out.poem.startswith("牀前明月光，")  # s2t: 床 -> 牀
    assert write_poem(
        quantize_for_cpu(lm), "长" * 30, constrained=True, sampling=Sampling(seed=1)
    ).well_formed  # a long title, int8


def test_free_mode_stops_at_the_end_of_the_line(corpus):
    lm = untrained(corpus, "gru")
    with torch.no_grad():  # a real model whose output layer says "end the line now", whatever it read
        head = lm.model.output_head.asm.head
        head.weight.zero_()
        head.bias.fill_(-30.0)
        head.bias[int(lm.model.output_head.rank[corpus.vocab.id_of("\n")])] = 30.0
    out = write_poem(lm, "江雪", "千山鳥飛絕", sampling=Sampling(seed=0))
    assert out.poem == "千山鳥飛絕，" and not out.well_formed and "line 2" not in out.form.summary()
    assert not any("did not end" in n for n in out.notices)
    noisy = write_poem(untrained(corpus, "gru"), "江雪", sampling=Sampling(seed=0, temperature=2.0))
    assert "\n" not in noisy.poem and len(noisy.poem) <= FREE_MAX_CHARS


def test_scripts_and_notices(gru):
    simp = write_poem(gru, "静夜思", constrained=True, script="simplified", sampling=Sampling(seed=4))
    trad = write_poem(gru, "静夜思", constrained=True, sampling=Sampling(seed=4))
    assert trad.poem == simp.poem_traditional and simp.poem == to_simplified(trad.poem)
    assert any("静夜思 → 靜夜思" in n for n in simp.notices)
    assert simp.to_json()["well_formed"] is True and simp.to_json()["script"] == "simplified"
    odd = write_poem(gru, "Ωmega", constrained=True, sampling=Sampling(seed=0))
    assert any("does not know" in n and "'Ω'" in n for n in odd.notices) and odd.well_formed
    with pytest.raises(PoetryError, match="script"):
        write_poem(gru, "江雪", script="pinyin")
    with pytest.raises(PoetryError, match="title or a first line"):
        write_poem(gru, "")
    english = LoadedModel(
        model=build_model(ModelConfig(vocab_size=5, **TINY["gru"])),
        vocab=CharVocab.from_chars("abc\n"),
        config=ModelConfig(vocab_size=5, **TINY["gru"]),
    )
    with pytest.raises(PoetryError, match="lacks"):
        write_poem(english, "abc", constrained=True)


def test_cli_poem(gru, tmp_path):
    save_checkpoint(tmp_path / "m", gru.model, gru.vocab, gru.config)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "charlm", "poem", "--checkpoint", str(tmp_path / "m"), "--title", "春晓",
            "--constrained", "--seed", "7"]  # fmt: skip
    p = subprocess.run([*args, "--json", "--script", "simplified"], capture_output=True, text=True, env=env,
                       cwd=REPO, timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["well_formed"] and out["title"] == "春晓" and out["script"] == "simplified" and out["notices"]
    assert out["title_traditional"] == "春曉" and out["poem"] == to_simplified(out["poem_traditional"])
    p = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert p.returncode == 0 and p.stdout.startswith("春曉:") and "form check: well-formed" in p.stderr
    p = subprocess.run([*args[:-2], "--first-line", "abc"], capture_output=True, text=True, env=env, cwd=REPO,
                       timeout=120)  # fmt: skip
    assert p.returncode == 2 and p.stderr.startswith("error: the first line cannot begin a quatrain")
