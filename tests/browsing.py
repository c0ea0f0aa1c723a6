"""Helpers of the tests that look at pages: the screenshot folder, a small ring run's flags,
the system Chromium and the lab served in a thread (shared by test_report_html, test_lab and
test_pages_readable)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

# A 2-D ring run small enough to train in a few seconds on one thread: 300 steps, 32-unit
# layers, a sample figure every 100 steps (3 figures) and one checkpoint at the end.
SMALL_RING = [
    "--set", "steps=300", "--set", "threads=1", "--set", "m=64",
    "--set", "generator.hidden=[32,32]", "--set", "discriminator.hidden=[32,32]",
    "--set", "log_every=20", "--set", "sample_every=100", "--set", "checkpoint_every=300",
    "--quiet",
]  # fmt: skip


def artifacts() -> Path:
    """Where screenshots are kept for the reviewer ($GANLAB_TEST_ARTIFACTS or tests/artifacts)."""
    folder = Path(os.environ.get("GANLAB_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium_browser():
    """A launched headless Chromium (a generator for a fixture); skips the test without
    playwright or the system's chromium."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@contextmanager
def served_lab(session, start: bool = False):
    """The lab of `session` served by uvicorn on a free loopback port, in a thread; its URL."""
    pytest.importorskip("uvicorn")
    import uvicorn

    from ganlab.lab.server import create_app, uvicorn_config

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(session, start=True) if start else create_app(session)
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
