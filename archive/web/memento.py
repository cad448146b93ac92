"""Memento (RFC 7089) for the archive: a TimeMap per URL in ``application/link-format``, and
a TimeGate that picks the memento nearest an ``Accept-Datetime``.

The mementos are the replay server's URLs (``{replay}/{collection}/{timestamp}/{url}``); the
TimeMap and TimeGate live on the UI origin (``/timemap/link/{url}``, ``/timegate/{url}``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from archive.timeutil import http_date
from archive.urlnorm import replay_url, url_in_path
from archive.warc.cdxj_lookup import Capture

LINK_FORMAT = "application/link-format"


def memento_url(replay_origin: str, capture: Capture, modifier: str = "") -> str:
    """The replay origin's URL of ``capture`` (``modifier`` ``id_``: its body as archived)."""
    found = replay_url(replay_origin, capture.view, capture.timestamp, capture.url,
                       modifier=modifier)
    assert found is not None          # an index line always has all three
    return found


def original_links(url: str, ui_origin: str, *, timegate: bool = True) -> str:
    """The ``Link`` header of a memento (original, TimeGate, TimeMap) or, without
    ``timegate``, of a TimeGate's answer (original, TimeMap)."""
    original = url_in_path(url)
    links = [f'<{original}>; rel="original"']
    if timegate:
        links.append(f'<{ui_origin}/timegate/{original}>; rel="timegate"')
    links.append(f'<{ui_origin}/timemap/link/{original}>; rel="timemap"; type="{LINK_FORMAT}"')
    return ", ".join(links)


def parse_accept_datetime(value: str | None) -> datetime | None:
    """The time an ``Accept-Datetime`` header asks for (RFC 1123), None if absent; ValueError
    if it is not a date."""
    if value is None or not value.strip():
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"Accept-Datetime is not an HTTP date: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def timemap(url: str, captures: list[Capture], *, ui_origin: str, replay_origin: str) -> str:
    """The link-format TimeMap of ``url`` (captures oldest first)."""
    original = url_in_path(url)
    lines = [f'<{original}>; rel="original"',
             f'<{ui_origin}/timegate/{original}>; rel="timegate"']
    self_link = f'<{ui_origin}/timemap/link/{original}>; rel="self"; type="{LINK_FORMAT}"'
    if captures:
        self_link += (f'; from="{http_date(captures[0].timestamp)}"'
                      f'; until="{http_date(captures[-1].timestamp)}"')
    lines.append(self_link)
    last = len(captures) - 1
    for index, capture in enumerate(captures):
        rel = "memento"
        if index == 0 and index == last:
            rel = "first last memento"
        elif index == 0:
            rel = "first memento"
        elif index == last:
            rel = "last memento"
        lines.append(f'<{memento_url(replay_origin, capture)}>; rel="{rel}"; '
                     f'datetime="{http_date(capture.timestamp)}"')
    return ",\n".join(lines) + "\n"
