"""Built-in corpora (the Chinese poems train and sample offline) and run names in any script."""

import hashlib
import unicodedata

import pytest
import torch

from charlm.corpora import BUILTIN, POEMS, POEMS_WELL_FORMED, PYDOC, builtin_text, load_source
from charlm.data import build_corpus
from charlm.errors import DataError
from charlm.generation.sample import generate
from charlm.generation.settings import Sampling
from charlm.models import ModelConfig
from charlm.poetry import POEM_LENGTH, QuatrainRule, check_form, poem_prompt
from charlm.storage.checkpoint import load_checkpoint
from charlm.storage.run import MAX_NAME, create_run, open_run, safe_name
from charlm.train import TrainConfig, run_to_end, train
from tests.helpers import TINY


def test_builtin_poems_ship_unchanged_with_the_package():
    text = builtin_text(POEMS)
    assert set(BUILTIN) >= {PYDOC, POEMS, POEMS_WELL_FORMED}
    assert len(text) == 598_099 and text.count("\n") == 17_000
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert digest == "2d97daf87244716bb785f87f12effd1884ae8f02ac1038777c8fc85b9df44b85"  # the source file's
    assert load_source("builtin", None, None, POEMS, max_bytes=10**7) == (text, POEMS)
    with pytest.raises(DataError, match="unknown built-in corpus"):
        builtin_text("no such corpus")


def test_well_formed_poems_corpus_builds():
    text = builtin_text(POEMS_WELL_FORMED)
    assert text.count("\n") == 16_260 and text.endswith("\n")
    corpus = build_corpus(text, name=POEMS_WELL_FORMED)
    assert corpus.n_chars == len(text) and 6_000 < corpus.vocab.size < 6_258  # fewer rare characters


@pytest.mark.parametrize("arch", ["gru", "gpt"])
def test_builtin_poems_train_and_sample(tmp_path, arch, one_thread):
    corpus = build_corpus(builtin_text(POEMS), name=POEMS)
    assert corpus.vocab.size == 6_258  # 6,257 characters + the unknown id
    config = ModelConfig(arch=arch, vocab_size=corpus.vocab.size, **TINY[arch])
    cfg = TrainConfig(batch_size=4, max_steps=6, lr=3e-3, warmup_steps=2, eval_interval=6, eval_chars=2_000,
                      precision="fp32", device="cpu", seed=3)  # fmt: skip
    final = run_to_end(train(corpus, config, cfg, tmp_path / "poems"))
    assert final.kind == "done" and final.step == 6
    lm = load_checkpoint(tmp_path / "poems" / "best")
    assert lm.vocab.chars == corpus.vocab.chars
    prompt = poem_prompt("靜夜思")
    free = "".join(generate(lm, prompt, Sampling(max_new_chars=30, seed=1)))
    assert len(free) == 30
    # the decoding rule with a real (barely trained) model: always a well-formed poem
    rule, gen, poem = QuatrainRule(lm.vocab), torch.Generator().manual_seed(1), ""
    with torch.no_grad():
        logits, state = lm.model(torch.tensor([lm.vocab.encode(prompt).ids]), lm.model.init_state(1))
        while (bias := rule.logit_bias(len(poem))) is not None:
            nxt = int(torch.multinomial(torch.softmax(logits[0, -1] + bias, -1), 1, generator=gen))
            poem += lm.vocab.decode([nxt])
            logits, state = lm.model(torch.tensor([[nxt]]), state)
    assert len(poem) == POEM_LENGTH and check_form(poem).ok


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("唐诗-gru", "唐诗-gru"),
        ("五言 绝句", "五言-绝句"),
        ("shakespeare-gpt", "shakespeare-gpt"),
        ("My model v2.1", "My-model-v2.1"),
        ("../../etc/passwd", "etc-passwd"),
        ("a\\b/c", "a-b-c"),
        ("..", "model"),
        (".hidden", "hidden"),
        ("", "model"),
        ("名\x00字\x1b[31m", "名-字-31m"),  # control characters
        ("\u202egru\u200b唐", "gru-唐"),  # a bidi override and a zero-width space
        ("e\u0301te\u0301", "\u00e9t\u00e9"),  # NFC: one name however the accents were typed
        ("नमस्ते", "नमस्ते"),  # combining marks of other scripts stay
    ],
)
def test_safe_name_keeps_any_script_and_stays_a_safe_file_name(wanted, expected, tmp_path):
    name = safe_name(wanted)
    assert name == expected
    assert "/" not in name and "\\" not in name and not name.startswith(".") and name not in ("", ".", "..")
    assert not any(unicodedata.category(c)[0] in "CZ" for c in name)  # no control, format or space characters
    run = create_run(tmp_path, wanted, "text", "abc", folder_name=f"{name}-1")
    assert run.dir.parent == tmp_path and open_run(run.dir).name == wanted


def test_safe_name_is_bounded():
    assert safe_name("唐" * 200) == "唐" * MAX_NAME
    assert len(safe_name("唐" * 200).encode("utf-8")) <= 160
    assert safe_name("x" * (MAX_NAME - 1) + ".abc") == "x" * (MAX_NAME - 1)  # no trailing dot after the cut
