"""The Chat tab: talk to a character-level model as a play script (dialogue) or let it continue your text; below
the chat, poem mode (``charlm.ui.poem_panel``).

The page uses a ``gr.ChatInterface`` (``/chat_stream``); API users get ``/chat``, which streams plain strings.
Both run the same generator, so the page and the API always agree. Replies are decoded by the model's shared
batching engine (``charlm.generation.batched``): every reply in progress advances in one forward pass per
character, and a stopped reply (Stop, a closed tab) leaves the batch at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import replace

import gradio as gr

from charlm.errors import CharlmError, PoetryError
from charlm.generation.batched import generate_batched
from charlm.generation.settings import Sampling
from charlm.poetry import to_simplified, to_traditional, writes_poems
from charlm.poetry.write import clean_title
from charlm.storage.checkpoint import LoadedModel
from charlm.ui.common import Number, Slider, as_number, session_key, user_errors
from charlm.ui.gpu import gpu_task
from charlm.ui.i18n import chars_list, choices, lang_of, late_label, t, ui_text
from charlm.ui.limits import Limits
from charlm.ui.poem_panel import build_poem_panel

MODES = ("dialogue", "completion")
DEFAULT_YOU, DEFAULT_THEM = "ROMEO", "JULIET"
RECURRENT_CONTEXT = 4000  # recurrent models have no hard window; cap the prompt so replies start quickly

Resolver = Callable[[str, str], LoadedModel]  # (model name, session key) -> model


def _text_of(content) -> str:
    """Message content is a string, a dict, or (Gradio 6) a list of parts; keep only text, verbatim."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return _text_of(content.get("content", content.get("text", "")))
    if isinstance(content, (list, tuple)):
        return "".join(p.get("text", "") if isinstance(p, dict) else _text_of(p) for p in content)
    return ""


def _turns(history: list | None) -> list[tuple[str, str]]:
    """(user, model) pairs from the chat history, oldest first."""
    turns: list[tuple[str, str]] = []
    for msg in history or []:
        role, said = msg.get("role"), _text_of(msg.get("content"))
        if role == "user":
            turns.append((said, ""))
        elif role == "assistant" and turns:
            turns[-1] = (turns[-1][0], turns[-1][1] + said)
    return turns


def build_prompt(turns: list[tuple[str, str]], message: str, mode: str, you: str, them: str) -> str:
    """The text the model continues. Dialogue: ``YOU:\\n…\\n\\nTHEM:\\n`` blocks, as in a play script.
    Completion: the message alone (earlier turns are not continued; each message is a new text)."""
    if mode == "completion":
        return message
    return "".join(_dialogue_blocks(turns, you, them)) + _dialogue_tail(message, you, them)


def _dialogue_blocks(turns: list[tuple[str, str]], you: str, them: str) -> list[str]:
    return [f"{you}:\n{u.strip(chr(10))}\n\n{them}:\n{b.strip(chr(10))}\n\n" for u, b in turns]


def _dialogue_tail(message: str, you: str, them: str) -> str:
    return f"{you}:\n{message.strip(chr(10))}\n\n{them}:\n"


def _poem_blocks(turns: list[tuple[str, str]]) -> list[str]:
    """A poem model's corpus is ``title:poem`` lines: each earlier turn is one such line."""
    return [f"\n{clean_title(u)}:{b.strip()}" for u, b in turns]


def fit_prompt(blocks: list[str], tail: str, window: int) -> tuple[str, int, bool]:
    """The prompt that fits ``window`` characters: the newest whole turns that fit before ``tail`` (the current
    message), then ``tail``, cut at its start only when it alone is longer than the window. Returns (prompt, number
    of earlier turns left out, whether the message itself was cut), so a notice is shown only when the model really
    misses something."""
    if len(tail) >= window:
        return tail[-window:], len(blocks), len(tail) > window
    kept, used = [], len(tail)
    for block in reversed(blocks):
        if used + len(block) > window:
            break
        kept.append(block)
        used += len(block)
    return "".join(reversed(kept)) + tail, len(blocks) - len(kept), False


def stop_strings(mode: str, you: str) -> list[str]:
    """Dialogue: the model's turn ends at a blank line (a new speech) or when it starts speaking as you."""
    return ["\n\n", f"\n{you}:"] if mode == "dialogue" else []


def _to_model_script(text: str, loaded: LoadedModel, notes: set[str]) -> str:
    """A poem model learned traditional characters: convert what the user typed (as poem mode does)."""
    try:
        converted = to_traditional(text, loaded.vocab)
    except PoetryError:  # no OpenCC: used as typed
        return text
    if converted != text:
        notes.add("converted")
    return converted


def reply_stream(
    loaded: LoadedModel,
    turns: list[tuple[str, str]],
    message: str,
    *,
    mode: str,
    you: str,
    them: str,
    temperature: float,
    top_k: int,
    top_p: float,
    max_new_chars: int,
    seed: int,
    limits: Limits,
    lang: str = "en",
) -> Iterator[tuple[str, str]]:
    """Yield (reply so far, notice). Notices (unknown characters, context cut) are shown beside the chat, in
    ``lang`` (``charlm.ui.i18n``).

    A poem model (``charlm.poetry.writes_poems``) is not given a play script it never saw: in dialogue mode each
    message is a title and the reply the poem after it (one corpus line), the message is converted to the model's
    traditional characters and the reply shown in simplified ones to a simplified-Chinese reader or to one who
    typed simplified characters, as poem mode does."""
    if mode not in MODES:
        raise CharlmError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    you, them = (you or DEFAULT_YOU).strip() or DEFAULT_YOU, (them or DEFAULT_THEM).strip() or DEFAULT_THEM
    temperature, top_p = as_number(temperature, "temperature"), as_number(top_p, "top_p")
    top_k, n = as_number(top_k, "top_k", integer=True), as_number(max_new_chars, "max_new_chars", integer=True)
    seed = None if seed is None else as_number(seed, "seed", integer=True)
    sampling = Sampling(float(temperature), int(top_k), float(top_p), n, None if seed is None or seed < 0 else seed)
    if n > limits.max_new_chars:  # the page's slider stops at the limit; an API client is told, not cut short
        raise CharlmError(ui_text(lang, "chat.error.limit", asked=f"{n:,}", n=f"{limits.max_new_chars:,}"))
    window = loaded.model.max_context or RECURRENT_CONTEXT
    message, notices, stops = message or "", [], stop_strings(mode, you)
    poems, script_notes = writes_poems(loaded.vocab), set()
    if poems:
        turns = [(_to_model_script(u, loaded, script_notes), _to_model_script(b, loaded, set())) for u, b in turns]
        message = _to_model_script(message, loaded, script_notes)
        notices.append(ui_text(lang, "chat.notice.poems" if mode == "dialogue" else "chat.notice.poems_completion"))
    if mode == "completion":
        blocks, tail = [], message
    elif poems:
        blocks, tail, stops = _poem_blocks(turns), f"\n{clean_title(message)}:", ["\n"]
    else:
        blocks, tail = _dialogue_blocks(turns, you, them), _dialogue_tail(message, you, them)
    prompt, dropped, cut = fit_prompt(blocks, tail, window)
    if cut:
        notices.append(ui_text(lang, "chat.notice.context_cut", n=f"{window:,}"))
    elif dropped:
        notices.append(ui_text(lang, "chat.notice.context", n=f"{window:,}", k=dropped, total=len(blocks)))
    unknown = loaded.vocab.encode(prompt).unknown
    if unknown:
        notices.append(ui_text(lang, "chat.notice.unknown", chars=chars_list(lang, unknown)))
    simplified = poems and (lang == "zh-CN" or "converted" in script_notes)
    if poems and simplified:
        notices.append(ui_text(lang, "chat.notice.simplified"))
    notice = " ".join(f"⚠ {x}" for x in notices)

    def shown(text: str) -> str:
        if not simplified:
            return text
        try:
            return to_simplified(text)
        except PoetryError:
            return text

    reply = ""
    yield reply, notice
    # One page update per character costs more than generating it: the engine hands this reply its characters
    # at most every ``limits.chat_stream_every`` s, or every ``live replies / limits.chat_updates_per_s`` s when
    # that is longer (all those since the last; the first at once), and this thread sleeps in between.
    sampling = replace(sampling, stop=tuple(stops))
    pieces = generate_batched(
        loaded, prompt, sampling, capacity=limits.chat_concurrency, every=limits.chat_stream_every,
        nice=limits.decoding_nice, updates_per_s=limits.chat_updates_per_s,
    )  # fmt: skip
    with closing(pieces):  # a cancelled reply (this generator closed) leaves the decoding batch at once
        for piece in pieces:
            reply += piece
            yield shown(reply), notice
    if not reply:
        yield reply, (notice + " " if notice else "") + ui_text(lang, "chat.notice.empty")


def _as_message(text: str) -> dict:
    # the dict form skips the Chatbot's inspect.cleandoc(), so spaces and newlines stay exactly as generated
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def build_chat_tab(model_picker: gr.Dropdown, resolve: Resolver, limits: Limits, default_model: str = "") -> None:
    """Create the Chat tab (inside the app's Blocks) and the ``/chat`` and ``/chat_stream`` endpoints."""
    max_new_default = min(300, limits.max_new_chars)
    with gr.Tab(t("chat.tab"), elem_id="tab-chat"):
        gr.Markdown(t("chat.intro"))
        with gr.Row():
            modes = choices([("chat.mode.dialogue", "dialogue"), ("chat.mode.completion", "completion")])
            mode = gr.Radio(
                modes, value="dialogue", label=t("chat.mode"), info=t("chat.mode.info"), elem_id="chat-mode"
            )
            you = gr.Textbox(DEFAULT_YOU, label=t("chat.you"), elem_id="chat-you", max_lines=1)
            them = gr.Textbox(DEFAULT_THEM, label=t("chat.them"), elem_id="chat-them", max_lines=1)
        notice = gr.Markdown(elem_id="chat-notice")
        # a notice belongs to the reply it came with: a new mode or model clears it
        for changed in (mode, model_picker):
            changed.change(lambda: "", None, notice, api_visibility="private", queue=False, show_progress="hidden")
        sampling = [
            late_label(Slider(0.0, 2.0, 0.8, step=0.05, render=False, info=t("chat.temperature.info")),
                       "chat.temperature"),
            late_label(Slider(0, 100, 0, step=1, render=False, info=t("chat.top_k.info")), "chat.top_k"),
            late_label(Slider(0.05, 1.0, 1.0, step=0.05, render=False, info=t("chat.top_p.info")), "chat.top_p"),
            late_label(Slider(1, limits.max_new_chars, max_new_default, step=1, render=False), "chat.max_new"),
            Number(-1, precision=0, label=t("chat.seed"), render=False, info=t("chat.seed.info")),
        ]  # fmt: skip

        @gpu_task(duration=120)  # ZeroGPU: decode on the GPU; elsewhere unchanged
        @user_errors
        def chat_page(
            message, history, model, mode_, you_, them_, temperature, top_k, top_p, max_new, seed,
            request: gr.Request = None,
        ):  # fmt: skip
            # ChatInterface keeps this function's signature, so Gradio fills in ``request`` (the user's session).
            key = session_key(request)
            loaded = resolve(model or default_model, key)
            for reply, note in reply_stream(
                loaded, _turns(history), message, mode=mode_, you=you_, them=them_, temperature=temperature,
                top_k=top_k, top_p=top_p, max_new_chars=max_new, seed=seed, limits=limits, lang=lang_of(request),
            ):  # fmt: skip
                yield _as_message(reply), note

        gr.ChatInterface(
            chat_page,
            chatbot=late_label(
                gr.Chatbot(elem_id="chatbot", height=420, render_markdown=False, buttons=["copy", "copy_all"]),
                "chat.conversation",
            ),  # fmt: skip
            textbox=gr.Textbox(
                elem_id="prompt",
                placeholder=t("chat.placeholder"),
                lines=1,
                submit_btn=True,
                stop_btn=True,
                label=t("chat.message"),
            ),  # fmt: skip
            additional_inputs=[model_picker, mode, you, them, *sampling],
            additional_inputs_accordion=gr.Accordion(t("chat.sampling"), open=False, render=False),
            additional_outputs=[notice],
            api_name="chat_stream",
            concurrency_limit=limits.chat_concurrency,
            fill_height=False,
        )

        @gpu_task(duration=120)
        @user_errors
        def chat(
            message: str,
            model: str = default_model,
            mode: str = "dialogue",
            you: str = DEFAULT_YOU,
            them: str = DEFAULT_THEM,
            temperature: float = 0.8,
            top_k: int = 0,
            top_p: float = 1.0,
            max_new_chars: int = max_new_default,
            seed: int = -1,
            request: gr.Request = None,
        ) -> Iterator[str]:
            """Reply to one message (no history): streams the reply so far as a plain string."""
            key = session_key(request)
            loaded = resolve(model or default_model, key)
            for reply, _ in reply_stream(
                loaded, [], message, mode=mode, you=you, them=them, temperature=temperature, top_k=top_k,
                top_p=top_p, max_new_chars=max_new_chars, seed=seed, limits=limits, lang=lang_of(request),
            ):  # fmt: skip
                yield reply

        gr.api(chat, api_name="chat", concurrency_limit=limits.chat_concurrency)
        build_poem_panel(model_picker, resolve, limits, default_model)
