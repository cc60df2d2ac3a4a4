"""charlm: train, chat with, evaluate and understand small character-level language models.

The public API, importable without gradio (and without paying for torch until you use it)::

    import charlm
    from charlm.train import train  # (charlm.train is the module)

    corpus = charlm.load_corpus("input.txt")
    for event in train(corpus, charlm.preset_config("lstm", "small", corpus.vocab.size),
                              charlm.TrainConfig(max_steps=500), "runs/demo"):
        ...
    model = charlm.load_checkpoint("runs/demo")
    print("".join(charlm.generate(model, "ROMEO:", charlm.Sampling(max_new_chars=200, seed=1))))
    print(charlm.score_text(model, "Some text")["bpc"])

The web app lives in ``app.py`` and ``charlm.ui`` (the only modules that import gradio).

Where things are (the folder names answer "where is X?"; README's "Project layout" has one line per module)::

    text, vocab, data, cleaning, corpora   reading a text and turning it into ids
    models/        what a model is: GPT, RNN/LSTM/GRU, the LanguageModel ABC; int8 copies and ensembles
    train.py       training (with optim.py and recipes.py)
    storage/       where models live on disk: checkpoint ⊂ run ⊂ store, plus zip archives
    generation/    where text is generated: Sampling, the reference sampler, the batched engine, top-k/top-p
    poetry/        quatrains: the form, its decoding rule, script conversion, write_poem
    score.py, evaluation/, inspection/, experiments/, backprop/   measuring, looking inside, comparing, teaching
    cli/, ui/      the command line and the web app
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "CharVocab": "charlm.vocab",
    "load_corpus": "charlm.data",
    "build_corpus": "charlm.data",
    "read_text": "charlm.text",
    "ModelConfig": "charlm.models",
    "preset_config": "charlm.models",
    "build_model": "charlm.models",
    "TrainConfig": "charlm.train",
    "load_checkpoint": "charlm.storage.checkpoint",
    "save_checkpoint": "charlm.storage.checkpoint",
    "generate": "charlm.generation.sample",
    "Sampling": "charlm.generation.settings",
    "score_text": "charlm.score",
    "evaluate_texts": "charlm.evaluation",
    "CharlmError": "charlm.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'charlm' has no attribute {name!r}")
