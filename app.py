"""charlm web app: ``python app.py`` (add ``--share`` for a public link). Hugging Face Spaces runs this file.

Serves on GRADIO_SERVER_NAME / GRADIO_SERVER_PORT when set (Gradio reads them); GRADIO_SHARE=1 also asks for a
share link. Limits come from CHARLM_* environment variables (see charlm/ui/limits.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # startup needs no network (no version check)

import charlm.ui.gpu  # noqa: E402, F401 - on a ZeroGPU Space, ``spaces`` must be imported before torch uses CUDA
from charlm.ui.app import build_app, launch_kwargs  # noqa: E402

demo = build_app()


def stop_gracefully(signum, frame) -> None:
    """SIGTERM (a restart, a Space rebuild): every training run saves its checkpoint first, then the server exits."""
    print("charlm: stopping; training runs save their checkpoints first", file=sys.stderr)
    demo.charlm_registry.stop_all(wait=20)
    sys.exit(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the charlm web app.")
    parser.add_argument("--share", action="store_true", help="also create a public gradio.live link")
    parser.add_argument("--port", type=int, default=None, help="port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--host", default=None, help="address (default: GRADIO_SERVER_NAME or 127.0.0.1)")
    args = parser.parse_args()
    share = args.share or os.environ.get("GRADIO_SHARE", "").lower() in ("1", "true", "yes")
    signal.signal(signal.SIGTERM, stop_gracefully)
    demo.launch(server_name=args.host, server_port=args.port, share=share or None, **launch_kwargs())
