"""One HTTP/1.1 connection: bytes in through httptools, ASGI 3 to the app, one write per response.

Each request becomes a `Cycle` whose app call runs as a task; requests pipelined behind it wait their
turn, so answers leave in the order the requests came. The status line, headers and a final body go out
in a single `transport.write`: one send and one segment for the answers localviyo gives, where a server
that writes the head and the body apart pays for two. That write waits in the server's outbox until the
loop's next turn, when the answers of a turn leave back to back (outbox.py says why).

What a general server does and this one keeps: keep-alive (HTTP/1.1 by default, HTTP/1.0 on request),
`Connection: close`, chunked bodies both ways, `Expect: 100-continue`, bodies read as the app asks for
them (pausing the socket while unread data piles up), the rest of a body the app answered without reading
discarded, a plain 400 for what the parser refuses, a 500 for an app that fails before answering,
`X-Forwarded-Proto` from a trusted proxy, idle connections closed after a timeout, and backpressure from
a slow reader.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import httptools

from localviyo.http import outbox
from localviyo.http.cycle import Cycle, plain_response
from localviyo.http.state import ServerState

log = logging.getLogger("localviyo")

HIGH_WATER = 64 * 1024  # unread request body after which the socket is paused


class Connection(asyncio.Protocol):
    def __init__(self, app: Callable[..., Any], state: ServerState) -> None:
        self.app, self.state = app, state
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.trusted = False
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.parsing: Cycle | None = None  # the request whose body is arriving
        self.active: Cycle | None = None  # the request whose app call is running
        self.waiting: deque[Cycle] = deque()  # pipelined requests behind it
        self.read_paused = False
        self.write_paused = False
        self.drained: asyncio.Event | None = None
        self.idle_since: float | None = None  # when the last answer left, while nothing else is asked
        self.eof = False  # the client has shut its side: answer what it asked, then close
        self.closed = False
        self.unsent: list[bytes] = []  # written, waiting in the server's outbox (outbox.py)
        self.unsent_size = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport (uvloop's is not a subclass)
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        self.trusted = self.client is not None and self.client[0] in self.state.forwarded_allow
        self.state.connections.add(self)
        self.idle_since = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.unsent, self.unsent_size = [], 0
        self.state.connections.discard(self)
        for cycle in (self.active, self.parsing, *self.waiting):
            if cycle is not None:
                cycle.disconnect()
        if self.drained is not None:
            self.drained.set()

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no protocol switching: the request is served as plain HTTP/1.1
        except httptools.HttpParserError as error:
            cause = error.__context__
            if isinstance(error, httptools.HttpParserCallbackError) and not isinstance(
                cause, UnicodeError | httptools.HttpParserError
            ):
                # A callback below failed other than on a URL it cannot read: the server's fault, logged.
                log.error("error reading a request", exc_info=cause)
            self.refuse("Invalid HTTP request received.")

    def eof_received(self) -> bool:
        """The client is done sending (a half-close): answer what it asked, then close."""
        self.eof = True
        if self.parsing is not None:
            self.parsing.disconnect()  # its body will never be whole
        if self.active is None:
            self.close()
        return True  # keep the transport open for the answers

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.drained is None:
            self.drained = asyncio.Event()
        self.drained.clear()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.drained is not None:
            self.drained.set()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self.url, self.headers = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        assert self.transport is not None
        parser = self.parser
        cycle = Cycle(
            self,
            method=parser.get_method().decode("ascii"),
            url=self.url,
            headers=self.headers,
            http_version=parser.get_http_version(),
            keep_alive=parser.should_keep_alive() and not self.state.stopping,
        )
        self.parsing = cycle
        if self.active is None:
            self._start(cycle)
        else:
            self.waiting.append(cycle)
            self.pause_reading()  # one request ahead is enough: the socket holds the rest

    def on_body(self, body: bytes) -> None:
        cycle = self.parsing
        if cycle is None or cycle.response_complete or cycle.disconnected:
            return  # answered without reading it all: the rest is discarded
        cycle.add_body(body)
        if cycle.buffered > HIGH_WATER:
            self.pause_reading()

    def on_message_complete(self) -> None:
        cycle, self.parsing = self.parsing, None
        if cycle is not None:
            cycle.end_body()

    # what the cycles ask of their connection

    def write(self, data: bytes) -> None:
        """Send `data` at the start of the loop's next turn, with the other answers of this one."""
        if self.transport is None or self.closed or not data:
            return
        if not self.unsent:
            self.state.outbox.add(self, self.loop)
        self.unsent.append(data)
        self.unsent_size += len(data)
        if self.unsent_size > outbox.HIGH_WATER:
            self.flush()

    def flush(self) -> None:
        """Send what is waiting now."""
        unsent = self.unsent
        if not unsent:
            return
        data = unsent[0] if len(unsent) == 1 else b"".join(unsent)
        self.unsent, self.unsent_size = [], 0
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def drain(self) -> None:
        if self.write_paused and self.drained is not None and not self.closed:
            await self.drained.wait()

    def pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None and not self.closed:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused and self.transport is not None and not self.closed:
            self.read_paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.flush()
            self.closed = True
            self.transport.close()

    def refuse(self, message: str) -> None:
        """What the parser cannot read gets a plain 400, and the connection ends."""
        if self.active is None or not self.active.response_started:
            self.write(plain_response(400, message))
        self.close()

    def finished(self, cycle: Cycle) -> None:
        """`cycle`'s app call returned: close, or start the next request, or wait for one."""
        self.active = None
        if self.state.access_log:
            scope = cycle.scope
            log.info(
                '%s - "%s %s HTTP/%s" %d',
                _client(self.client),
                scope["method"],
                _target(scope),
                scope["http_version"],
                cycle.status,
            )
        if not cycle.keep_alive or not cycle.response_complete or self.state.stopping:
            self.close()
            return
        if self.eof and not self.waiting:
            self.close()
            return
        if self.waiting:
            self._start(self.waiting.popleft())
        if not self.waiting:
            self.resume_reading()
        if self.active is None and self.parsing is None:
            self.idle_since = self.loop.time()

    def stop(self) -> None:
        """The server is stopping: close now if idle, else after the answer in progress."""
        if self.active is None and self.parsing is None:
            self.close()

    def _start(self, cycle: Cycle) -> None:
        self.active = cycle
        self.loop.create_task(cycle.run(self.app))

    def close_if_idle(self, now: float) -> None:
        """Close a keep-alive connection nobody has used for the keep-alive timeout (the server's sweep)."""
        since = self.idle_since
        if since is not None and now - since >= self.state.keep_alive_timeout and self.active is None:
            self.close()


def _client(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "-"


def _target(scope: dict[str, Any]) -> str:
    path: str = scope["path"]
    query: str = scope["query_string"].decode("latin-1")
    return path + ("?" + query if query else "")


def _address(address: Any) -> tuple[str, int] | None:
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), int(address[1])
    return None
