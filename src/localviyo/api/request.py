"""What a handler sees of a request, and what it gives back."""

from __future__ import annotations

from typing import Any

import msgspec

from localviyo.api.querystring import field_count, parse_query
from localviyo.errors import Invalid, InvalidAttribute, ParseError, PayloadTooLarge, UnsupportedMediaType
from localviyo.revisions import DEFAULT, Revision

JSON_TYPES = frozenset({"application/json", "application/vnd.api+json"})
MAX_BODY_BYTES = 100 * 1024  # "The maximum allowed payload size is 100KB" (Klaviyo, from 2025-01-15)
TOO_LARGE = "The maximum allowed payload size is 100KB."
TOO_DEEP = "JSON parse error - the document nests too deeply."
NUL = "Strings may not contain the NUL character (U+0000)."
MAX_QUERY_PARAMETERS = 100

_decode = msgspec.json.Decoder().decode


# Request and Response are plain classes rather than dataclasses: compiled (setup.py), their __init__ runs
# as native code, where a dataclass's generated one stays Python (2-5% of an update; bench/ROUNDS.md,
# nineteenth round).
class Request:
    def __init__(
        self, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes, base_url: str
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.base_url = base_url
        self.path_params: dict[str, str] = {}
        self.revision: Revision = DEFAULT
        self.account_id = ""
        self._query: dict[str, str] | None = None

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; a repeated name keeps its last value."""
        if self._query is None:
            if not self.query_string:
                self._query = {}
                return self._query
            if field_count(self.query_string) > MAX_QUERY_PARAMETERS:
                raise Invalid(
                    f"Too many query parameters: at most {MAX_QUERY_PARAMETERS} are accepted.", parameter="query"
                )
            self._query = dict(parse_query(self.query_string))
        return self._query

    def json(self) -> Any:
        body = self.body
        if not body or body.isspace():  # bytes.isspace: the whitespace bytes.strip() removes, without a copy
            return None
        media_type = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in JSON_TYPES:
            raise UnsupportedMediaType(media_type)
        try:
            document = _decode(self.body)
        except (msgspec.DecodeError, UnicodeDecodeError) as error:
            raise ParseError(f"JSON parse error - {error}", pointer="/data/") from None
        except RecursionError:
            raise ParseError(TOO_DEEP, pointer="/data/") from None
        # A NUL can only arrive escaped; look for where only when the escape is there at all.
        if b"\\u0000" in self.body and (pointer := find_nul(document)) is not None:
            raise InvalidAttribute(NUL, pointer=pointer)
        return document


def find_nul(document: Any) -> str | None:
    """The JSON pointer of the first string or key holding U+0000, if any (no recursion: any depth)."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        value, pointer = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return pointer
        elif isinstance(value, dict):
            for key, item in value.items():
                escaped = key.replace("~", "~0").replace("/", "~1")
                if "\x00" in key:
                    return f"{pointer}/{escaped}"
                stack.append((item, f"{pointer}/{escaped}"))
        elif isinstance(value, list):
            stack.extend((item, f"{pointer}/{index}") for index, item in enumerate(value))
    return None


class Response:
    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/vnd.api+json",
        delay: float = 0.0,  # seconds to wait before answering (a latency fault)
    ) -> None:
        self.status = status
        self.body = body
        self.headers: dict[str, str] = {} if headers is None else headers
        self.content_type = content_type
        self.delay = delay


async def read_body(headers: dict[str, str], receive: Any, limit: int) -> bytes:
    """The whole request body; PayloadTooLarge as soon as it is known to pass `limit` bytes."""
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(TOO_LARGE, pointer="/data/")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(TOO_LARGE, pointer="/data/")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
