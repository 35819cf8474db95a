"""The app driven in-process over ASGI, on an event loop of the test's own: several requests gathered in
one call all run in one turn of the loop, which is how tests reach group commit and back-to-back batches
deterministically."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
from client import REVISION, Reply

from localviyo.app import LocalviyoApp

Probe = Callable[[int], None]  # called with the status just before an answer leaves the app


async def call(
    app: LocalviyoApp, key: str, method: str, path: str, document: Any = None, probe: Probe | None = None
) -> Reply:
    """One request to `app`, as a server would hand it over."""
    body = b"" if document is None else json.dumps(document).encode()
    headers = [
        (b"host", b"localviyo.test"),
        (b"authorization", f"Klaviyo-API-Key {key}".encode()),
        (b"revision", REVISION.encode()),
        (b"content-type", b"application/vnd.api+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {"type": "http", "method": method, "path": path, "query_string": b"", "headers": headers}
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start" and probe is not None:
            probe(message["status"])
        sent.append(message)

    await app(scope, receive, send)
    raw_headers = [(name.decode(), value.decode()) for name, value in sent[0]["headers"]]
    return Reply(sent[0]["status"], httpx.Headers(raw_headers), sent[1]["body"].decode())


def serving(app: LocalviyoApp, scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run `scenario` on an event loop where the app has started (its lifespan: group commit, the
    checkpoint thread), and stop the app after it."""

    async def main() -> Any:
        messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        replies: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        await messages.put({"type": "lifespan.startup"})
        lifespan = asyncio.create_task(app({"type": "lifespan"}, messages.get, replies.put))
        assert (await replies.get())["type"] == "lifespan.startup.complete"
        try:
            return await scenario()
        finally:
            await messages.put({"type": "lifespan.shutdown"})
            await lifespan

    return asyncio.run(main())
