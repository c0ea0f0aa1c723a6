"""`ganlab lab` under load: N pages watching one session while it trains.

Starts `ganlab lab` on a free loopback port (a separate process, as a user would), presses play
on the default ring of 8, and measures, first with no page open and then with N WebSocket
clients connected for S seconds: the training speed (iterations of Algorithm 1 per second, from
the step counter) and the frames each client received per second. Prints a table.

    OMP_NUM_THREADS=1 python benchmarks/lab_clients.py              # 10 clients, 60 s
    OMP_NUM_THREADS=1 python benchmarks/lab_clients.py --clients 3 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request

import websockets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, message: dict) -> dict:
    req = urllib.request.Request(
        url + "api/control",
        data=json.dumps(message).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def frame(url: str) -> dict:
    with urllib.request.urlopen(url + "api/frame", timeout=30) as r:
        return json.loads(r.read())


async def client(url: str, seconds: float, out: dict) -> None:
    """One page: count frames and note the first and last step seen."""
    frames, first, last = 0, None, None
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                text = await asyncio.wait_for(ws.recv(), timeout=left)
            except TimeoutError:
                break
            f = json.loads(text)
            frames += 1
            first = (time.monotonic(), f["step"]) if first is None else first
            last = (time.monotonic(), f["step"])
    out.update(frames=frames, first=first, last=last)


async def clients(url: str, n: int, seconds: float) -> list[dict]:
    results = [{} for _ in range(n)]
    await asyncio.gather(*(client(url, seconds, r) for r in results))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--baseline", type=float, default=15.0, help="seconds with no client")
    args = ap.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    server = subprocess.Popen(
        [sys.executable, "-m", "ganlab", "lab", "--port", str(port), "--no-browser"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                frame(url)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the lab server did not start") from None
                time.sleep(0.5)
        post(url, {"action": "play"})
        # no page open: the frame thread is idle; read the step counter over HTTP twice
        s0, t0 = frame(url)["step"], time.monotonic()
        time.sleep(args.baseline)
        s1, t1 = frame(url)["step"], time.monotonic()
        alone = (s1 - s0) / (t1 - t0)
        ws_url = f"ws://127.0.0.1:{port}/ws"
        results = asyncio.run(clients(ws_url, args.clients, args.seconds))
        post(url, {"action": "pause"})
    finally:
        server.terminate()
        server.wait(timeout=30)

    fps = [r["frames"] / args.seconds for r in results]
    steps = [
        (r["last"][1] - r["first"][1]) / max(r["last"][0] - r["first"][0], 1e-9)
        for r in results
        if r.get("first") and r.get("last")
    ]
    print(f"ganlab lab, ring of 8 (default settings), {platform.processor() or platform.machine()}")
    print(f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={env['OMP_NUM_THREADS']}")
    print()
    print("| clients | seconds | frames/s per client (min / mean / max) | iterations/s |")
    print("| --- | --- | --- | --- |")
    print(f"| 0 | {args.baseline:.0f} | - | {alone:.0f} |")
    lo, mean, hi = min(fps), sum(fps) / len(fps), max(fps)
    rate = sum(steps) / len(steps) if steps else float("nan")
    row = f"{lo:.1f} / {mean:.1f} / {hi:.1f}"
    print(f"| {args.clients} | {args.seconds:.0f} | {row} | {rate:.0f} |")


if __name__ == "__main__":
    main()
