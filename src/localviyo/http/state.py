"""What a server's connections share: the open connections, whether it is stopping, its settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from localviyo.http.outbox import Outbox


@dataclass
class ServerState:
    keep_alive_timeout: float = 5.0  # seconds an idle connection stays open
    forwarded_allow: frozenset[str] = frozenset({"127.0.0.1"})  # proxies whose X-Forwarded-Proto is believed
    connections: set[Any] = field(default_factory=set)
    stopping: bool = False
    access_log: bool = False  # a line at INFO for each answer
    outbox: Outbox = field(default_factory=Outbox)  # the connections with bytes waiting to be sent
