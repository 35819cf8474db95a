"""localviyo's HTTP server: an ASGI 3 app on one socket, in one process, until told to stop.

`Server(app, host, port).run()` serves on uvloop where it is installed (asyncio's loop otherwise), runs
the app's lifespan around the serving, and stops on SIGINT or SIGTERM, or `request_stop()` from another
thread: it stops listening, lets the answers in progress finish (up to `shutdown_timeout` seconds), closes
every connection, then runs the lifespan's shutdown.

Why not uvicorn, which served localviyo until it was measured: the Python that turns each request into
ASGI messages and back cost more than localviyo's own work on a Get Profile (bench/ROUNDS.md, ninth round).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from localviyo.http.listener import Listener, bind
from localviyo.http.protocol import Connection
from localviyo.http.state import ServerState

log = logging.getLogger("localviyo")


class Server:
    def __init__(
        self,
        app: Callable[..., Any],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        keep_alive_timeout: float = 5.0,
        shutdown_timeout: float = 10.0,
        backlog: int = 2048,
        access_log: bool = False,
    ) -> None:
        self.app, self.host, self.port, self.backlog = app, host, port, backlog
        self.sock = sock  # an already listening socket to serve on instead (serve --workers)
        self.shutdown_timeout = shutdown_timeout
        self.state = ServerState(keep_alive_timeout=keep_alive_timeout, access_log=access_log)
        self.sockets: list[socket.socket] = []
        self.started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False

    def run(self, *, handle_signals: bool = True) -> None:
        """Serve until stopped (blocking); the caller's thread becomes the server's."""
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop comes with localviyo on every platform it supports
            asyncio.run(self.serve(handle_signals=handle_signals))
        else:
            uvloop.run(self.serve(handle_signals=handle_signals))

    def request_stop(self) -> None:
        """Stop serving; safe from any thread, before or after the server started."""
        self._stop_requested = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing left to stop
                loop.call_soon_threadsafe(stop.set)

    async def serve(self, *, handle_signals: bool = True) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stop_requested:
            return
        if handle_signals:
            for number in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(number, self._stop.set)
        lifespan = Lifespan(self.app)
        await lifespan.startup()

        def connection() -> Connection:
            return Connection(self.app, self.state)

        sock = self.sock if self.sock is not None else bind(self.host, self.port, self.backlog)
        listener = Listener(loop, sock, connection, batch=self.backlog)
        await listener.start()
        self.sockets = [sock]
        host, port = self.sockets[0].getsockname()[:2]
        log.info("localviyo: serving on http://%s:%d (press Ctrl-C to stop)", host, port)
        self.started = True
        sweep = loop.create_task(self._sweep())
        try:
            await self._stop.wait()
        finally:
            sweep.cancel()
            listener.close()
            await self._drain()
            await lifespan.shutdown()
            log.info("localviyo: stopped")

    async def _sweep(self) -> None:
        """Close idle keep-alive connections: one timer for the server, not one per request."""
        loop = asyncio.get_running_loop()
        interval = max(0.05, min(1.0, self.state.keep_alive_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for connection in list(self.state.connections):
                connection.close_if_idle(now)

    async def _drain(self) -> None:
        """Let the answers in progress finish, then close what is left."""
        self.state.stopping = True
        deadline = time.monotonic() + self.shutdown_timeout
        while self.state.connections and time.monotonic() < deadline:
            for connection in list(self.state.connections):
                connection.stop()
            await asyncio.sleep(0.01)
        for connection in list(self.state.connections):
            connection.close()
        await asyncio.sleep(0)  # let the transports close


def log_to_stderr(level: str) -> None:
    """localviyo's log lines (startup, errors, the access log at debug) to stderr, from `level` up."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("localviyo")
    logger.addHandler(handler)
    logger.setLevel(level.upper())


def load_app(target: str, *, factory: bool) -> Any:
    """The ASGI app named by "module:attribute", or made by calling it (`factory`)."""
    module, _, name = target.partition(":")
    app = getattr(importlib.import_module(module), name)
    return app() if factory else app


class Lifespan:
    """The ASGI lifespan protocol, around the serving."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.inbox.put({"type": "lifespan.startup"})
        message = await self.outbox.get()
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"the app failed to start: {message.get('message', '')}")

    async def shutdown(self) -> None:
        if self.task is None or self.task.done():
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.outbox.get(), timeout=10)

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        try:
            await self.app(scope, self.inbox.get, self.outbox.put)
        except Exception:
            log.exception("the app's lifespan failed")
            await self.outbox.put({"type": "lifespan.startup.failed", "message": "the app raised"})
        else:  # an app without a lifespan returns at once: nothing to start or stop
            await self.outbox.put({"type": "lifespan.startup.complete"})
