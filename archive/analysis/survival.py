"""Survival data: one row per watched URL and per list item, with its time to its first confirmed
deletion, interval-censored (a deletion happened somewhere between the last check that saw the
page alive and the first check that found it missing).

Rows (``COLUMNS``, README "Survival data"):

- ``url``, ``item_id``, ``source``, ``platform`` (the stored platform, else the one its host name
  picks, as the re-checker does: archive.platforms.registry.platform_for).
- ``published_at``: the item's time on its list (a Telegram message's, a Weibo post's), else the
  ``published_at`` of the URL's last good capture's metadata (a WeChat article's); None when
  neither is known. Feeds' item times are not stored by the crawl, so a feed entry has none.
- ``first_seen_at``: when memoryhole first saw it.
- ``last_seen_alive_at``, ``first_seen_missing_at``: the detection interval of its first
  confirmed deletion (from the deletion log); for a row without one, the last time it was seen
  alive and None.
- ``event``: 1 for a confirmed deletion (the first one, restored later or not), 0 right-censored.
- ``t0``: the time origin: ``published_at`` when known and not later than ``first_seen_at``, else
  ``first_seen_at``. Every ``*_s`` column counts seconds from it.
- ``duration_s``: events: to the midpoint of the detection interval; censored: to
  ``last_seen_alive_at``.
- ``interval_low_s``, ``interval_high_s``: events: ``last_seen_alive_at - t0`` and
  ``first_seen_missing_at - t0``; censored: ``duration_s`` and None (+infinity).
- ``reason``: the deletion's reason (None when censored); ``story_id``: the story the URL's
  text is a copy of (archive.writer.stories; None when it is in none, and for list items).

A row whose t0 is its publication time entered observation late, at ``first_seen_at - t0``
(:attr:`SurvivalRow.entry_s`): analyses must treat it as left-truncated (delayed entry).

Left out: URLs never seen alive (no good capture before any deletion: no survival time;
:func:`scan` gives them as :class:`Unobserved`, for coverage), the re-checker's canaries
(source ``canaries``), list items watched through their own URL (that URL's row stands for them)
and service items (a "pinned" notice).

Cost: one pass over ``urls`` and one over ``items``; each row's deletion, item time and capture
metadata are primary-key or indexed lookups (see :func:`build_queries` and its test of the query
plan); rows are streamed, never held.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.catalogue.due import CANARIES
from archive.platforms.registry import platform_for
from archive.timeutil import iso, parse_iso, parse_time_or_age

COLUMNS: tuple[str, ...] = (
    "url", "item_id", "source", "platform", "published_at", "first_seen_at",
    "last_seen_alive_at", "first_seen_missing_at", "event", "duration_s", "interval_low_s",
    "interval_high_s", "reason", "story_id", "t0",
)

_DELETION = ("deletions AS d ON d.id = (SELECT x.id FROM deletions AS x WHERE {where}"
             " ORDER BY x.detected_at, x.id LIMIT 1)")
_URL_SQL = (
    "SELECT u.url, u.item_id, u.source, u.platform, u.first_seen_at, u.last_alive_at,"
    " (SELECT i.posted_at FROM items AS i WHERE i.url_id = u.id AND i.posted_at IS NOT NULL"
    "  LIMIT 1),"
    " CASE WHEN json_valid(c.meta) THEN json_extract(c.meta, '$.published_at') END,"
    " d.last_seen_alive_at, d.first_seen_missing_at, d.detected_at, d.reason,"
    " d.last_good_capture_id IS NOT NULL, u.story_id"
    " FROM urls AS u"
    " LEFT JOIN captures AS c ON c.id = u.last_capture_id"
    " LEFT JOIN " + _DELETION.format(where="x.url = u.url AND x.url_id = u.id")
)
_ITEM_SQL = (
    "SELECT coalesce(i.url, i.parent_url), i.item_id, i.source, i.platform, i.first_seen_at,"
    " i.last_seen_at, i.posted_at, NULL,"
    " d.last_seen_alive_at, d.first_seen_missing_at, d.detected_at, d.reason,"
    " d.last_good_capture_id IS NOT NULL, NULL"
    " FROM items AS i"
    " LEFT JOIN " + _DELETION.format(
        where="x.parent_url = i.parent_url AND x.item_id = i.item_id AND x.url_id IS NULL")
)


@dataclass(frozen=True)
class SurvivalFilter:
    """Which rows: first seen at or after ``since``, of one ``source``, of one ``platform``."""

    since: datetime | None = None
    source: str | None = None
    platform: str | None = None

    @classmethod
    def parse(cls, since: str | None, source: str | None = None,
              platform: str | None = None) -> SurvivalFilter:
        """From a user's words (the CLI's options, the report page's query): ``since`` a time or
        an age such as 30d; ValueError names a bad one. Empty words are no filter."""
        return cls(since=parse_time_or_age(since) if since else None, source=source or None,
                   platform=platform or None)


@dataclass(frozen=True)
class SurvivalRow:
    url: str
    item_id: str | None
    source: str | None
    platform: str
    published_at: str | None
    first_seen_at: str
    last_seen_alive_at: str
    first_seen_missing_at: str | None
    event: int
    duration_s: float
    interval_low_s: float
    interval_high_s: float | None
    reason: str | None
    t0: str
    entry_s: float                 # first_seen_at - t0: when observation began (delayed entry)
    detected_at: str | None        # when the deletion was confirmed
    captured: bool                 # an archived copy from before the deletion exists
    story_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The CSV columns (``COLUMNS``) of this row."""
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass(frozen=True)
class Unobserved:
    """A URL or item never seen alive (added, then found missing or in error): no survival time;
    a deletion of one counts against coverage (nothing was archived before it went)."""

    url: str
    item_id: str | None
    source: str | None
    platform: str
    event: int
    reason: str | None
    detected_at: str | None


def build_queries(flt: SurvivalFilter) -> list[tuple[str, list[Any]]]:
    """The SQL and parameters of the URL rows and of the item rows (exposed for the query plan
    test). A platform is filtered again in Python: an unset one is picked by host name."""
    queries = []
    for sql, alias, extra in ((_URL_SQL, "u", ["u.source IS NOT ?"]),
                              (_ITEM_SQL, "i", ["i.url_id IS NULL", "i.service = 0"])):
        where, params = list(extra), [CANARIES] if alias == "u" else []
        if flt.source is not None:
            where.append(f"{alias}.source = ?")
            params.append(flt.source)
        if flt.since is not None:
            where.append(f"{alias}.first_seen_at >= ?")
            params.append(iso(flt.since))
        if flt.platform is not None:
            where.append(f"({alias}.platform = ? OR {alias}.platform IS NULL"
                         f" OR {alias}.platform = '')")
            params.append(flt.platform.strip().lower())
        queries.append((f"{sql} WHERE {' AND '.join(where)} ORDER BY {alias}.id", params))
    return queries


def scan(db: Any, flt: SurvivalFilter | None = None) -> Iterator[SurvivalRow | Unobserved]:
    """Every URL and item matching ``flt``, those never seen alive too (as :class:`Unobserved`):
    URLs in the order they were first watched, then items (``db``: a sqlite-utils Database or a
    sqlite3 Connection)."""
    flt = flt or SurvivalFilter()
    conn: sqlite3.Connection = getattr(db, "conn", db)
    wanted = flt.platform.strip().lower() if flt.platform else None
    for sql, params in build_queries(flt):
        for raw in conn.execute(sql, params):
            row = _row(raw)
            if wanted is None or row.platform == wanted:
                yield row


def survival_rows(db: Any, flt: SurvivalFilter | None = None) -> Iterator[SurvivalRow]:
    """The survival rows matching ``flt`` (module docstring), in :func:`scan`'s order."""
    for row in scan(db, flt):
        if isinstance(row, SurvivalRow):
            yield row


def _seconds(text: str | None) -> float | None:
    """Epoch seconds of a stored or platform time; None when missing or not a time."""
    if not text:
        return None
    try:
        return parse_iso(str(text)).timestamp()
    except ValueError:
        return None


def _round(value: float) -> float:
    return round(value, 3)


def _row(raw: tuple[Any, ...]) -> SurvivalRow | Unobserved:
    (url, item_id, source, platform, first_seen, last_alive, posted, meta_published,
     del_alive, del_missing, detected, reason, captured, story_id) = raw
    platform = platform_for(url, platform)
    event = detected is not None
    first = _seconds(first_seen)
    alive = _seconds(del_alive if event else last_alive)
    if first is None or alive is None:
        return Unobserved(url=url, item_id=item_id, source=source, platform=platform,
                          event=int(event), reason=reason, detected_at=detected)
    published_text = posted if _seconds(posted) is not None else meta_published
    published = _seconds(published_text)
    published_at = iso(parse_iso(str(published_text))) if published is not None else None
    t0, t0_text = (published, published_at) if published is not None and published <= first \
        else (first, first_seen)
    low = max(alive - t0, 0.0)
    high: float | None = None
    duration = low
    if event:
        missing = _seconds(del_missing) or _seconds(detected) or alive
        high = max(missing - t0, low)
        duration = (low + high) / 2
    return SurvivalRow(
        url=url, item_id=item_id, source=source, platform=platform, published_at=published_at,
        first_seen_at=first_seen, last_seen_alive_at=del_alive if event else last_alive,
        first_seen_missing_at=(del_missing or detected) if event else None, event=int(event),
        duration_s=_round(duration), interval_low_s=_round(low),
        interval_high_s=None if high is None else _round(high), reason=reason if event else None,
        t0=t0_text, entry_s=_round(first - t0), detected_at=detected,
        captured=bool(captured) if event else True, story_id=story_id)
