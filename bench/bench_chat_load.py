"""Chat under load: 1 vs N gradio_client users asking for completions, against a trivial streaming app (the floor).

For each server, side by side in one run: 1 user, then --users users at once, each sending --requests ``/chat``
requests (completion mode, a --message-chars message from tinyshakespeare, --new-chars new characters, fixed
seeds) one after another; then the same with a training run going. Measured per request: the first streamed update
(of any kind) and the whole reply; per scenario: reply p50, first-update p95, and the characters of all replies
divided by the scenario's wall time (total chars/s).

Servers:
- ``after``: this repository's ``app.py``;
- ``before`` (with --before DIR): another checkout's ``app.py`` (e.g. ``git archive main | tar -x -C DIR``);
- ``floor``: a trivial Gradio app whose ``/chat`` streams --new-chars one-character updates with no model at all
  (the same queue and concurrency limit as the chat), i.e. what Gradio itself costs under the same load;
- ``floor-uncapped``: the same trivial app with no concurrency limit on ``/chat``: what Gradio itself can push on
  these cores. The targets of issue 22 are against this one (charlm's own caps are choices, not the floor).

Training: in the charlm apps a ``/train`` job (GPT small on pasted tinyshakespeare) inside the server, as a user
would start it; the floor app cannot train, so a ``python -m charlm train --threads 1`` process runs beside it.

    git archive main | tar -x -C /tmp/charlm-before
    python bench/bench_chat_load.py --before /tmp/charlm-before
    python bench/bench_chat_load.py --before /tmp/charlm-before --servers floor-uncapped,before,after --users 30 \
        --requests 1 --single-requests 2 --no-train          # a class of 30 (issue 22)
    python bench/bench_chat_load.py --before /tmp/charlm-before --servers floor-uncapped,before,after --users 8
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import CORPUS, REPO, header, median
from bench_app import free_port, pct

FLOOR_APP = """
import os, sys
from collections.abc import Iterator
import gradio as gr

def chat(message: str, mode: str = "completion", max_new_chars: int = 150, seed: int = -1) -> Iterator[str]:
    text = ""
    for i in range(int(max_new_chars)):
        text += "abcdefghij"[i % 10]
        yield text

cap = os.environ.get("FLOOR_CAP") or os.environ.get("CHARLM_CHAT_CONCURRENCY", "8")
with gr.Blocks() as demo:
    gr.api(chat, api_name="chat", concurrency_limit=None if cap == "none" else int(cap))
demo.queue(default_concurrency_limit=1, max_size=64)
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
"""


def start(cmd: list[str], cwd: Path, port: int, extra_env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONDONTWRITEBYTECODE": "1", **(extra_env or {})}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import urllib.request

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 600:  # a cold start on a machine at load 20 took over 3 minutes
        if proc.poll() is not None:
            raise SystemExit(f"{cmd} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{cmd} did not serve within 600 s")


def rest_reply(url: str, data: list, on_update) -> str:
    """One ``/chat`` call over Gradio's REST API (POST, then read the event stream): the final reply. ``on_update``
    is called at each streamed update."""
    import json

    import httpx

    with httpx.Client(timeout=600) as c:
        event = c.post(f"{url}gradio_api/call/chat", json={"data": data}).json()["event_id"]
        reply, kind = "", ""
        with c.stream("GET", f"{url}gradio_api/call/chat/{event}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind in ("generating", "complete"):
                    on_update()
                    reply = json.loads(line[5:])[0]
                elif line.startswith("data:") and kind == "error":
                    raise RuntimeError(f"the server answered an error: {line[5:200]}")
        return reply


def user_message(text: str, k: int, n: int) -> str:
    """The ``k``-th request's message: ``n`` characters of ``text`` from a fixed, spread-out place (reproducible)."""
    start = (len(text) // 3 + 7919 * k) % (len(text) - n)
    return text[start : start + n]


class _Tally:
    """What one scenario's users measured, from their threads: each reply's time, first update and length."""

    def __init__(self) -> None:
        self.replies: list[float] = []
        self.firsts: list[float] = []
        self.chars = 0
        self.errors: list[str] = []
        self.end = 0.0  # when the last reply came
        self.lock = threading.Lock()

    def error(self, exc: Exception) -> None:
        with self.lock:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def reply(self, t0: float, first: float | None, text: str) -> None:
        """A reply sent at ``t0``, whose first update came ``first`` seconds later (None: only the whole reply)."""
        with self.lock:
            self.end = time.perf_counter()
            self.replies.append(self.end - t0)
            self.firsts.append(first if first is not None else self.replies[-1])
            self.chars += len(text)

    def summary(self, users: int, started: float) -> dict:
        wall = (self.end or time.perf_counter()) - started
        return {"users": users, "n": len(self.replies),
                "reply_p50": median(self.replies) if self.replies else float("nan"),
                "first_p95": pct(self.firsts, 0.95) if self.firsts else float("nan"), "chars_s": self.chars / wall,
                "errors": self.errors, "load": os.getloadavg()[0]}  # fmt: skip


def load_scenario(url: str, users: int, requests: int, text: str, args, floor: bool = False) -> dict:
    """``users`` clients at once, each sending ``requests`` requests in turn."""
    if args.client == "rest":
        return rest_scenario(url, users, requests, text, args, floor)
    from gradio_client import Client

    tally = _Tally()
    clients = [Client(url, verbose=False) for _ in range(users)]
    barrier = threading.Barrier(users)
    inflight: dict[int, object] = {}  # user -> its job now

    def user(u: int) -> None:
        barrier.wait()
        for r in range(requests):
            message = user_message(text, u * requests + r, args.message_chars)
            t0 = time.perf_counter()
            first, reply = None, ""
            try:
                job = clients[u].submit(message, mode="completion", max_new_chars=args.new_chars, seed=r,
                                        api_name="/chat")  # fmt: skip
                inflight[u] = job
                for out in job:
                    first = first if first is not None else time.perf_counter() - t0
                    reply = out
            except Exception as exc:  # noqa: BLE001 - count it, keep the others going
                tally.error(exc)
                continue
            tally.reply(t0, first, reply)

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        # Under a heavy load Gradio sometimes ends a job with success=False and no output, and gradio_client's
        # iterator then waits forever: count such a job as lost (an error) instead of hanging the benchmark.
        waiting = [u for u, t in enumerate(threads) if t.is_alive()]
        failed = [u for u in waiting if (job := inflight.get(u)) is not None and _failed(job)]
        if waiting and len(failed) == len(waiting):
            time.sleep(2.0)
            if all(not threads[u].is_alive() or _failed(inflight[u]) for u in waiting):
                tally.errors.extend(f"lost: Gradio ended the job with success=False and no output (user {u})"
                                    for u in waiting if threads[u].is_alive())  # fmt: skip
                break
    result = tally.summary(users, t0)
    for c in clients:
        try:
            c.close()
        except Exception:  # noqa: BLE001 - a client with a lost job may not close cleanly
            pass
    return result


def rest_scenario(url: str, users: int, requests: int, text: str, args, floor: bool) -> dict:
    """``load_scenario`` with plain HTTP clients (``--client rest``, the default): Gradio's REST API, one thread per
    user. Under a heavy load gradio_client lost jobs (issue 22: success=False, no output, then its iterator waits
    forever) where the same requests over REST all completed."""
    tally = _Tally()
    barrier = threading.Barrier(users)

    def user(u: int) -> None:
        barrier.wait()
        for r in range(requests):
            message = user_message(text, u * requests + r, args.message_chars)
            if floor:
                data = [message, "completion", args.new_chars, r]
            else:  # chat(message, model, mode, you, them, temperature, top_k, top_p, max_new_chars, seed)
                data = [message, "", "completion", "ROMEO", "JULIET", 0.8, 0, 1.0, args.new_chars, r]
            t0 = time.perf_counter()
            first = []
            try:
                reply = rest_reply(url, data, lambda f=first, t=t0: f or f.append(time.perf_counter() - t))
            except Exception as exc:  # noqa: BLE001 - count it, keep the others going
                tally.error(exc)
                continue
            tally.reply(t0, first[0] if first else None, reply)

    threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally.summary(users, t0)


def _failed(job) -> bool:
    st = job.status()
    return str(st.code).endswith("FINISHED") and st.success is False and not job.outputs()


def start_training(kind: str, url: str, text: str, budget: int, tmp: Path):
    """A training run beside the chat: /train inside a charlm app, or a CLI process beside the floor app."""
    if kind.startswith("floor"):
        data = tmp / "train.txt"
        data.write_text(text[:300_000], encoding="utf-8")
        cmd = [sys.executable, "-m", "charlm", "train", "--data", str(data), "--arch", "gpt", "--size", "small",
               "--time-budget", str(budget), "--threads", "1", "--quiet", "--out", str(tmp / "run")]  # fmt: skip
        return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), None
    from gradio_client import Client

    trainer = Client(url, verbose=False)
    job = trainer.submit(source="paste", corpus_file=None, pasted_text=text[:300_000], arch="gpt", size="small",
                         time_budget=budget, max_steps=0, eval_interval=100, seed=1, model_name="bench",
                         api_name="/train")  # fmt: skip
    while not job.outputs() and not job.done():
        time.sleep(0.1)
    return job, trainer


def stop_training(handle) -> None:
    job, trainer = handle
    if trainer is None:
        job.terminate()
        job.wait(timeout=60)
        return
    trainer.predict(api_name="/stop_training")
    try:
        job.result(timeout=120)
    except Exception:  # noqa: BLE001 - a stopped run may end either way
        pass
    trainer.close()


def bench_server(spec: str, cwd: Path, text: str, args, tmp: Path, run: int) -> list[dict]:
    """One server, named ``kind`` or ``kind:VAR=VALUE;VAR=VALUE`` (its environment, e.g. a streaming interval)."""
    kind, _, env_spec = spec.partition(":")
    env = dict(kv.split("=", 1) for kv in env_spec.split(";") if kv)
    port = free_port()
    if kind.startswith("floor"):
        script = tmp / "floor_app.py"
        script.write_text(FLOOR_APP)
        cmd = [sys.executable, str(script), str(port)]
    else:
        cmd = [sys.executable, "app.py", "--port", str(port), "--host", "127.0.0.1"]
    proc = start(cmd, cwd, port, env | ({"FLOOR_CAP": "none"} if kind == "floor-uncapped" else {}))
    url = f"http://127.0.0.1:{port}/"
    rows = []
    try:
        floor = kind.startswith("floor")
        load_scenario(url, 1, 1, text, args, floor)  # warm-up: the first request of a server pays one-time costs
        for training in (False,) if args.no_train else (True,) if args.only_train else (False, True):
            handle = start_training(kind, url, text, args.train_budget, tmp) if training else None
            try:
                for users, reqs in ((1, args.single_requests), (args.users, args.requests)):
                    res = load_scenario(url, users, reqs, text, args, floor) | {"server": spec, "training": training,
                                                                          "run": run}  # fmt: skip
                    rows.append(res)
                    errors = f" {len(res['errors'])} errors: {res['errors'][:1]}" if res["errors"] else ""
                    print(f"| {spec} | {'yes' if training else 'no'} | {users} | {res['n']} | "
                          f"{res['reply_p50']:.2f} | {res['first_p95'] * 1e3:.0f} | {res['chars_s']:.0f} | "
                          f"{res['load']:.1f} |{errors}")  # fmt: skip
            finally:
                if handle is not None:
                    stop_training(handle)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", help="a checkout of the code to compare with (its app.py)")
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--requests", type=int, default=2, help="requests per user with --users users")
    ap.add_argument("--single-requests", type=int, default=4, help="requests of the single user")
    ap.add_argument("--message-chars", type=int, default=200)
    ap.add_argument("--new-chars", type=int, default=150)
    ap.add_argument("--train-budget", type=int, default=600, help="seconds; the run is stopped when done")
    ap.add_argument(
        "--servers",
        default="floor-uncapped,floor,before,after",
        help="in this order; a name may repeat (A/B/A/B); 'after:VAR=VALUE;VAR=VALUE' sets that server's environment",
    )
    ap.add_argument("--client", choices=("rest", "gradio_client"), default="rest",
                    help="how the users call /chat: Gradio's REST API over HTTP, or gradio_client")  # fmt: skip
    ap.add_argument("--only-train", action="store_true", help="only the scenarios with a training run")
    ap.add_argument("--no-train", action="store_true", help="only the scenarios without a training run")
    args = ap.parse_args()
    text = CORPUS.read_text(encoding="utf-8")
    header(f"chat under load: 1 vs {args.users} users, {args.new_chars}-char completions of the shipped GPT")
    print("| server | training | users | replies | reply p50 (s) | first update p95 (ms) | total chars/s | load |")
    print("|---|---|---|---|---|---|---|---|")
    dirs = {"after": REPO, "floor": REPO, "floor-uncapped": REPO, "before": Path(args.before) if args.before else None}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for run, spec in enumerate(args.servers.split(",")):
            if dirs.get(spec.partition(":")[0]) is None:
                continue
            results += bench_server(spec, dirs[spec.partition(":")[0]], text, args, Path(tmp), run)
    print("\n| server | training | reply p50, N users / 1 user | total chars/s, N / 1 | first update p95 / floor's |")
    print("|---|---|---|---|---|")
    for r in results:
        if r["users"] == 1:
            continue
        one = next(x for x in results if x["run"] == r["run"] and x["training"] == r["training"]
                   and x["users"] == 1)  # fmt: skip
        floor = next((x for x in results if x["server"] == "floor" and x["training"] == r["training"]
                      and x["users"] == r["users"]), None)  # fmt: skip
        vs_floor = f"{r['first_p95'] / floor['first_p95']:.2f}x" if floor else "n/a"
        print(
            f"| {r['server']} | {'yes' if r['training'] else 'no'} | {r['reply_p50'] / one['reply_p50']:.2f}x | "
            f"{r['chars_s'] / max(one['chars_s'], 1e-9):.2f}x | {vs_floor} |"
        )
    against_uncapped(results)
    header("done")


def against_uncapped(results: list[dict]) -> None:
    """Issue 22's targets: each server against the uncapped floor measured in the same run (same users, training),
    the floor of its own round when the floor is repeated (``--servers floor-uncapped,after,floor-uncapped,after``):
    the machine's speed drifts over a run."""
    if not any(r["server"] == "floor-uncapped" for r in results):
        return
    print("\n| server | training | users | first update p95 / uncapped floor's (target <= 1.3x) | reply p50 / floor's "
          "(<= 1.5x) | total chars/s / floor's (>= 0.8x) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(results):
        # the floor of the same round: the last one measured before this server (the first one, if none was)
        floors = [x for x in results if x["server"] == "floor-uncapped" and x["training"] == r["training"]
                  and x["users"] == r["users"]]  # fmt: skip
        floor = next((x for x in reversed(floors) if results.index(x) < i), floors[0] if floors else None)
        if floor is None or r["server"] == "floor-uncapped":
            continue
        print(f"| {r['server']} | {'yes' if r['training'] else 'no'} | {r['users']} | "
              f"{r['first_p95'] / floor['first_p95']:.2f}x | {r['reply_p50'] / floor['reply_p50']:.2f}x | "
              f"{r['chars_s'] / max(floor['chars_s'], 1e-9):.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
