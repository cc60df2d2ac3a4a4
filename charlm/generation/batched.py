"""Batched decoding: one loop per model serves every active request with one forward pass per character.

Why: one decoding step of a small model is bound by reading its weights and by per-operator overhead, not by
arithmetic, so advancing 8 texts costs barely more than advancing 1 (docs/benchmarks.md). Eight chat replies
decoded separately, in 8 threads on 2 cores, contend for the cores and all slow down; decoded together they
share one forward per character.

How (continuous batching):

- ``DecodingEngine`` owns a background thread and up to ``capacity`` rows. A request joins between steps: its
  prompt is pre-filled alone (batch 1, the model's ordinary ``forward``, exactly as ``sample`` does), its first
  character is drawn from that pre-fill, and its key/value cache (GPT) or recurrent state is copied into a free
  row.
- Each step advances every row by one character (``model.decode_step``), then draws one character per row with
  that request's own ``Sampling`` and its own ``torch.Generator``: the rows without top-k/top-p all at once
  (``sample.pick_many``: one softmax for the batch, each generator drawing its row's noise), the others one by one
  (``sample.pick_next``); both give the same ids for the same seed.
- A caller reads its ids one by one (``Request.ids``) or in lists paced by time (``Request.chunks``): a chat
  stream wakes ~25 times a second whatever the batch's speed, not once per character (issue 22).
- A row leaves when it reaches its length, when a stop string completes, or at once when its caller stops
  listening (closes the iterator); the last row moves into its place, so the live rows are always 0..n-1.
- The GPT slides its window by ``sample.slid``: when a row's cache is full it keeps its last ``block_size // 2``
  characters and pre-fills them again, alone; the other rows are untouched. A stop string is spotted by
  ``sample.find_stop``, the detector ``text_until_stop`` uses.

Equivalence: a request decoded alone runs the same algorithm as ``sample.sample_ids`` (the same pre-fills,
one-character steps and slides, the generator consumed identically), so it draws the same characters for the same
seed, fp32 or int8: the GPT's logits are bit for bit the sampler's; a recurrent model's fp32 cells agree with its
fused layer to float rounding (~1e-6, so a draw could in principle flip on a near tie). Rows
decoded together get the same next-character distribution in fp32. With an int8 model (``charlm.models.quantize``)
activations are quantized with one scale per tensor, i.e. over all rows of a step, so a row's probabilities move
slightly (~1e-2) with the other rows in its batch: same quality, not bit-reproducible.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from charlm.generation.sample import (
    batchable,
    find_stop,
    new_generator,
    pick_many,
    pick_next,
    slid,
    start_ids,
    text_until_stop,
)
from charlm.generation.settings import Sampling
from charlm.vocab import CharVocab

# Rows decoded together; more requests wait for a free row. 32: a class of 30 is served at once, and a step of 32
# rows of the shipped GPT costs ~2.7x one of 8 for 4x the characters (docs/benchmarks.md, "A classroom").
DEFAULT_CAPACITY = 32
IDLE_CHECK_SECONDS = 30.0  # an idle loop wakes this often to see whether its model still exists


@dataclass(eq=False)
class Request:
    """One text being generated. The engine writes ids to ``out`` (then None, or the exception that ended it)."""

    prompt: list[int]
    sampling: Sampling
    gen: torch.Generator
    chars: Sequence[str]
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    left: threading.Event = field(default_factory=threading.Event)  # set once the row has left the batch
    generated: int = 0
    tail: str = ""  # the last characters, to spot a stop string
    context: list[int] = field(default_factory=list)  # GPT: the ids its window holds (for a slide)
    next_id: int = 0  # the id the next step feeds to this row (its newest character)
    filled: int = 0  # GPT: the cache slots this row has filled (its position), kept here to spare a tensor read
    pump: Callable[[], bool] | None = None  # an engine without a thread: reading steps the batch
    live: Callable[[], int] | None = None  # how many requests its engine is serving now (rows and waiting)

    def cancel(self) -> None:
        self.cancelled.set()

    def ids(self) -> Iterator[int]:
        """The generated ids, as they come. Closing this iterator (or leaving a for loop early) cancels."""
        try:
            for chunk in self.chunks():
                yield from chunk
        finally:
            self.cancel()

    def chunks(self, every: float = 0.0, updates_per_s: float = 0.0) -> Iterator[list[int]]:
        """The generated ids in lists: each holds every id that came since the last list (at least one).

        With ``every`` > 0 (a background engine), a list is read at most every ``every`` seconds: meanwhile the
        ids wait in the queue, so a streaming caller wakes ~1/every times a second instead of once per character,
        and its thread costs the server nothing in between. With ``updates_per_s`` > 0 as well, the lists of all
        the engine's live requests together come at most that many times a second: each waits ``live /
        updates_per_s`` seconds when that is longer (a class of 30 gets fewer, fuller updates; one reply alone
        still streams every ``every``). Closing this iterator cancels the request.
        """
        every = every if self.pump is None else 0.0  # stepped by the reader itself: waiting would only stall it
        read_at = None
        try:
            while True:
                pace = max(every, self.live() / updates_per_s) if every and updates_per_s and self.live else every
                if pace and read_at is not None and (wait := pace - (time.perf_counter() - read_at)) > 0:
                    time.sleep(wait)
                while self.pump is not None and self.out.empty() and self.pump():
                    pass
                item, got = self.out.get(), []
                while item is not None and not isinstance(item, BaseException):
                    got.append(item)
                    try:
                        item = self.out.get_nowait()
                    except queue.Empty:
                        break
                if got:
                    read_at = time.perf_counter()
                    yield got
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
        finally:
            self.cancel()

    def emit(self, nxt: int) -> bool:
        """Hand ``nxt`` to the caller; True when this request is finished (length or stop string)."""
        self.out.put(nxt)
        self.generated += 1
        stop = self.sampling.stop
        if stop:
            self.tail = (self.tail + self.chars[nxt - 1])[-max(map(len, stop)) :]
            if find_stop(self.tail, stop) >= 0:  # (a stop string ending earlier would have ended the row then)
                return True
        return self.generated >= self.sampling.max_new_chars


class _GPTRows:
    """The batch's key/value cache (``capacity`` rows of the full window) and each row's position."""

    def __init__(self, model, capacity: int) -> None:
        self.model, self.T, self.capacity = model, model.max_context, capacity
        self.cache = model.init_state(capacity)
        self.pos = torch.zeros(capacity, dtype=torch.long, device=self.cache.k.device)
        self.scratch = model.init_state(1)  # each pre-fill's own cache, reused (a fresh 1.5 MB one per joiner showed
        # in the profile of a class joining at once; a pre-fill never reads beyond what it writes)

    def start(self, row: int, req: Request, ids: list[int]) -> torch.Tensor:
        """Pre-fill ``ids`` (at most a window) alone, copy its cache into ``row``; the next-character logits.

        Alone, not grouped with the other joiners: 64 pre-fills of the shipped GPT's window cost the same one by one
        as in groups of 8 to 64 (1,153 vs 1,071-1,194 ms), and one by one each reply's first character comes as
        soon as its own pre-fill is done (docs/benchmarks.md, "A classroom")."""
        req.context = ids[-self.T :]
        n = len(req.context)
        state = self.scratch.first_rows(1)
        logits, _ = self.model(torch.tensor([req.context], device=self.pos.device), state)
        self.cache.k[:, row, :, :n] = state.k[:, 0, :, :n]
        self.cache.v[:, row, :, :n] = state.v[:, 0, :, :n]
        self.pos[row] = req.filled = n
        return logits[0, -1]

    def step(self, rows: list[Request], ids: torch.Tensor) -> torch.Tensor:
        n = len(rows)
        logits, _ = self.model.decode_step(ids, self.cache, self.pos[:n])
        self.pos[:n] += 1
        for req in rows:
            req.filled += 1
        return logits

    def advance(self, row: int, req: Request, nxt: int) -> torch.Tensor | None:
        """Feed ``nxt`` at the next step (None); when the window is full, slide instead: restart the row from its
        most recent text and return the logits of that pre-fill."""
        req.context.append(nxt)
        if (again := slid(req.context, req.filled, self.T)) is not None:
            return self.start(row, req, again)
        req.context = req.context[-self.T :]
        req.next_id = nxt
        return None

    def move(self, src: int, dst: int) -> None:
        self.cache.k[:, dst] = self.cache.k[:, src]
        self.cache.v[:, dst] = self.cache.v[:, src]
        self.pos[dst] = self.pos[src]


class _RecurrentRows:
    """The batch's recurrent state, whatever the model's: a tensor or a tuple of tensors (an LSTM's ``h``, ``c``),
    each with the batch on dim 1. Its rows are allocated at the first pre-fill, shaped like that state."""

    def __init__(self, model, capacity: int) -> None:
        self.model, self.capacity = model, capacity
        self.device = next(model.parameters()).device
        self.parts: tuple[torch.Tensor, ...] | None = None
        self.is_tuple = False

    def start(self, row: int, req: Request, ids: list[int]) -> torch.Tensor:
        """Read the whole prompt alone (one call: the fused layer is fast for many positions) into ``row``."""
        logits, state = self.model(torch.tensor([ids], device=self.device), None)
        self.is_tuple = isinstance(state, tuple)
        parts = state if self.is_tuple else (state,)
        if self.parts is None:
            self.parts = tuple(p.new_zeros(p.shape[0], self.capacity, *p.shape[2:]) for p in parts)
        for mine, p in zip(self.parts, parts, strict=True):
            mine[:, row] = p[:, 0]
        return logits[0, -1]

    def step(self, reqs: list[Request], ids: torch.Tensor) -> torch.Tensor:
        n = len(reqs)
        rows = tuple(p[:, :n].contiguous() for p in self.parts)
        logits, state = self.model.decode_step(ids, rows if self.is_tuple else rows[0], None)
        for mine, p in zip(self.parts, state if self.is_tuple else (state,), strict=True):
            mine[:, :n] = p
        return logits

    def advance(self, row: int, req: Request, nxt: int) -> None:
        req.next_id = nxt  # no window: the state carries everything

    def move(self, src: int, dst: int) -> None:
        for p in self.parts:
            p[:, dst] = p[:, src]


class DecodingEngine:
    """One model's decoding loop: a background thread that serves every submitted request in one batch.

    The engine keeps only a weak reference to its model while idle, so a model that is no longer used (a session
    model re-read after training saved it again) is freed together with its engine.
    """

    def __init__(
        self, model: torch.nn.Module, capacity: int = DEFAULT_CAPACITY, background: bool = True, nice: int = 0
    ) -> None:
        self.capacity = capacity
        self.nice = nice  # > 0: the background thread yields the CPU to the server's other threads (Linux)
        self.background = background  # False: the callers' own threads step the batch while they read (the CLI)
        self._model = weakref.ref(model)
        self._device = next(model.parameters()).device
        self._gpt = model.max_context is not None
        self._cond = threading.Condition()
        self._pending: list[Request] = []
        self._rows: list[Request] = []  # the live rows, in batch order
        self._batch = None  # _GPTRows / _RecurrentRows while any request is live
        self._step_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.steps = 0  # batched steps taken (for tests and benchmarks)
        self.rows_stepped = 0  # sum of the batch sizes of those steps

    def submit(self, vocab: CharVocab, prompt: str | Sequence[int], s: Sampling) -> Request:
        """Queue one request; it joins the batch before the next step. Read its ids with ``request.ids()``."""
        req = Request(start_ids(vocab, prompt), s, new_generator(s.seed, self._device), vocab.chars)
        if s.max_new_chars == 0:
            req.out.put(None)
            req.left.set()
            return req
        if not self.background:
            req.pump = self._pump
        req.live = self.live
        with self._cond:
            self._pending.append(req)
            if self.background and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="charlm-decoding", daemon=True)
                self._thread.start()
            self._cond.notify()
        return req

    def live(self) -> int:
        """Requests being served now: the batch's rows and those waiting for one (read without a lock: a count)."""
        return len(self._rows) + len(self._pending)

    def stream(self, vocab: CharVocab, prompt: str | Sequence[int], s: Sampling) -> Iterator[int]:
        """Submit, then yield the ids as they come (closing the iterator cancels the request)."""
        return self.submit(vocab, prompt, s).ids()

    # --- the loop -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        """The background thread: wait for requests, step until none is left, wait again."""
        if self.nice > 0 and hasattr(os, "setpriority"):  # on Linux a thread is a task with its own priority
            try:
                os.setpriority(
                    os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + self.nice
                )
            except OSError:
                pass
        while True:
            with self._cond:
                while not self._pending:
                    if not self._cond.wait(timeout=IDLE_CHECK_SECONDS) and self._model() is None:
                        self._thread = None
                        return
            model = self._model()
            if model is None:  # the model is gone: nothing can be served
                self._fail_pending(RuntimeError("the model was unloaded"))
                return
            with self._step_lock:
                while self._step(model):
                    pass
            del model  # idle: hold the model only weakly

    def _pump(self) -> bool:
        """One step in the caller's thread (``background=False``); False when nothing is left to do."""
        model = self._model()
        if model is None:
            self._fail_pending(RuntimeError("the model was unloaded"))
            return False
        with self._step_lock:
            return self._step(model)

    @torch.inference_mode()
    def _step(self, model) -> bool:
        """Let requests leave and join, then advance every row by one character. False once nothing is left."""
        rows = self._rows
        try:
            if self._batch is None:
                self._batch = (_GPTRows if self._gpt else _RecurrentRows)(model, self.capacity)
            batch = self._batch
            self._drop_cancelled(rows, batch)
            self._admit(rows, batch)
            if not rows:  # (joiners may all have finished on their first character)
                with self._cond:
                    if self._pending:
                        return True
                self._batch = None  # free the cache while idle
                return False
            ids = torch.tensor([r.next_id for r in rows], device=self._device)
            logits = batch.step(rows, ids)
            self.steps, self.rows_stepped = self.steps + 1, self.rows_stepped + len(rows)
            live = [i for i, r in enumerate(rows) if not r.cancelled.is_set()]  # a cancelled row leaves next step
            picks = self._pick_together(rows, live, logits)
            for i in reversed(live):  # reversed: a leaving row is replaced by a later one, already drawn
                self._draw(rows, batch, i, logits[i], picks.get(i))
            return True
        except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error instead of hanging
            for req in rows:
                req.out.put(exc)
                req.left.set()
            rows.clear()
            self._batch = None
            self._fail_pending(exc)
            return False

    @staticmethod
    def _pick_together(rows: list[Request], live: list[int], logits: torch.Tensor) -> dict[int, int]:
        """The next id of every row ``sample.batchable`` allows, drawn in one tensor operation (row -> id)."""
        V = logits.shape[-1]
        together = [i for i in live if batchable(rows[i].sampling, V)]
        if not together:
            return {}
        sub = logits if len(together) == logits.shape[0] else logits[torch.tensor(together, device=logits.device)]
        ids = pick_many(sub, [rows[i].sampling for i in together], [rows[i].gen for i in together])
        return dict(zip(together, ids, strict=True))

    def _draw(self, rows: list[Request], batch, i: int, logits: torch.Tensor, nxt: int | None = None) -> None:
        """Draw row ``i``'s next character (``nxt`` when already drawn with the batch); it leaves when finished, or
        a GPT row whose window is full slides and draws again from its re-read text (as ``sample.sample_ids``)."""
        req = rows[i]
        while logits is not None:
            if nxt is None:
                nxt = pick_next(logits, req.sampling, req.gen)
            if req.emit(nxt):
                self._leave(rows, batch, i, None)
                return
            logits, nxt = batch.advance(i, req, nxt), None

    def _admit(self, rows: list[Request], batch) -> None:
        """Pending requests join while rows are free: each is pre-filled alone and draws its first character."""
        with self._cond:
            free = batch.capacity - len(rows)  # the rows allocated now (engine_for may raise self.capacity)
            joining, self._pending = self._pending[:free], self._pending[free:]
        for req in joining:
            if req.cancelled.is_set():
                req.out.put(None)
                req.left.set()
                continue
            rows.append(req)
            self._draw(rows, batch, len(rows) - 1, batch.start(len(rows) - 1, req, req.prompt))

    def _drop_cancelled(self, rows: list[Request], batch) -> None:
        for i in reversed(range(len(rows))):
            if rows[i].cancelled.is_set():
                self._leave(rows, batch, i, None)

    def _leave(self, rows: list[Request], batch, i: int, end) -> None:
        """Row ``i`` leaves; the last row moves into its place so that live rows stay 0..n-1."""
        req, last = rows[i], len(rows) - 1
        if i != last:
            batch.move(last, i)
            rows[i] = rows[last]
        rows.pop()
        req.out.put(end)
        req.left.set()

    def _fail_pending(self, exc: BaseException) -> None:
        with self._cond:
            pending, self._pending = self._pending, []
        for req in pending:
            req.out.put(exc)
            req.left.set()


_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_ENGINES_LOCK = threading.Lock()


def engine_for(model: torch.nn.Module, capacity: int = DEFAULT_CAPACITY, nice: int = 0) -> DecodingEngine:
    """The one engine of ``model`` (created on first use). A larger ``capacity`` raises the engine's, taking
    effect when the loop next starts a batch; ``nice`` is the loop thread's priority offset (at creation)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(model)
        if engine is None:
            engine = _ENGINES[model] = DecodingEngine(model, capacity, nice=nice)
        engine.capacity = max(engine.capacity, capacity)
        return engine


def generate_batched(
    loaded,
    prompt: str,
    s: Sampling,
    capacity: int = DEFAULT_CAPACITY,
    every: float = 0.0,
    nice: int = 0,
    updates_per_s: float = 0.0,
) -> Iterator[str]:
    """``sample.generate`` through the model's shared engine: the same text for the same seed, decoded in one batch
    (of up to ``capacity`` rows) with every other request to this model. With ``every`` > 0 the pieces come at
    most every ``every`` seconds (and, with ``updates_per_s``, at most that many a second for all the engine's
    requests together), each with all the characters since the last (``Request.chunks``): what a streaming page
    shows. Closing the iterator cancels it."""
    req = engine_for(loaded.model, capacity, nice).submit(loaded.vocab, prompt, s)
    pieces = req.chunks(every, updates_per_s) if every > 0 else req.ids()
    return text_until_stop(pieces, loaded.vocab.chars, s.stop)


__all__ = ["DecodingEngine", "Request", "engine_for", "generate_batched", "DEFAULT_CAPACITY"]
