"""The event loops localviyo's HTTP server runs on, for tests that run on each: asyncio's and uvloop's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import uvloop

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
