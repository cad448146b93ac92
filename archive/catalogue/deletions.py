"""The deletion log, read side: filter the ``deletions`` table and shape each row for output.

``query_deletions`` returns plain dicts (the DESIGN.md "deletion object"), newest first::

    {"id", "url", "domain", "source", "reason", "detected_at", "last_seen_alive_at",
     "first_seen_missing_at", "confirmed_checks", "restored_at", "item_id", "parent_url",
     "item_text", "evidence": {"http_status", "rule", "detail", "capture_id", "captured_at",
                  "warc_filename", "offset"},
     "last_good_capture": {"capture_id", "timestamp", "warc_filename", "offset", "length",
                           "collection", "title"} | None,
     "replay_url": "{replay_base}/replay/{collection}/{timestamp14}/{url}" | None,
     "story_id": int | None, "copies": int, "copies_deleted": int}

``story_id`` is the deleted URL's story now (archive.writer.stories), ``copies`` how many URLs
it has and ``copies_deleted`` how many of them are deleted now (not restored); a URL in no
story counts as a story of one copy, itself.

Filters:

- ``since`` is inclusive and ``until`` exclusive (``since <= detected_at < until``), so
  back-to-back windows never count a deletion twice.
- ``domain`` matches one host exactly, after the normalisation ``urls`` and ``deletions`` use
  (lower case, IDNA, no port, no leading ``www.``): ``example.org``, ``www.Example.org`` and
  ``https://example.org/a`` all mean ``example.org``. Subdomains do not match: on hosting
  platforms (``*.blogspot.com``, ``*.github.io``) a subdomain is another publisher, and an exact
  key is an indexed range. Ask for ``m.example.org`` separately.
- ``source`` and ``reason`` are exact.

Every filter is an indexed range: the ``(domain|source|reason, detected_at)`` indexes of
migration 0002, or ``detected_at`` alone. One equality column drives the index (domain, else
source, else reason); the others are written ``+col = ?`` so that SQLite, which has no
statistics in a fresh catalogue, never picks the low-cardinality ``reason`` index over a domain.
The index order also gives "newest first" without a sort.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.catalogue.search import deletion_text_condition
from archive.timeutil import iso
from archive.urlnorm import canonical_url, domain_of, replay_url

# The deletion objects' story fields as SQL over ``urls AS u`` (the deleted URL's row): its story
# (archive.writer.stories), how many copies it has and how many are deleted now. A URL in no story
# counts as a story of one copy, itself.
STORY_COLUMNS = (
    "u.story_id",
    "CASE WHEN u.story_id IS NULL THEN 1 ELSE (SELECT count(*) FROM urls AS m WHERE"
    " m.story_id = u.story_id) END",
    "CASE WHEN u.story_id IS NULL THEN (u.state = 'deleted') ELSE (SELECT count(*) FROM urls"
    " AS m WHERE m.story_id = u.story_id AND m.state = 'deleted') END",
)

REASONS: tuple[str, ...] = (
    "gone", "censored", "author_deleted", "account_gone", "restricted", "redirected",
    "soft_404", "unknown",
)
DEFAULT_REPLAY_BASE = "http://127.0.0.1:8765"

_HOST_RE = re.compile(r"^[a-z0-9_\-.:\[\]]+$")

_COLUMNS = (
    "d.id", "d.url", "d.domain", "d.source", "d.reason", "d.rule", "d.http_status", "d.detail",
    "d.detected_at", "d.last_seen_alive_at", "d.first_seen_missing_at", "d.confirmed_checks",
    "d.restored_at", "d.item_id", "d.parent_url", "d.item_text",
    "e.id", "e.captured_at", "e.warc_filename", "e.warc_offset",
    # The WARC holds the URL as fetched; pywb looks it up by that.
    "g.id", "g.captured_at", "coalesce(g.fetched_url, g.url)", "g.warc_filename", "g.warc_offset",
    "g.warc_length", "g.collection", "g.title",
    # pywb's 14-digit timestamp, made by SQLite (any ISO-8601 form, offsets made UTC; NULL if
    # the text is not a time): cheaper than parsing in Python for every row.
    "strftime('%Y%m%d%H%M%S', g.captured_at)",
    *STORY_COLUMNS,
)
_SELECT = (
    f"SELECT {', '.join(_COLUMNS)} FROM deletions AS d"
    " LEFT JOIN captures AS e ON e.id = d.evidence_capture_id"
    " LEFT JOIN captures AS g ON g.id = d.last_good_capture_id"
    " LEFT JOIN urls AS u ON u.id = d.url_id"
)


def normalize_domain(text: str) -> str:
    """The stored form of a domain given on the command line (a bare host or a URL).

    Raises ValueError for something that is not a host name."""
    value = text.strip()
    host = domain_of(value if "://" in value else f"http://{value}")
    if not host or not _HOST_RE.match(host) or host.startswith(".") or ".." in host:
        raise ValueError(f"not a domain: {text!r} (use e.g. example.org)")
    return host


@dataclass(frozen=True)
class DeletionFilter:
    """Which deletions to list. Every field is optional; ``None`` means "any"."""

    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None
    domain: str | None = None
    reason: str | None = None
    limit: int | None = None
    offset: int = 0
    text: str | None = None        # words of the last good capture's text (captures_fts)
    url: str | None = None         # this URL's deletions (as canonical_url stores it)

    def __post_init__(self) -> None:
        if self.reason is not None and self.reason not in REASONS:
            raise ValueError(f"unknown reason {self.reason!r}: use one of {', '.join(REASONS)}")
        if self.domain is not None:
            normalize_domain(self.domain)
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be 0 or more, not {self.limit}")
        if self.offset < 0:
            raise ValueError(f"offset must be 0 or more, not {self.offset}")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"since ({iso(self.since)}) is after until ({iso(self.until)})")

    @property
    def narrowed(self) -> bool:
        """Whether any filter (not the limit) leaves deletions out."""
        return any(value is not None for value in (self.since, self.until, self.source,
                                                   self.domain, self.reason, self.text,
                                                   self.url))


def _conditions(flt: DeletionFilter) -> tuple[list[str], list[Any]]:
    equalities = [("url", canonical_url(flt.url) if flt.url is not None else None),
                  ("domain", normalize_domain(flt.domain) if flt.domain is not None else None),
                  ("source", flt.source), ("reason", flt.reason)]
    where: list[str] = []
    params: list[Any] = []
    driver_taken = False
    for column, value in equalities:
        if value is None:
            continue
        # Only the first equality may use its index; "+d.col" keeps SQLite off the others.
        where.append(f"{'+' if driver_taken else ''}d.{column} = ?")
        params.append(value)
        driver_taken = True
    if flt.since is not None:
        where.append("d.detected_at >= ?")
        params.append(iso(flt.since))
    if flt.until is not None:
        where.append("d.detected_at < ?")
        params.append(iso(flt.until))
    if flt.text is not None and flt.text.strip():
        condition, text_params = deletion_text_condition(flt.text)
        where.append(condition)
        params += text_params
    return where, params


def build_query(flt: DeletionFilter) -> tuple[str, list[Any]]:
    """The SQL and parameters for ``flt`` (exposed so tests can check the query plan)."""
    where, params = _conditions(flt)
    sql = _SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY d.detected_at DESC, d.id DESC"
    if flt.limit is not None:
        sql += " LIMIT ?"
        params.append(flt.limit)
    if flt.offset:
        sql += " OFFSET ?" if flt.limit is not None else " LIMIT -1 OFFSET ?"
        params.append(flt.offset)
    return sql, params


def deletion_counts(db: Any, flt: DeletionFilter) -> dict[str, dict[str, int]]:
    """How many deletions match ``flt`` (its limit aside): ``{"reason": {reason: n},
    "day": {"YYYY-MM-DD": n}}``, days of detection in UTC, oldest first."""
    conn: sqlite3.Connection = getattr(db, "conn", db)
    where, params = _conditions(flt)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    by_reason = {reason: count for reason, count in conn.execute(
        f"SELECT d.reason, count(*) FROM deletions AS d{clause} GROUP BY d.reason "
        "ORDER BY count(*) DESC, d.reason", params)}
    by_day = {day: count for day, count in conn.execute(
        f"SELECT substr(d.detected_at, 1, 10) AS day, count(*) FROM deletions AS d{clause} "
        "GROUP BY day ORDER BY day", params)}
    return {"reason": by_reason, "day": by_day}


def query_deletions(db: Any, flt: DeletionFilter, *,
                    replay_base: str = DEFAULT_REPLAY_BASE) -> list[dict[str, Any]]:
    """The deletions matching ``flt``, newest first, as deletion objects (module docstring).

    ``db`` is a sqlite-utils Database or a sqlite3 Connection; ``replay_base`` is where
    ``memoryhole serve`` runs (its ``/replay/`` path shows the last good capture)."""
    conn: sqlite3.Connection = getattr(db, "conn", db)
    sql, params = build_query(flt)
    base = replay_base.rstrip("/")
    return [_shape(row, base) for row in conn.execute(sql, params)]


def _shape(row: tuple[Any, ...], base: str) -> dict[str, Any]:
    (del_id, url, domain, source, reason, rule, http_status, detail, detected_at, alive_at,
     missing_at, confirmed, restored_at, item_id, parent_url, item_text,
     ev_id, ev_at, ev_file, ev_offset,
     good_id, good_at, good_url, good_file, good_offset, good_length,
     good_coll, good_title, good_stamp14, story_id, copies, copies_deleted) = row
    last_good = None if good_id is None else {
        "capture_id": good_id, "timestamp": good_at, "warc_filename": good_file,
        "offset": good_offset, "length": good_length, "collection": good_coll,
        "title": good_title,
    }
    return {
        "id": del_id,
        "url": url,
        "domain": domain,
        "source": source,
        "reason": reason,
        "detected_at": detected_at,
        "last_seen_alive_at": alive_at,
        "first_seen_missing_at": missing_at,
        "confirmed_checks": confirmed,
        "restored_at": restored_at,
        "item_id": item_id,
        "parent_url": parent_url,
        "item_text": item_text,
        "evidence": {
            "http_status": http_status, "rule": rule, "detail": detail, "capture_id": ev_id,
            "captured_at": ev_at, "warc_filename": ev_file, "offset": ev_offset,
        },
        "last_good_capture": last_good,
        "replay_url": None if good_id is None else
        replay_url(f"{base}/replay", good_coll, good_stamp14, good_url),
        "story_id": story_id,
        "copies": copies,
        "copies_deleted": copies_deleted,
    }
