"""The web server of `ganlab lab`: one LabSession, the page, controls and frames.

    GET  /                 the page (static/index.html, static/lab.js)
    GET  /api/frame        the current frame as JSON (what the WebSocket sends)
    POST /api/control      a control message, JSON: {"action": "play"} ...; 400 + one line if bad
    WS   /ws               frames, ~10 a second, the same text to every connected tab

The session's frame thread hands each frame to `Hub.publish`, which puts it in every client's
one-slot queue from the event loop (a client that reads slowly skips frames; nobody waits for
it, training least of all).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import webbrowser
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ganlab.errors import ConfigError, GanlabError
from ganlab.lab.session import LabSession

STATIC = ("index.html", "lab.js")


class Hub:
    """The connected clients' queues; frames from the session's thread go to all of them."""

    def __init__(self):
        self.queues: set[asyncio.Queue] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    def publish(self, text: str) -> None:
        """Called from the frame thread: hand `text` to the event loop, return at once."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._offer, text)

    def _offer(self, text: str) -> None:
        for q in list(self.queues):
            if q.full():  # a slow client gets the newest frame, not a backlog
                q.get_nowait()
            q.put_nowait(text)


def create_app(session: LabSession | None = None, start: bool = True) -> FastAPI:
    """The FastAPI app around `session` (a new ring-of-8 session by default).

    Args:
        session: the session to serve; several apps never share one.
        start: start the session's training and frame threads with the app.
    """
    session = session or LabSession()
    hub = Hub()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        hub.loop = asyncio.get_running_loop()
        session.add_listener(hub.publish)
        if start:
            session.start()
        try:
            yield
        finally:
            session.remove_listener(hub.publish)
            session.close()

    app = FastAPI(title="ganlab lab", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.session, app.state.hub = session, hub
    files = resources.files("ganlab.lab") / "static"

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse((files / "index.html").read_text(encoding="utf-8"))

    @app.get("/lab.js")
    def script() -> Response:
        text = (files / "lab.js").read_text(encoding="utf-8")
        return Response(text, media_type="text/javascript")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/api/frame")
    def frame() -> Response:
        return Response(session.frame_text(), media_type="application/json")

    @app.post("/api/control")
    async def control(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            # the session's lock may wait for a training chunk: keep the event loop free
            result = await asyncio.to_thread(session.control, body)
        except GanlabError as e:
            return JSONResponse({"ok": False, "error": str(e)}, status_code=400)
        return JSONResponse(result)

    @app.websocket("/ws")
    async def frames(ws: WebSocket) -> None:
        await ws.accept()
        queue: asyncio.Queue = asyncio.Queue(maxsize=1)
        hub.queues.add(queue)
        closed = asyncio.create_task(_until_closed(ws))
        try:
            while True:
                get = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    get.cancel()
                    break
                await ws.send_text(get.result())
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            pass
        finally:
            hub.queues.discard(queue)
            closed.cancel()

    return app


async def _until_closed(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        return


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host: str, port: int) -> int:
    """`port` if it can be bound on `host` (0: any free one), else a ConfigError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({e.strerror or e}); pass another --port "
                "(0 picks a free one) or --host"
            ) from None
        return s.getsockname()[1]


def serve(
    host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True, dataset: str = "ring"
) -> None:
    """Run the lab's server until Ctrl-C; open the page in the default browser unless told not.

    Raises:
        LabError: an unknown dataset.  ConfigError: the port cannot be bound.
    """
    import uvicorn

    session = LabSession(dataset)
    port = free_port(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    print(f"ganlab lab: {url}  (Ctrl-C to stop)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, (url,)).start()
    uvicorn.Server(uvicorn_config(create_app(session), host, port)).run()


def uvicorn_config(app: FastAPI, host: str, port: int):
    """uvicorn's settings for the lab. Frames are compressed by no one: on a loopback link
    deflating ~50 kB per client ten times a second costs CPU that training needs."""
    import uvicorn

    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", ws_per_message_deflate=False
    )
