"""Read a capture back: the archived body the catalogue row of a capture points at.

The read side's one way to a capture's content (history, diffs, exports, the web UI); the
archive writer uses it too, to diff a changed page against its last good capture.
"""

from __future__ import annotations

from typing import Any

from archive.home import Home
from archive.warc.reader import RecordNotFound, read_response


def text_sql(alias: str) -> tuple[str, str]:
    """(expression, join) for the text of the capture aliased ``alias`` in a query: its own, or
    that of the capture it names (``text_capture_id``, migration 0012), joined as
    ``<alias>_text``."""
    return (f"coalesce({alias}.text, {alias}_text.text)",
            f"LEFT JOIN captures AS {alias}_text ON {alias}_text.id = {alias}.text_capture_id")


def capture_text(conn: Any, capture_id: int) -> str | None:
    """The extracted text of a capture (None when it has none or is not catalogued)."""
    text, join = text_sql("c")
    row = conn.execute(f"SELECT {text} FROM captures AS c {join} WHERE c.id = ?",
                       (capture_id,)).fetchone()
    return row[0] if row else None


def text_holder(conn: Any, capture_id: int) -> tuple[int, str | None] | None:
    """(id, text) of the capture that holds ``capture_id``'s text: itself, or the one it
    names."""
    return conn.execute(
        "SELECT t.id, t.text FROM captures AS c JOIN captures AS t ON"
        " t.id = coalesce(c.text_capture_id, c.id) WHERE c.id = ?", (capture_id,)).fetchone()


def capture_body(conn: Any, home: Home, capture_id: int) -> tuple[bytes, str | None, str]:
    """(decoded body, Content-Type, captured_at) of a capture, following a revisit to the
    record that holds the payload. For a page rendered in the browser, the body is the DOM it
    was recorded with (its ``urn:dom:`` resource), what its text was made from: the document
    the server sent may hold none of it."""
    row = conn.execute(
        "SELECT url, collection, warc_filename, warc_offset, is_revisit, payload_digest,"
        " captured_at, via, fetched_url, run_id, vantage FROM captures WHERE id = ?",
        (capture_id,),
    ).fetchone()
    if row is None:
        raise RecordNotFound(f"no capture {capture_id} in the catalogue")
    (url, collection, filename, offset, is_revisit, digest, captured_at, via, fetched, run,
     vantage) = row
    if via == "browser":
        dom = conn.execute(
            "SELECT collection, warc_filename, warc_offset FROM captures WHERE url = ? AND"
            " captured_at >= ? AND run_id IS ? AND vantage IS ? ORDER BY captured_at, id"
            " LIMIT 1", (f"urn:dom:{fetched or url}", captured_at, run, vantage)).fetchone()
        if dom is not None:
            return read_response(home, *dom).decoded_body(), "text/html; charset=utf-8", \
                captured_at
    headers_from = read_response(home, collection, filename, offset)
    payload_from = headers_from
    if is_revisit:
        original = conn.execute(
            "SELECT collection, warc_filename, warc_offset FROM captures WHERE url = ? AND"
            " payload_digest = ? AND is_revisit = 0 ORDER BY id DESC LIMIT 1", (url, digest),
        ).fetchone()
        if original is None:
            raise RecordNotFound(f"the original of revisit capture {capture_id} is not catalogued")
        payload_from = read_response(home, *original)
    return payload_from.decoded_body(), headers_from.header("Content-Type"), captured_at
