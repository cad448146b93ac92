"""archive.warc.http_message: the header text of stored HTTP messages."""

from __future__ import annotations

import pytest

from archive.warc.http_message import header_lines


@pytest.mark.parametrize("headers", [
    [("Server", "nginx"), ("ETag", '"abc"')],
    [("Content-Disposition", "attachment; filename=café.html"), ("X-A", "b")],   # latin-1
    [("X-Title", "Қазақстан"), ("Server", "nginx"), ("X-Note", "naïve")],         # UTF-8 line
    [],
])
def test_header_lines_are_latin1_per_line_else_utf8(headers) -> None:
    expected = b"".join((f"{n}: {v}".encode("latin-1") if all(ord(c) < 256 for c in f"{n}{v}")
                         else f"{n}: {v}".encode()) + b"\r\n" for n, v in headers)
    assert header_lines(headers) == expected


@pytest.mark.parametrize("bad", [("X-A", "b\r\nX-B: c"), ("X-A", "b\rc"), ("X-A", "b\nc"),
                                 ("X\nA", "b"), ("X-A", "Қ\nc")])
def test_header_lines_refuse_line_breaks(bad) -> None:
    with pytest.raises(ValueError, match="line break"):
        header_lines([("Server", "nginx"), bad])

