"""Reliability probes against a real app server: oversized requests, concurrency, bad numbers, memory.

Each probe is what an attacker (or an unlucky user) can send to the public link. A fresh ``python app.py`` serves
each group of probes; every probe has a wall-clock limit, and the report says what happened (refused with which
message, or done), how long it took and what the server's memory did.

    python bench/reliability.py                       # every probe against this checkout
    python bench/reliability.py --app-dir ../old      # the same probes against another checkout (before/after)
    python bench/reliability.py --only train,score    # some probes

Results go to docs/reliability.md (copied by hand, with the command). The kill -9 and disk-growth checks are in
``bench/durability.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from _common import CORPUS, REPO, header
from bench_app import free_port, proc_mem

PROBE_LIMIT = 90.0  # seconds a probe may take before it counts as "held the server"


class Server:
    """``python app.py`` in a subprocess with its own storage folder; memory read from /proc."""

    def __init__(self, app_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.storage = tempfile.mkdtemp(prefix="charlm-rel-")
        full_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "CHARLM_STORAGE": self.storage,
                    "GRADIO_TEMP_DIR": str(Path(self.storage) / "gradio-tmp"), **env}  # fmt: skip
        self.log = open(Path(self.storage) / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port), "--host", "127.0.0.1"],
                                     cwd=app_dir, env=full_env, stdout=self.log, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.time() + 300  # a loaded 2-core machine starts slowly
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"app.py exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("app.py did not serve within 300 s")

    def mem_mb(self) -> tuple[float, float]:
        """(RSS now, peak RSS) in MB."""
        vals = proc_mem(self.proc.pid)
        return vals["VmRSS"], vals["VmHWM"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_probe(server: Server, name: str, fn: Callable[[], str], limit: float = PROBE_LIMIT) -> dict:
    """Run ``fn`` in a thread; record its outcome, duration and the server's memory around it."""
    rss0, _ = server.mem_mb()
    box: dict = {}

    def target() -> None:
        try:
            box["outcome"] = "done: " + fn()
        except Exception as exc:  # noqa: BLE001 - the outcome is what we report
            box["outcome"] = f"refused: {type(exc).__name__}: {str(exc)[:200]}"

    t0 = time.perf_counter()
    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(limit)
    dt = time.perf_counter() - t0
    rss1, peak = server.mem_mb()
    outcome = box.get("outcome", f"still running after {limit:.0f} s (abandoned)")
    row = {"probe": name, "seconds": round(dt, 1), "outcome": outcome, "rss_before_mb": round(rss0),
           "rss_after_mb": round(rss1), "peak_mb": round(peak)}  # fmt: skip
    print(json.dumps(row, ensure_ascii=False))
    return row


def client(server: Server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


TRAIN_BASE = dict(source="paste", corpus_file=None, arch="gpt", size="tiny", max_steps=0, eval_interval=100, seed=1)


def probe_train(server: Server, text: str) -> list[dict]:
    rows = []
    c = client(server)
    for label, extra in (("train: block_size=32768, batch 1, 5 s budget", dict(block_size=32768, batch_size=1)),
                         ("train: batch_size=4096, 5 s budget", dict(batch_size=4096))):  # fmt: skip
        rows.append(
            run_probe(
                server,
                label,
                lambda extra=extra: str(
                    c.predict(**TRAIN_BASE, pasted_text=text[:200_000], time_budget=5, api_name="/train", **extra)[1]
                )[:120],
            )
        )

    def stop_latency() -> str:  # a heavy but accepted run: how long until Stop takes effect?
        job = c.submit(**TRAIN_BASE, pasted_text=text[:200_000], time_budget=60, block_size=512, batch_size=64,
                       api_name="/train")  # fmt: skip
        while not job.outputs() and not job.done():
            time.sleep(0.1)
        t0 = time.perf_counter()
        c.predict(api_name="/stop_training")
        job.result(timeout=PROBE_LIMIT)
        return f"stopped {time.perf_counter() - t0:.1f} s after Stop"

    rows.append(run_probe(server, "train: Stop latency (block 512, batch 64)", stop_latency))
    c.close()
    return rows


def big_spec() -> str:
    layers = [256] * 13
    return json.dumps({"layers": layers, "activations": ["tanh"] * 11 + ["linear"], "input": [0.1] * 256,
                       "target": [0.0] * 256, "seed": 1})  # fmt: skip


def probe_backprop(server: Server) -> list[dict]:
    spec = big_spec()

    def one() -> str:
        out = client(server).predict(spec, 0, api_name="/backprop")
        return f"response {len(json.dumps(out)) / 1e6:.1f} MB"

    def three() -> str:
        results = []
        threads = [threading.Thread(target=lambda: results.append(one())) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return "; ".join(results)

    return [run_probe(server, "backprop: layers [256]*13 (2.8 KB spec)", one),
            run_probe(server, "backprop: the same, 3 at once", three)]  # fmt: skip


def probe_score(server: Server, text: str) -> list[dict]:
    c = client(server)
    row = run_probe(server, "score_model: 1 MB of text", lambda: str(c.predict(
        "shakespeare-gpt", text[:1_000_000], api_name="/score_model"))[:120])  # fmt: skip
    gen = run_probe(server, "generate_and_score: 200 prompts x 500 chars", lambda: str(c.predict(
        "shakespeare-gpt", "\n".join(["ROMEO:"] * 200), "\n".join(["JULIET:"] * 200), 500, 0.8, 1, "auto",
        api_name="/generate_and_score")[0])[:120])  # fmt: skip
    return [row, gen]


def probe_evaluate(server: Server, text: str) -> list[dict]:
    lines = [text[i * 2000 : (i + 1) * 2000].replace("\n", " ") for i in range(500)]
    refs = [text[100_000 + i * 2000 : 100_000 + (i + 1) * 2000].replace("\n", " ") for i in range(500)]
    c = client(server)
    return [run_probe(server, "evaluate: 500 lines x 2,000 chars", lambda: str(c.predict(
        "\n".join(lines), "\n".join(refs), None, "auto", api_name="/evaluate")[5])[:120])]  # fmt: skip


def _safetensors_stub(path: Path) -> None:
    """A syntactically valid safetensors file with one tiny tensor (the config is what is under test)."""
    head = json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"\0\0\0\0")


def probe_upload(server: Server) -> list[dict]:
    from gradio_client import handle_file

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="charlm-rel-up-"))
    _safetensors_stub(tmp / "model.safetensors")
    for label, model, chars in (("upload: config with n_layer=1000", {"n_layer": 1000}, "abc"),
                                ("upload: a 1,000,000-character vocabulary", {"vocab_size": 1_000_001},
                                 "".join(chr(0x4E00 + i) for i in range(20_000)) * 50)):  # fmt: skip
        cfg = {"format": "charlm-checkpoint", "format_version": 1, "name": "probe", "vocab": {"chars": chars},
               "model": {"arch": "gpt", "vocab_size": len(set(chars)) + 1, "n_layer": 2, "n_embd": 64, "n_head": 4,
                         "block_size": 64, **model}}  # fmt: skip
        (tmp / "config.json").write_text(json.dumps(cfg))
        c = client(server)
        rows.append(run_probe(server, label, lambda c=c: str(c.predict(
            [handle_file(str(tmp / "config.json")), handle_file(str(tmp / "model.safetensors"))],
            api_name="/upload_model"))[:120]))  # fmt: skip
    return rows


def probe_chat_concurrency(server: Server) -> list[dict]:
    """16 long replies at once, 8 through /chat and 8 through /chat_stream: how many generate at the same time?
    (Counted from the clients: the most replies whose first and last streamed characters overlap in time.)"""

    def measure() -> str:
        clients = [client(server) for _ in range(16)]  # connected first, so the requests arrive together
        spans: list[tuple[float, float]] = []
        lock = threading.Lock()

        def one(i: int, cl) -> None:
            job = (cl.submit("To be, or not to be", mode="completion", max_new_chars=600, seed=i, api_name="/chat")
                   if i < 8 else cl.submit("To be, or not to be", "shakespeare-gpt", "completion", "A", "B", 0.8, 0,
                                           1.0, 600, i, api_name="/chat_stream"))  # fmt: skip
            first = None
            for _ in job:
                first = first or time.perf_counter()
            with lock:
                spans.append((first or time.perf_counter(), time.perf_counter()))

        threads = [threading.Thread(target=one, args=(i, cl)) for i, cl in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        most = max(sum(a <= t < b for a, b in spans) for t, _ in spans)
        return f"at most {most} replies streaming at once"

    return [run_probe(server, "chat: 8 /chat + 8 /chat_stream at once", measure, limit=240)]


BAD_VALUES = ("Infinity", "NaN", '"Infinity"', str(2**70), '"abc"', "-1")  # as raw JSON tokens


def raw_call(server: Server, api: str, body: str) -> str:
    """POST a hand-written JSON body (gradio_client refuses to send NaN or Infinity; other clients can) and return
    the event stream's text."""
    import httpx

    base = server.url.rstrip("/") + "/gradio_api/call/" + api
    r = httpx.post(base, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    r.raise_for_status()
    return httpx.get(f"{base}/{r.json()['event_id']}", timeout=120).text


def probe_bad_numbers(server: Server) -> list[dict]:
    """Every numeric field of /train and /chat with values any HTTP client can send: is the message clear?"""
    train = dict(TRAIN_BASE, pasted_text="hello world " * 50, builtin=None, lowercase=False,
                 collapse_whitespace=False, min_count=0, model_name="", resume=False, lr=0, batch_size=8,
                 block_size=0, n_layer=0, n_embd=0, n_head=0, hidden_size=0, dropout=0, time_budget=5,
                 optimizer="adamw")  # fmt: skip
    chat = dict(message="hi", model="shakespeare-gpt", mode="completion", you="A", them="B", temperature=0.8,
                top_k=0, top_p=1.0, max_new_chars=20, seed=1)  # fmt: skip
    rows = []
    endpoints = client(server).view_api(print_info=False, return_format="dict")["named_endpoints"]
    for api, base, numeric in (
        ("train", train, ("time_budget", "max_steps", "min_count", "lr", "batch_size", "eval_interval", "seed",
                          "block_size", "dropout")),
        ("chat", chat, ("temperature", "top_k", "top_p", "max_new_chars", "seed")),
    ):  # fmt: skip
        order = [p["parameter_name"] for p in endpoints[f"/{api}"]["parameters"]]  # this server's own order
        for field in numeric:
            for bad in BAD_VALUES:
                values = base | {field: "BAD"}
                body = json.dumps({"data": [values.get(k) for k in order]}).replace('"BAD"', bad)
                t0 = time.perf_counter()
                out = raw_call(server, api, body)
                error = out.split("event: error", 1)[1].strip()[:160] if "event: error" in out else ""
                rows.append({"probe": f"/{api} {field}={bad}", "seconds": round(time.perf_counter() - t0, 1),
                             "outcome": error or "accepted"})  # fmt: skip
    generic = sum(1 for r in rows if '"error": null' in r["outcome"] or "upstream" in r["outcome"].lower())
    paths = sum(1 for r in rows if "/tmp/" in r["outcome"] or "/root/" in r["outcome"])
    summary = {
        "probe": "bad numbers",
        "tried": len(rows),
        "no message (Gradio's generic error)": generic,
        "message shows a server path": paths,
        "clear message or accepted": len(rows) - generic - paths,
    }
    print(json.dumps(summary))
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))
    return rows


PROBES = {"train": probe_train, "backprop": probe_backprop, "score": probe_score, "evaluate": probe_evaluate,
          "upload": probe_upload, "chat": probe_chat_concurrency, "numbers": probe_bad_numbers}  # fmt: skip


# --- Issue 19 A: one cost model (vocabulary, attention, clusters; nothing big kept in State) -----------------------
# Models that are legal by size (far under CHARLM_MAX_PARAMS) but costly per character, built here with random
# weights and uploaded; each probe reports what the server did and its RSS. ``--only cost_rnn,cost_cjk,...``.
def _checkpoint(folder: Path, config: dict, chars: list[str]) -> list[Path]:
    """A real checkpoint (random weights) of ``config`` over ``chars``, written with this checkout's charlm (the
    format every version reads)."""
    sys.path.insert(0, str(REPO))
    import torch

    from charlm.models import ModelConfig, build_model
    from charlm.storage.checkpoint import save_checkpoint
    from charlm.vocab import CharVocab

    vocab = CharVocab(sorted(chars))
    cfg = ModelConfig(vocab_size=vocab.size, **config)
    torch.manual_seed(0)
    save_checkpoint(folder, build_model(cfg), vocab, cfg, training={"steps": 1}, name=folder.name)
    return [folder / "config.json", folder / "model.safetensors"]


def _code_points(n: int, start: int = 0x4E00) -> list[str]:
    out, cp = [], start
    while len(out) < n:
        if not 0xD800 <= cp <= 0xDFFF:
            out.append(chr(cp))
        cp = (cp + 1) % 0x110000 or 0x21
    return out


def _client(server: Server):
    """A client that waits as long as a probe may (the default read timeout fails first on a loaded machine)."""
    from gradio_client import Client

    return Client(server.url, verbose=False, httpx_kwargs={"timeout": PROBE_LIMIT * 3})


def _upload(c, files: list[Path]) -> str:
    from gradio_client import handle_file

    return c.predict([handle_file(str(f)) for f in files], api_name="/upload_model")[0]["value"]


def _probe_upload(server: Server, c, label: str, files: list[Path], rows: list[dict]) -> str | None:
    """Upload ``files`` as a probe (its row appended to ``rows``); the uploaded model's name, None if refused."""
    box: dict = {}

    def up() -> str:
        box["name"] = _upload(c, files)
        return box["name"]

    rows.append(run_probe(server, label, up))
    return box.get("name")


def _idle_rss(server: Server, label: str) -> dict:
    time.sleep(3)
    rss, peak = server.mem_mb()
    row = {"probe": label, "rss_mb": round(rss), "peak_mb": round(peak)}
    print(json.dumps(row))
    return row


def probe_cost_rnn(server: Server, text: str) -> list[dict]:
    """An RNN over 1,000,001 characters (n_embd 1, hidden 1: 3 M parameters): upload, /score_model and /inspect
    on 2,000 characters."""
    tmp = Path(tempfile.mkdtemp(prefix="charlm-rel-19-"))
    files = _checkpoint(tmp / "wide-rnn", dict(arch="rnn", n_layer=1, n_embd=1, hidden_size=1, block_size=32),
                        _code_points(1_000_001, 0x21))  # fmt: skip
    c = _client(server)
    rows = [_idle_rss(server, "cost_rnn: idle")]
    name = _probe_upload(server, c, "upload: RNN with a 1,000,001-character vocabulary", files, rows)
    sample = "".join(text[:2000])
    if name is not None:
        rows.append(run_probe(server, "score_model: that RNN, 2,000 chars", lambda: str(c.predict(
            name, sample, api_name="/score_model"))[:120]))  # fmt: skip
        rows.append(run_probe(server, "inspect: that RNN, 2,000 chars", lambda: str(c.predict(
            name, sample, api_name="/inspect")[0])[:120]))  # fmt: skip
    rows.append(_idle_rss(server, "cost_rnn: after"))
    return rows


def probe_cost_cjk(server: Server) -> list[dict]:
    """/train 5 steps on pasted text of 12,000 distinct CJK characters, then /inspect 2,000 of them."""
    chars = _code_points(12_000)
    pasted = "".join(chars) * 3
    c = _client(server)
    rows = [_idle_rss(server, "cost_cjk: idle")]
    box: dict = {}

    def train() -> str:
        out = c.predict(**{**TRAIN_BASE, "arch": "gru", "size": "small", "max_steps": 5}, pasted_text=pasted,
                        time_budget=60, batch_size=8, api_name="/train")  # fmt: skip
        pick = out[-1]  # the model picker: the new model selected
        box["name"] = pick.get("value") if isinstance(pick, dict) else pick
        return f"{box['name']}: {str(out[1])[:80]}"

    rows.append(run_probe(server, "train: 5 steps on 12,000 distinct CJK chars", train, limit=240))
    if box.get("name"):
        rows.append(run_probe(server, "inspect: that model, 2,000 chars", lambda: str(c.predict(
            box["name"], "".join(chars[:2000]), api_name="/inspect")[0])[:120]))  # fmt: skip
    rows.append(_idle_rss(server, "cost_cjk: after"))
    return rows


def probe_cost_gpt(server: Server, text: str) -> list[dict]:
    """A GPT of 8 layers x 16 heads, block 2048, n_embd 64 (530 k parameters): /inspect 2,000 characters."""
    tmp = Path(tempfile.mkdtemp(prefix="charlm-rel-19-"))
    files = _checkpoint(tmp / "deep-gpt", dict(arch="gpt", n_layer=8, n_head=16, n_embd=64, block_size=2048),
                        sorted(set(text[:100_000])))  # fmt: skip
    c = _client(server)
    rows = [_idle_rss(server, "cost_gpt: idle")]
    name = _probe_upload(server, c, "upload: GPT 8 layers x 16 heads, block 2048", files, rows)
    if name is not None:
        rows.append(run_probe(server, "inspect: that GPT, 2,000 chars", lambda: str(c.predict(
            name, text[:2000], api_name="/inspect")[0])[:120], limit=240))  # fmt: skip
    rows.append(_idle_rss(server, "cost_gpt: after (the session still open)"))
    return rows


def _clusters_config(n_clusters: int, div: float, vocab: int) -> dict:
    return dict(arch="gru", n_layer=1, n_embd=8, hidden_size=8, block_size=32, head="adaptive",
                head_order=list(range(vocab)), head_cutoffs=list(range(1, n_clusters + 1)), head_div=div)  # fmt: skip


def _raw_upload(folder: Path, model: dict, chars: list[str]) -> list[Path]:
    """A config the current charlm may refuse to build (so it is written by hand) with a stub weights file."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"format": "charlm-checkpoint", "format_version": 1, "name": folder.name, "vocab": {"chars": "".join(chars)},
           "model": {"vocab_size": len(chars) + 1, **model}, "training": {}}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(cfg))
    _safetensors_stub(folder / "model.safetensors")
    return [folder / "config.json", folder / "model.safetensors"]


def probe_cost_clusters(server: Server) -> list[dict]:
    """A GRU (hidden 8, head_div 1) with an adaptive head of 6,257 clusters: upload, then a 300-character chat
    while three other clients chat with the shipped GPT (their reply times are the point). Then an upload with
    1,199 cut-offs and head_div 2."""
    tmp = Path(tempfile.mkdtemp(prefix="charlm-rel-19-"))
    chars = _code_points(6257)
    rows = [_idle_rss(server, "cost_clusters: idle")]
    c = _client(server)
    box: dict = {}

    def up() -> str:
        from charlm.models import output

        cap, output.MAX_CLUSTERS = output.MAX_CLUSTERS, 10**9  # this checkout refuses to build it; the probe must
        try:  # build it anyway, to upload it to a server that may accept it
            files = _checkpoint(tmp / "clusters", _clusters_config(6257 - 1, 1.0, 6258), chars)
        finally:
            output.MAX_CLUSTERS = cap
        box["name"] = _upload(c, files)
        return box["name"]

    rows.append(run_probe(server, "upload: GRU with 6,257 adaptive clusters", up))

    def chat_while_others_chat() -> str:
        others = [_client(server) for _ in range(3)]
        times: list[float] = []

        def other(cl, i: int) -> None:
            t0 = time.perf_counter()
            cl.predict("To be, or not to be", mode="completion", max_new_chars=300, seed=i, api_name="/chat")
            times.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=other, args=(cl, i)) for i, cl in enumerate(others)]
        t0 = time.perf_counter()
        mine = ""
        if "name" in box:
            threads.append(threading.Thread(target=lambda: box.setdefault("chat", c.predict(
                "一", model=box["name"], mode="completion", max_new_chars=300, seed=1, api_name="/chat"))))  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        mine = f"its 300 chars: {time.perf_counter() - t0:.1f} s; " if "name" in box else ""
        return mine + "others' 300-char replies: " + ", ".join(f"{t:.1f} s" for t in sorted(times))

    rows.append(run_probe(server, "chat: that GRU + 3 shipped-GPT chats at once", chat_while_others_chat, limit=240))
    files = _raw_upload(tmp / "cutoffs", _clusters_config(1199, 2.0, 1201), _code_points(1200))
    rows.append(run_probe(server, "upload: 1,199 cut-offs, head_div 2", lambda: _upload(c, files)))
    rows.append(_idle_rss(server, "cost_clusters: after"))
    return rows


def probe_cost_sessions(server: Server, text: str) -> list[dict]:
    """40 sessions, each runs /inspect (shipped GPT, 2,000 characters) and closes."""
    rows = [_idle_rss(server, "cost_sessions: idle")]

    def forty() -> str:
        for _ in range(40):
            cl = _client(server)
            cl.predict("shakespeare-gpt", text[:2000], api_name="/inspect")
            cl.close()
        return "40 sessions inspected and closed"

    rows.append(run_probe(server, "inspect: 40 sessions, each then closed", forty, limit=600))
    time.sleep(20)  # a heartbeat (15 s) for the server to see the sessions gone
    rows.append(_idle_rss(server, "cost_sessions: 20 s after the last close"))
    return rows


COST_PROBES = {"cost_rnn": probe_cost_rnn, "cost_cjk": probe_cost_cjk, "cost_gpt": probe_cost_gpt,
               "cost_clusters": probe_cost_clusters, "cost_sessions": probe_cost_sessions}  # fmt: skip
PROBES.update(COST_PROBES)  # issue 19 A


# --- Issue 19 B: routes and sizes -------------------------------------------------------------------------------
# Four probes from issue 19 (its part B). Each runs a short /chat reply at the same time, so the row says whether
# other users were still answered, and how fast. ``--only poem_title,st_header,run_inspect,upload_flood``.
CHAT_BODY = {"data": ["ROMEO:", "shakespeare-gpt", "completion", "A", "B", 0.8, 0, 1.0, 60, 1]}


def _raw(server: Server, api: str, data: list, session: str | None = None, timeout: float = PROBE_LIMIT) -> str:
    """POST /gradio_api/call/<api> (no session hash unless given) and return how its event stream ended."""
    import httpx

    base = server.url.rstrip("/") + "/gradio_api/call/" + api
    body = json.dumps({"data": data} | ({"session_hash": session} if session else {}), ensure_ascii=False)
    r = httpx.post(base, content=body.encode(), headers={"Content-Type": "application/json"}, timeout=timeout)
    if r.status_code != 200:
        return f"HTTP {r.status_code}"
    text = httpx.get(f"{base}/{r.json()['event_id']}", timeout=timeout).text
    if "event: error" in text:
        return "error: " + text.split("event: error", 1)[1].replace("data:", "").strip()[:140]
    return "complete"


def with_chat(server: Server, fn: Callable[[], str]) -> Callable[[], str]:
    """``fn`` with a 60-character /chat reply sent one second after it starts; the outcome says how long it took."""

    def run() -> str:
        t0 = time.perf_counter()
        alone = _raw(server, "chat", CHAT_BODY["data"])
        box: dict = {"alone": f"chat alone {alone} in {time.perf_counter() - t0:.1f} s"}

        def chat() -> None:
            time.sleep(1.0)
            t0 = time.perf_counter()
            out = _raw(server, "chat", CHAT_BODY["data"])
            box["chat"] = f"chat {out} in {time.perf_counter() - t0:.1f} s"

        th = threading.Thread(target=chat, daemon=True)
        th.start()
        outcome = fn()
        th.join(PROBE_LIMIT)
        return f"{outcome}; {box['alone']}; during: {box.get('chat', 'no answer')}"

    return run


def _parallel(n: int, one: Callable[[int], str]) -> str:
    """``one(i)`` for i < n in threads at once; their outcomes, counted."""
    results: list[str] = []
    threads = [threading.Thread(target=lambda i=i: results.append(one(i))) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts: dict[str, int] = {}
    for r in results:
        counts[r] = counts.get(r, 0) + 1
    return " | ".join(f"{k} ×{v}" for k, v in counts.items())


def probe_poem_title(server: Server) -> list[dict]:
    title = "春" * 10_000_000
    one = with_chat(server, lambda: _parallel(4, lambda i: _raw(server, "poem", [title, "", "tang-poems-gru", True,
                                                                              "simplified", 0.8, i])))  # fmt: skip
    return [run_probe(server, "poem: 4 at once with a 10,000,000-character title", one)]


def _header_bomb(folder: Path, header_mb: float = 46.0) -> list[Path]:
    """A valid config and a safetensors file whose JSON header is ``header_mb`` MB (many one-float tensors)."""
    entry = '"t%d":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    n = int(header_mb * 2**20 / (len(entry) + 5))
    head = ("{" + ",".join(entry % i for i in range(n)) + "}").encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + b"\0\0\0\0")
    model = {"arch": "gpt", "vocab_size": 4, "n_layer": 1, "n_embd": 8, "n_head": 2, "block_size": 8}
    cfg = {
        "format": "charlm-checkpoint",
        "format_version": 1,
        "name": "probe",
        "vocab": {"chars": "abc"},
        "model": model,
    }
    (folder / "config.json").write_text(json.dumps(cfg))
    return [folder / "config.json", folder / "model.safetensors"]


def probe_st_header(server: Server) -> list[dict]:
    from gradio_client import handle_file

    files = _header_bomb(Path(tempfile.mkdtemp(prefix="charlm-rel-st-")))

    def one(i: int) -> str:
        try:
            out = client(server).predict([handle_file(str(f)) for f in files], api_name="/upload_model")
            return f"accepted {str(out)[:60]}"
        except Exception as exc:  # noqa: BLE001 - the outcome is what we report
            return f"refused: {str(exc)[:110]}"

    size = files[1].stat().st_size / 2**20
    return [run_probe(server, f"upload: 2 at once with a {size:.0f} MB safetensors header",
                      with_chat(server, lambda: _parallel(2, one)))]  # fmt: skip


def probe_run_inspect(server: Server, text: str) -> list[dict]:
    """Four POST /gradio_api/run/inspect at once (the REST route), then four /gradio_api/call/inspect (the queue):
    each outcome with the seconds from the start to its answer."""
    import httpx

    chunk = text[:2000]

    def rest(i: int) -> str:
        t0 = time.perf_counter()
        r = httpx.post(server.url.rstrip("/") + "/gradio_api/run/inspect", json={"data": ["shakespeare-gpt", chunk]},
                       timeout=PROBE_LIMIT)  # fmt: skip
        return f"HTTP {r.status_code} at {time.perf_counter() - t0:.0f} s"

    def queued(i: int) -> str:
        t0 = time.perf_counter()
        out = _raw(server, "inspect", ["shakespeare-gpt", chunk])
        return f"{out[:60]} at {time.perf_counter() - t0:.0f} s"

    return [
        run_probe(
            server, "inspect: 4 × POST /gradio_api/run/inspect at once", with_chat(server, lambda: _parallel(4, rest))
        ),
        run_probe(server, "inspect: 4 × /gradio_api/call/inspect", with_chat(server, lambda: _parallel(4, queued))),
    ]


def probe_upload_flood(server: Server) -> list[dict]:
    """25 POST /gradio_api/upload of 10 MB of random data from one client (the issue's ten, then on past the
    per-client quota); what was accepted, what is on disk right after, and 150 s later (the server runs with
    CHARLM_UPLOAD_TTL=60, see PROBE_ENV)."""
    import httpx

    from charlm.ui.uploads import folder_bytes

    folder = Path(server.storage) / "gradio-tmp"

    def flood() -> str:
        codes = []
        for i in range(25):
            r = httpx.post(server.url.rstrip("/") + "/gradio_api/upload",
                           files={"files": (f"r{i}.bin", os.urandom(10 * 2**20))}, timeout=PROBE_LIMIT)  # fmt: skip
            codes.append(r.status_code)
        first, counts = codes[:10], {c: codes.count(c) for c in sorted(set(codes))}
        disk = folder_bytes(folder) / 2**20
        return f"first 10: HTTP {first.count(200)}×200; all 25: HTTP {counts}; {disk:.0f} MB on disk"

    rows = [run_probe(server, "upload: 25 × 10 MB to /gradio_api/upload", with_chat(server, flood))]
    time.sleep(150)
    row = {"probe": "upload: on disk 150 s later", "mb_on_disk": round(folder_bytes(folder) / 2**20)}
    print(json.dumps(row))
    return [*rows, row]


PROBES.update({"poem_title": probe_poem_title, "st_header": probe_st_header, "run_inspect": probe_run_inspect,
               "upload_flood": probe_upload_flood})  # fmt: skip
# Server environment per probe group: uploads go to a folder we can measure, deleted after 60 s where supported.
PROBE_ENV = {"upload_flood": {"CHARLM_UPLOAD_TTL": "60"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app-dir", type=Path, default=REPO, help="checkout whose app.py to probe")
    ap.add_argument("--only", default=",".join(PROBES), help=f"comma-separated subset of {', '.join(PROBES)}")
    ap.add_argument("--json", type=Path, help="also write every row to this file")
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the server (repeatable), e.g. CHARLM_MAX_CHAR_MFLOP=1000",
    )
    args = ap.parse_args()
    header(f"reliability probes against {args.app_dir}")
    text = CORPUS.read_text(encoding="utf-8")
    rows: list[dict] = []
    for name in args.only.split(","):
        server = Server(args.app_dir.resolve(), {**PROBE_ENV.get(name, {}), **dict(e.split("=", 1) for e in args.env)})
        try:
            fn = PROBES[name]
            rows += fn(server, text) if "text" in fn.__code__.co_varnames[: fn.__code__.co_argcount] else fn(server)
            time.sleep(5)  # let the server settle, then see whether memory came back
            rss, peak = server.mem_mb()
            row = {"probe": f"{name}: server after the group", "rss_mb": round(rss), "peak_mb": round(peak)}
            print(json.dumps(row))
            rows.append(row)
        finally:
            server.stop()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False))
    header("done")


if __name__ == "__main__":
    main()
