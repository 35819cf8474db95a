"""The query-string reader gives exactly what urllib.parse gives, on any text."""

from __future__ import annotations

import urllib.parse

from hypothesis import example, given
from hypothesis import strategies as st

from localviyo.api.querystring import field_count, parse_query, unquote

# What query strings are made of, weighted towards what makes them tricky: escapes (valid, truncated,
# not hex, of invalid UTF-8), separators, pluses, and characters above ASCII (a raw byte of a request
# arrives as one of U+0080-U+00FF; others come from elsewhere, a cursor pasted into a link).
_PIECES = st.one_of(
    st.sampled_from(
        ["%", "%2", "%20", "%C3", "%A9", "%c3%a9", "%E2%82", "%FF", "%zz", "%%", "+", "&", "=", "&&", "=="]
    ),
    st.text(alphabet="abcXYZ019-_.~()\"',[]", min_size=1, max_size=4),
    st.characters(min_codepoint=0x80, max_codepoint=0x2FFF),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
)
QUERY_STRINGS = st.lists(_PIECES, max_size=25).map("".join)


@given(QUERY_STRINGS)
@example("filter=equals(email,%22sarah%40example.com%22)&page%5Bsize%5D=100")
@example("a=%C3%A9&b=%C3©&c=%E2%82é&d=%F0%9F%98&e")
@example("\udc80=%41")
def test_parse_query_is_parse_qsl(text: str) -> None:
    assert parse_query(text) == urllib.parse.parse_qsl(text, keep_blank_values=True)


@given(QUERY_STRINGS)
def test_unquote_is_urllibs(text: str) -> None:
    assert unquote(text) == urllib.parse.unquote(text)


@given(QUERY_STRINGS)
def test_field_count_is_what_parse_qsl_limits(text: str) -> None:
    count = field_count(text)
    urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=count)  # exactly as many: accepted
    if count:
        try:
            urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=count - 1)
        except ValueError:
            return
        raise AssertionError("parse_qsl accepted one field fewer than field_count says there are")
