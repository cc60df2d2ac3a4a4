"""Generation: how a model writes text, character by character.

The map (who calls what)::

    settings.Sampling      one frozen object of every sampling setting, checked once when it is made
        |
    filtering              top-k / top-p: ``filter_dense`` (full sort) and ``sample_top`` (large vocabularies)
        |
    sample.pick_next       the one sampling rule: the next id from one row of logits
        |
        +-- sample.sample_ids / generate     one text, one loop     <- CLI (ensembles), poem (poetry.write_poem),
        |                                                              trainer samples, evaluation, experiments
        +-- batched.DecodingEngine           many texts, one loop   <- chat (generate_batched), CLI --num-samples

Why two loops: ``sample`` is the reference, readable in one screen, and serves one caller at a time (ensembles
and constrained poems, which the batch cannot step). ``batched`` serves every chat reply of a model in one forward
pass per character (continuous batching, docs/benchmarks.md). Both share ``pick_next``, the window slide
(``sample.slid``) and the stop detector (``sample.find_stop``), so a seed gives the same text on either path.

The submodules are imported directly (``from charlm.generation.sample import generate``); this package imports
nothing heavy, so ``Sampling`` is usable without torch.
"""

from charlm.generation.settings import Sampling

__all__ = ["Sampling"]
