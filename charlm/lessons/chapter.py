"""The chapter's small character-level LSTM project, done the way it should be, with charlm.

The chapter's design has the right parts (windows of 16 characters, an embedding, an LSTM, a linear layer, a
training loop, greedy generation) and several defects (``tests/test_chapter_project.py`` reproduces each with our
own minimal code). The corrected design, which charlm's trainer already is:

- every window of 16 characters that fits is a training example, and its target is the same window shifted by one
  character: the model learns to predict the *next* character at each of the 16 positions, not just the last;
- the recurrent layer reads (batch, time) batches (``batch_first``), and the state starts fresh for each batch;
- the loss is the cross-entropy of (positions, vocabulary) scores against the 16 target ids;
- generation carries the state from character to character and feeds one new character per step;
- greedy decoding is shown next to sampling, because greedy on a memorised sentence loops.

``train_sentence`` trains it live on one sentence (the chapter's 68 characters, or the learner's) and then reports
what it generates and how it scores a sentence it has never seen: memorising one sentence is not learning a
language.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from charlm.errors import DataError
from charlm.lessons import check_text

SENTENCE = "The quick brown fox jumps over the lazy dog while the cat sleeps on."  # 68 characters, like the chapter's
UNSEEN = "A lazy cat jumps over the quick brown dog while the fox sleeps now."
WINDOW = 16  # the chapter's window
MAX_STEPS = 400


def train_sentence(sentence: str = SENTENCE, steps: int = 120, seed: int = 0, unseen: str = UNSEEN,
                   out_dir: str | Path | None = None, progress=None) -> dict:  # fmt: skip
    """Train a small LSTM on ``sentence`` (windows of 16, next-character targets) and generate from it.

    Returns the loss curve, greedy and sampled continuations of the sentence's first characters, and bits per
    character on the sentence itself and on ``unseen`` (characters the sentence lacks are not scored)."""
    from charlm import Sampling, TrainConfig, build_corpus, generate, load_checkpoint, preset_config, score_text
    from charlm.train import train

    check_text(sentence, WINDOW + 2, 200)
    if not 10 <= steps <= MAX_STEPS:
        raise DataError(f"the lesson trains 10 to {MAX_STEPS} steps, not {steps}")
    corpus = build_corpus(sentence, name="sentence")
    config = preset_config("lstm", "tiny", corpus.vocab.size, block_size=WINDOW, dropout=0.0)
    cfg = TrainConfig(max_steps=steps, lr=1e-2, warmup_steps=10, batch_size=16, val_fraction=0.0, seed=seed,
                      eval_interval=10**9, save_every=None, device="cpu", precision="fp32")  # fmt: skip
    tmp = tempfile.TemporaryDirectory(prefix="charlm-chapter-") if out_dir is None else None
    folder = Path(out_dir) if out_dir is not None else Path(tmp.name)
    curve = []
    try:
        for ev in train(corpus, config, cfg, folder / "run"):
            if ev.kind == "step":
                curve.append({"step": ev.step, "loss": ev.loss})
                if progress is not None:
                    progress(ev.step / steps)
        loaded = load_checkpoint(folder / "run" / "last")
        prompt = sentence[:WINDOW]
        n = len(sentence) * 2 - WINDOW
        greedy = "".join(generate(loaded, prompt, Sampling(temperature=0, max_new_chars=n)))
        sampled = "".join(generate(loaded, prompt, Sampling(temperature=1.0, max_new_chars=n, seed=seed)))
        bpc_seen = score_text(loaded, sentence)["bpc"]
        bpc_unseen = score_text(loaded, unseen)["bpc"] if unseen else None
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {"curve": curve, "prompt": prompt, "greedy": greedy, "sampled": sampled, "bpc_seen": bpc_seen,
            "bpc_unseen": bpc_unseen, "n_params": loaded.n_params, "vocab": len(corpus.vocab.chars),
            "chars": len(sentence)}  # fmt: skip


__all__ = ["SENTENCE", "UNSEEN", "WINDOW", "train_sentence"]
