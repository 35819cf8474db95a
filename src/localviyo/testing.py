"""Serving the app on a real socket from a background thread: for tests, ours and our users'."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from localviyo.app import LocalviyoApp
from localviyo.http import Server


class ServerThread:
    """`with ServerThread(app) as server: server.url` — `localviyo serve`'s HTTP server on 127.0.0.1, a free
    port, until exit."""

    def __init__(self, app: LocalviyoApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server = Server(app, host, port)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"handle_signals": False}, name="localviyo-server", daemon=True
        )
        self.url = ""

    def start(self, timeout: float = 10.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("localviyo server thread did not start")
            time.sleep(0.005)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.request_stop()
        self._thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
