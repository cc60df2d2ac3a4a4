"""The reference sampler: one text, one character at a time (read this first; ``batched`` is its many-text twin).

Each step feeds only the newest character: recurrent models carry their state, the GPT its key/value cache. When
the GPT's cache is full we slide the window (``slid``): keep the most recent ``block_size // 2`` characters,
re-run them as a fresh prompt (positions restart at 0, which is what the model saw in training), and continue.
That costs one half-window forward every ``block_size // 2`` characters instead of a full window per character.

A ``rule`` can steer each step (constrained decoding, e.g. ``charlm.poetry``'s quatrain form): given how many ids
were generated so far, it returns None (sample freely), a float vector added to the logits (-inf forbids an id),
or one id to force (fed to the model without sampling, so the state follows the text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from charlm.generation.filtering import CANDIDATES, filter_dense, sample_top
from charlm.generation.settings import DEFAULT_SAMPLING, Sampling
from charlm.vocab import UNK_ID, CharVocab

Rule = Callable[[int], "torch.Tensor | int | None"]  # ids generated so far -> logit bias, forced id or None


def pick_next(logits: torch.Tensor, s: Sampling, gen: torch.Generator) -> int:
    """Draw the next id from one row of logits (modified in place). The unknown id is never drawn.

    The one sampling rule of charlm: ``sample_ids`` and the batched engine both call it, each request with its own
    generator, so a seed gives the same draws whichever path decodes it. Above 1,024 ids (Chinese) only the best
    candidates are sorted (``filtering.sample_top``): the same distribution, several times cheaper.
    """
    last = logits.float()
    last[UNK_ID] = float("-inf")
    if s.temperature == 0:
        return int(torch.argmax(last))
    if last.shape[-1] > CANDIDATES:
        return int(sample_top(last, s.temperature, s.top_k, s.top_p, generator=gen))
    probs = torch.softmax(filter_dense(last / s.temperature, s.top_k, s.top_p), dim=-1)
    return int(torch.multinomial(probs, 1, generator=gen))


def batchable(s: Sampling, vocab_size: int) -> bool:
    """Whether ``pick_many`` draws this row in the batch's one tensor operation: no top-k/top-p and a small
    vocabulary (greedy rows included); the others go through ``pick_next`` one row at a time."""
    return vocab_size <= CANDIDATES and s.top_k == 0 and s.top_p == 1.0


def pick_many(logits: torch.Tensor, settings: Sequence[Sampling], gens: Sequence[torch.Generator]) -> list[int]:
    """``pick_next`` for every row of ``logits`` (n, V) at once, for rows that are all ``batchable``.

    Why: one sampling call per row per character was most of a 30-row step's Python (issue 22). The same draws
    as ``pick_next`` row by row: ``torch.multinomial`` draws one id as ``argmax(p / q)`` with ``q`` exponential
    noise from the generator, so each row's generator fills its own row of ``q`` (the one per-row operation) and
    the softmax, the division and the argmax run once for all rows. Rows at temperature 0 take the argmax.
    """
    x = logits.float()
    x[:, UNK_ID] = float("-inf")
    temps = [s.temperature for s in settings]
    greedy = x.argmax(-1).tolist() if 0 in temps else None
    t = torch.tensor([tt or 1.0 for tt in temps], dtype=torch.float32, device=x.device)
    probs = torch.softmax(x / t[:, None], dim=-1)
    noise = torch.empty_like(probs)
    for row, (tt, gen) in enumerate(zip(temps, gens, strict=True)):
        if tt:
            noise[row].exponential_(1, generator=gen)
    picked = (probs / noise).argmax(-1).tolist()
    return picked if greedy is None else [g if tt == 0 else p for g, p, tt in zip(greedy, picked, temps, strict=True)]


def pick_with_rule(logits: torch.Tensor, step: torch.Tensor | int | None, s: Sampling, gen: torch.Generator) -> int:
    """``pick_next`` under one step of a rule (module docstring): a forced id, a logit bias, or nothing."""
    if isinstance(step, int):
        return step
    return pick_next(logits if step is None else logits.float() + step, s, gen)


def start_ids(vocab: CharVocab, prompt: str | Sequence[int]) -> list[int]:
    """The prompt as ids; an empty prompt starts as after a line break (or the first known character)."""
    ids = vocab.encode(prompt).ids if isinstance(prompt, str) else list(prompt)
    return ids or ([vocab.id_of("\n")] if "\n" in vocab else [1])


def new_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A request's own random stream: ``seed``, or a fresh random seed when None."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed if seed is not None else torch.seed() % (2**63))
    return gen


def slid(context: list[int], pos: int, window: int) -> list[int] | None:
    """The ids to re-read when a GPT's cache is full (its last half window), else None: the one slide rule."""
    return context[-max(1, window // 2) :] if pos >= window else None


def find_stop(text: str, stop: Sequence[str]) -> int:
    """Where the first stop string in ``text`` begins, or -1: the one stop detector (``batched`` uses it too)."""
    return min((text.find(s) for s in stop if s in text), default=-1)


@torch.inference_mode()  # cheaper than no_grad: no version counters or views tracking
def sample_ids(
    model: torch.nn.Module, vocab: CharVocab, prompt: str | Sequence[int], s: Sampling, rule: Rule | None = None
) -> Iterator[int]:
    """Yield new ids one at a time (``s.stop`` is ``text_until_stop``'s job). ``rule`` steers each step."""
    ids = start_ids(vocab, prompt)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    gen = new_generator(s.seed, device)
    window = model.max_context
    context = ids[-window:] if window else ids  # the GPT sees at most its window; an RNN reads everything
    try:
        state = model.init_state(1)
        logits, state = model(torch.tensor([context], device=device), state)
        for n in range(s.max_new_chars):
            nxt = pick_with_rule(logits[0, -1], rule(n) if rule else None, s, gen)
            yield nxt
            if window:
                context.append(nxt)
                if (again := slid(context, state.pos, window)) is not None:  # the cache is full (module docstring)
                    context, state = again, model.init_state(1)
                    logits, state = model(torch.tensor([context], device=device), state)
                    continue
            logits, state = model(torch.tensor([[nxt]], device=device), state)
    finally:
        model.train(was_training)


def generate(loaded, prompt: str, s: Sampling = DEFAULT_SAMPLING) -> Iterator[str]:
    """Yield the continuation as it is produced, ending before the first of ``s.stop`` (not yielded)."""
    return text_until_stop(sample_ids(loaded.model, loaded.vocab, prompt, s), loaded.vocab.chars, s.stop)


def text_until_stop(
    ids: Iterator[int] | Iterator[list[int]], chars: Sequence[str], stop: Sequence[str] = ()
) -> Iterator[str]:
    """Turn ids (or lists of ids: ``batched.Request.chunks``, one piece per list) into text pieces, ending before
    the first stop string (held back while it might be starting). Closing this iterator closes ``ids`` (a batched
    request then leaves its batch)."""
    stop = [s for s in stop if s]
    hold = max((len(s) for s in stop), default=1) - 1
    pending = ""
    try:
        for i in ids:
            pending += chars[i - 1] if isinstance(i, int) else "".join([chars[j - 1] for j in i])
            if stop:
                cut = find_stop(pending, stop)
                if cut >= 0:
                    if cut:
                        yield pending[:cut]
                    return
                if len(pending) > hold:
                    yield pending[: len(pending) - hold]
                    pending = pending[len(pending) - hold :]
            else:
                yield pending
                pending = ""
        if pending:
            yield pending
    finally:
        close = getattr(ids, "close", None)
        if close is not None:
            close()
