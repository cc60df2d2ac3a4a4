"""Disk use over many training runs, and memory after a mixed load, against a real app server.

    python bench/durability.py --runs 20

One API client trains ``--runs`` tiny models one after another (each returns a zip, as the Train tab does); after
each run the script measures the users' model store, the zips and reports charlm keeps for download and Gradio's
whole upload/download cache (which holds them). With the per-user cap (CHARLM_MAX_SESSION_MODELS, 8) the store must
stop growing after the 8th run.
Then 8 users chat while one trains, and the server's memory is read after it settles. (kill -9 and SIGTERM are
tested in a real browser by tests/test_durability.py.)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from _common import CORPUS, header
from reliability import Server, client


def tree_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def disk_growth(server: Server, text: str, runs: int, gradio_tmp: Path) -> None:
    c = client(server)
    store = Path(server.storage)
    print("| run | models kept | store (MB) | charlm's downloads (MB) | Gradio cache, all (MB) |")
    print("|---|---|---|---|---|")
    for i in range(1, runs + 1):
        c.predict(source="paste", corpus_file=None, pasted_text=text[i * 1000 : i * 1000 + 20_000], arch="gpt",
                  size="tiny", time_budget=30, max_steps=20, eval_interval=10, seed=i, model_name=f"run{i}",
                  api_name="/train")  # fmt: skip
        users = store / "users"
        kept = sum(1 for u in users.iterdir() if u.is_dir() for m in u.iterdir() if (m / "run.json").is_file())
        downloads = tree_bytes(gradio_tmp / "charlm-scratch")
        print(f"| {i} | {kept} | {tree_bytes(users) / 1e6:.1f} | {downloads / 1e6:.2f} | "
              f"{tree_bytes(gradio_tmp) / 1e6:.1f} |")  # fmt: skip
    c.close()


def load_then_settle(server: Server, text: str) -> None:
    trainer = client(server)
    job = trainer.submit(source="paste", corpus_file=None, pasted_text=text[:300_000], arch="gpt", size="small",
                         time_budget=60, max_steps=0, eval_interval=100, seed=1, api_name="/train")  # fmt: skip

    def user(u: int) -> None:
        c = client(server)
        for r in range(3):
            c.predict(text[u * 5000 : u * 5000 + 500], mode="completion", max_new_chars=150, seed=r, api_name="/chat")
        c.close()

    rss0, _ = server.mem_mb()
    threads = [threading.Thread(target=user, args=(u,)) for u in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    job.result(timeout=300)
    during = server.mem_mb()
    time.sleep(15)
    rss, peak = server.mem_mb()
    row = {"load": "8 users x 3 chat replies + 1 training run (gpt small, 60 s)", "rss_before_mb": round(rss0),
           "peak_mb": round(peak), "rss_at_end_mb": round(during[0]), "rss_after_15s_mb": round(rss)}  # fmt: skip
    print(json.dumps(row))
    trainer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--app-dir", type=Path, default=Path(__file__).resolve().parents[1])
    args = ap.parse_args()
    header("disk and memory over repeated use")
    gradio_tmp = Path(tempfile.mkdtemp(prefix="charlm-dur-gradio-"))
    # only the server's: gradio_client (this process) downloads every output file into its own GRADIO_TEMP_DIR
    text = CORPUS.read_text(encoding="utf-8")
    server = Server(args.app_dir.resolve(), {"GRADIO_TEMP_DIR": str(gradio_tmp)})
    try:
        disk_growth(server, text, args.runs, gradio_tmp)
        load_then_settle(server, text)
    finally:
        server.stop()
    header("done")


if __name__ == "__main__":
    main()
