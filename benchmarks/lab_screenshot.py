"""The README's picture of the lab on the conditional ring (issue 17): `ganlab lab --dataset
cring` after a few hundred iterations, points coloured by class, in headless Chromium.

    python benchmarks/lab_screenshot.py [--steps 300] [--label all] [--out PATH]

Needs playwright (the dev extra) and the system's chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import threading
import time
from pathlib import Path

import torch
import uvicorn
from playwright.sync_api import sync_playwright

from ganlab.lab.server import create_app, uvicorn_config
from ganlab.lab.session import LabSession

OUT = Path(__file__).parent / "figures" / "lab_cring8.png"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="iterations before the picture")
    p.add_argument("--label", default="all", help='the class picked: an index or "all"')
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("no chromium on PATH (Debian: apt-get install chromium)")
    torch.set_num_threads(1)
    session = LabSession("cring")
    for _ in range(args.steps):
        session.control({"action": "step"})
    label = args.label if args.label == "all" else int(args.label)
    session.control({"action": "pick", "label": label})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(create_app(session), "127.0.0.1", port))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("window.lab && window.lab.frames >= 3", timeout=30_000)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            browser.close()
    finally:
        server.should_exit = True
    print(f"step {session.state.step}, class {args.label}: {args.out}")


if __name__ == "__main__":
    main()
