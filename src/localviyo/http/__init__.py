"""localviyo's own HTTP/1.1 server for ASGI apps (see server.py for why)."""

from localviyo.http.server import Server

__all__ = ["Server"]
