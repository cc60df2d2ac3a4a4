"""The web app under load: cold start, /chat first-character latency with 8 concurrent users while one /train job
runs, and the server's peak memory.

1. Cold start: ``python app.py --port P`` in a subprocess; time until ``GET /`` answers 200 (--cold-repeats
   times, a fresh process each time; the last one stays up for the rest).
2. One ``/train`` job (GPT "small" on pasted tinyshakespeare, --train-budget seconds) is started with
   gradio_client and waited for until it streams its first update (it is training).
3. --users concurrent gradio_client users (threads, one Client each) each send --requests ``/chat`` requests
   (completion mode, a --message-chars-character message from tinyshakespeare, --new-chars new characters) with
   ``client.submit(...)``; the time from submit to the first streamed update holding at least one character is
   the first-character latency (it includes queueing: the app generates ``CHARLM_CHAT_CONCURRENCY`` replies at
   once, 4 by default). Also the time to the first streamed update of any kind, and the whole reply.
4. Peak RSS of the server: ``VmHWM`` from /proc/<pid>/status at the end (Linux).

    python bench/bench_app.py
    python bench/bench_app.py --users 8 --requests 5 --train-budget 180
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from _common import CORPUS, REPO, header, median


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, float]:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--host", "127.0.0.1"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, time.perf_counter() - t0
        except OSError:
            pass
        if time.perf_counter() - t0 > 120:
            proc.kill()
            raise SystemExit("app.py did not serve / within 120 s")
        time.sleep(0.05)


def proc_mem(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(val.split()[0]) / 1024
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold-repeats", type=int, default=3)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--requests", type=int, default=5, help="/chat requests per user")
    ap.add_argument("--message-chars", type=int, default=1000)
    ap.add_argument("--new-chars", type=int, default=100)
    ap.add_argument("--train-budget", type=int, default=240)
    ap.add_argument("--no-train", action="store_true", help="measure /chat without the concurrent training job")
    ap.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE",
        help="environment for the server, e.g. --env OMP_NUM_THREADS=1 --env CHARLM_CHAT_CONCURRENCY=8",
    )  # fmt: skip
    args = ap.parse_args()
    from gradio_client import Client

    text = CORPUS.read_text(encoding="utf-8")
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    header("web app: cold start, /chat latency under load, server memory")
    print(f"# server environment: {extra_env or 'default'}")
    colds = []
    proc = None
    for i in range(args.cold_repeats):
        proc, dt = start_server(free_port(), extra_env)
        colds.append(dt)
        if i < args.cold_repeats - 1:
            proc.terminate()
            proc.wait(timeout=30)
    port = int(proc.args[proc.args.index("--port") + 1])
    url = f"http://127.0.0.1:{port}/"
    print(f"cold start to first 200 on / (s): {', '.join(f'{c:.2f}' for c in colds)}; median {median(colds):.2f}")
    try:
        trainer = Client(url, verbose=False)
        train_job = None
        if not args.no_train:
            train_job = trainer.submit(
                source="paste", corpus_file=None, pasted_text=text[:300_000], arch="gpt", size="small",
                time_budget=args.train_budget, max_steps=0, eval_interval=100, seed=1, model_name="bench",
                api_name="/train",
            )  # fmt: skip
            t0 = time.perf_counter()
            while not train_job.outputs() and not train_job.done():
                time.sleep(0.1)
            if train_job.done() and not train_job.outputs():
                train_job.result()  # raises the app's error
            print(f"/train job streaming after {time.perf_counter() - t0:.1f} s; chat load starts now")
        firsts, updates, totals, errors = [], [], [], []
        lock = threading.Lock()
        msg_len = args.message_chars

        def user(u: int) -> None:
            c = Client(url, verbose=False)
            for r in range(args.requests):
                start = (len(text) // 3 + 7919 * (u * args.requests + r)) % (len(text) - msg_len)
                message = text[start : start + msg_len]
                t0 = time.perf_counter()
                first_update = first_char = None
                try:
                    job = c.submit(message, mode="completion", max_new_chars=args.new_chars, seed=r, api_name="/chat")
                    for out in job:
                        now = time.perf_counter() - t0
                        if first_update is None:
                            first_update = now
                        if out and first_char is None:
                            first_char = now
                    total = time.perf_counter() - t0
                except Exception as exc:  # noqa: BLE001 - report, keep the other users going
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    updates.append(first_update)
                    if first_char is not None:
                        firsts.append(first_char)
                    totals.append(total)
            c.close()

        threads = [threading.Thread(target=user, args=(u,)) for u in range(args.users)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        training_alive = train_job is not None and not train_job.done()
        print(
            f"/chat with {args.users} concurrent users x {args.requests} requests, {msg_len}-char message, "
            f"{args.new_chars} new chars; training job still running at the end: {training_alive}; "
            f"wall {wall:.1f} s; load average {os.getloadavg()[0]:.2f}"
        )
        print("| measure | n | p50 (ms) | p95 (ms) | max (ms) |")
        print("|---|---|---|---|---|")
        for name, xs in (("first character", firsts), ("first update (empty)", updates), ("whole reply", totals)):
            if xs:
                print(
                    f"| {name} | {len(xs)} | {pct(xs, 0.5) * 1e3:.0f} | {pct(xs, 0.95) * 1e3:.0f} | "
                    f"{max(xs) * 1e3:.0f} |"
                )
        if errors:
            print(f"errors ({len(errors)}): {errors[:3]}")
        if train_job is not None:
            trainer.predict(api_name="/stop_training")
            try:
                train_job.result(timeout=120)
            except Exception as exc:  # noqa: BLE001
                print(f"training job ended with {type(exc).__name__}: {exc}")
        mem = proc_mem(proc.pid)
        print(f"server memory: peak RSS (VmHWM) {mem['VmHWM']:,.0f} MB, RSS now {mem['VmRSS']:,.0f} MB")
        trainer.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    header("done")


if __name__ == "__main__":
    main()
