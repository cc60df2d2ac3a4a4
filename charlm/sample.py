"""Streaming generation: temperature (0 = greedy), top-k, top-p, seed, max length and stop strings.

Each step feeds only the newest character: recurrent models carry their state, the GPT its key/value cache. When
the GPT's cache is full we slide the window: keep the most recent ``block_size // 2`` characters, re-run them as a
fresh prompt (positions restart at 0, which is what the model saw in training), and continue. That costs one
half-window forward every ``block_size // 2`` characters instead of a full window for every character.

A ``rule`` can steer each step (constrained decoding, e.g. ``charlm.poetry``'s quatrain form): given how many ids
were generated so far, it returns None (sample freely), a float vector added to the logits (-inf forbids an id),
or one id to force (fed to the model without sampling, so the state follows the text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from charlm.filtering import CANDIDATES, sample_top
from charlm.vocab import UNK_ID, CharVocab

Rule = Callable[[int], "torch.Tensor | int | None"]  # ids generated so far -> logit bias, forced id or None


def _filter_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    logits = logits.float() / temperature
    if top_k and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[..., -1, None]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0.0 < top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the tokens ranked above it already cover top_p (the top token always stays)
        drop = probs.cumsum(-1) - probs > top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def check_sampling(temperature: float, top_k: int, top_p: float, max_new_chars: int) -> None:
    if not temperature >= 0:
        raise ValueError(f"temperature must be 0 (greedy) or positive, not {temperature}")
    if top_k < 0:
        raise ValueError(f"top-k must be 0 (off) or positive, not {top_k}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top-p must be in (0, 1], not {top_p}")
    if max_new_chars < 0:
        raise ValueError(f"max new characters must be 0 or more, not {max_new_chars}")


def pick_next(logits: torch.Tensor, temperature: float, top_k: int, top_p: float, gen: torch.Generator) -> int:
    """Draw the next id from one row of logits (modified in place). The unknown id is never drawn.

    The one sampling rule of charlm: ``sample_ids`` and the batched ``charlm.decoding`` both call it, each request
    with its own generator, so a seed gives the same draws whichever path decodes it. Above 1,024 ids (Chinese)
    the filter sorts only the best candidates and draws among the kept ids (``charlm.filtering``): the same
    distribution, several times cheaper than sorting and drawing over all of them.
    """
    last = logits.float()
    last[UNK_ID] = float("-inf")
    if temperature == 0:
        return int(torch.argmax(last))
    if last.shape[-1] > CANDIDATES:
        return int(sample_top(last, temperature, top_k, top_p, generator=gen))
    probs = torch.softmax(_filter_logits(last, temperature, top_k, top_p), dim=-1)
    return int(torch.multinomial(probs, 1, generator=gen))


def pick_with_rule(logits: torch.Tensor, step: torch.Tensor | int | None, temperature: float, top_k: int,
                   top_p: float, gen: torch.Generator) -> int:  # fmt: skip
    """``pick_next`` under one step of a rule (module docstring): a forced id, a logit bias, or nothing."""
    if isinstance(step, int):
        return step
    return pick_next(logits if step is None else logits.float() + step, temperature, top_k, top_p, gen)


def start_ids(vocab: CharVocab, prompt: str | Sequence[int]) -> list[int]:
    """The prompt as ids; an empty prompt starts as after a line break (or the first known character)."""
    ids = vocab.encode(prompt).ids if isinstance(prompt, str) else list(prompt)
    return ids or ([vocab.id_of("\n")] if "\n" in vocab else [1])


def new_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A request's own random stream: ``seed``, or a fresh random seed when None."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed if seed is not None else torch.seed() % (2**63))
    return gen


@torch.inference_mode()  # cheaper than no_grad: no version counters or views tracking
def sample_ids(
    model: torch.nn.Module,
    vocab: CharVocab,
    prompt: str | Sequence[int],
    *,
    max_new_chars: int = 200,
    temperature: float = 0.8,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    rule: Rule | None = None,
) -> Iterator[int]:
    """Yield new ids one at a time. The unknown id is never sampled; ``rule`` steers each step (see above)."""
    check_sampling(temperature, top_k, top_p, max_new_chars)
    ids = start_ids(vocab, prompt)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    gen = new_generator(seed, device)
    window = model.max_context
    keep = max(1, window // 2) if window else None
    context = ids[-window:] if window else ids  # the GPT sees at most its window; an RNN reads everything
    try:
        state = model.init_state(1)
        logits, state = model(torch.tensor([context], device=device), state)
        for n in range(max_new_chars):
            nxt = pick_with_rule(logits[0, -1], rule(n) if rule else None, temperature, top_k, top_p, gen)
            yield nxt
            if window:
                context.append(nxt)
                if state.pos >= window:  # the cache is full: slide (see module docstring)
                    context = context[-keep:]
                    state = model.init_state(1)
                    logits, state = model(torch.tensor([context], device=device), state)
                    continue
            logits, state = model(torch.tensor([[nxt]], device=device), state)
    finally:
        model.train(was_training)


def generate(
    loaded,
    prompt: str,
    *,
    max_new_chars: int = 200,
    temperature: float = 0.8,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    stop: Sequence[str] = (),
) -> Iterator[str]:
    """Yield the continuation as it is produced. Text that might begin a stop string is held back until it is
    clear, and generation ends before the stop string (which is not yielded)."""
    ids = sample_ids(loaded.model, loaded.vocab, prompt, max_new_chars=max_new_chars, temperature=temperature,
                     top_k=top_k, top_p=top_p, seed=seed)  # fmt: skip
    return text_until_stop(ids, loaded.vocab.chars, stop)


def text_until_stop(ids: Iterator[int], chars: Sequence[str], stop: Sequence[str] = ()) -> Iterator[str]:
    """Turn ids into text pieces, ending before the first stop string (held back while it might be starting).
    Closing this iterator closes ``ids`` (a batched request then leaves its batch)."""
    stop = [s for s in stop if s]
    hold = max((len(s) for s in stop), default=1) - 1
    pending = ""
    try:
        for i in ids:
            pending += chars[i - 1]
            if stop:
                cut = min((pending.find(s) for s in stop if s in pending), default=-1)
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
