"""What is blocked where, read side: the ``blocks`` table (archive.writer.vantages) shaped for
output.

``query_blocks`` returns plain dicts (the DESIGN.md "block object"), the most recently seen
blocked first::

    {"id", "url", "domain", "source", "vantage", "first_blocked_at", "last_blocked_at",
     "unblocked_at", "evidence": {"reason", "http_status", "rule", "detail", "check_id",
                                  "capture_id", "captured_at", "warc_filename", "offset"},
     "replay_url": "{replay_base}/replay/{collection}@{vantage}/{timestamp14}/{url}" | None}

``replay_url`` shows what the vantage point was answered (the block page) when it was
archived; a reset, a timeout or a DNS failure leaves nothing to replay (None).

Filters: ``vantage`` exact; ``since`` keeps blocks seen blocked at or after it
(``last_blocked_at >= since``); ``current`` only blocks not yet seen lifted.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.timeutil import iso
from archive.urlnorm import replay_url
from archive.warc.cdxj_lookup import view_name

_SELECT = (
    "SELECT b.id, b.url, u.domain, u.source, b.vantage, b.first_blocked_at, b.last_blocked_at,"
    " b.unblocked_at, b.reason, b.http_status, b.rule, b.detail, b.check_id, c.id,"
    " c.captured_at, c.warc_filename, c.warc_offset, c.collection,"
    " coalesce(c.fetched_url, c.url), strftime('%Y%m%d%H%M%S', c.captured_at)"
    " FROM blocks AS b LEFT JOIN urls AS u ON u.id = b.url_id"
    " LEFT JOIN captures AS c ON c.id = b.capture_id"
)


@dataclass(frozen=True)
class BlockFilter:
    """Which blocks to list; ``None`` means "any"."""

    vantage: str | None = None
    since: datetime | None = None
    current: bool = False
    url: str | None = None            # this URL's blocks (as canonical_url stores it)
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be 0 or more, not {self.limit}")

    @property
    def narrowed(self) -> bool:
        """Whether any filter (not the limit) leaves blocks out."""
        return self.current or any(value is not None for value in
                                   (self.vantage, self.since, self.url))


def build_query(flt: BlockFilter) -> tuple[str, list[Any]]:
    """The SQL and parameters for ``flt``."""
    where: list[str] = []
    params: list[Any] = []
    if flt.vantage is not None:
        where.append("b.vantage = ?")
        params.append(flt.vantage)
    if flt.url is not None:
        where.append("b.url = ?")
        params.append(flt.url)
    if flt.since is not None:
        where.append("b.last_blocked_at >= ?")
        params.append(iso(flt.since))
    if flt.current:
        where.append("b.unblocked_at IS NULL")
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY b.last_blocked_at DESC, b.id DESC"
    if flt.limit is not None:
        sql += " LIMIT ?"
        params.append(flt.limit)
    return sql, params


def query_blocks(db: Any, flt: BlockFilter, *, replay_base: str) -> list[dict[str, Any]]:
    """The blocks matching ``flt`` as block objects (module docstring); ``db`` is a
    sqlite-utils Database or a sqlite3 Connection, ``replay_base`` where ``memoryhole serve``
    runs."""
    conn: sqlite3.Connection = getattr(db, "conn", db)
    sql, params = build_query(flt)
    base = replay_base.rstrip("/")
    return [_shape(row, base) for row in conn.execute(sql, params)]


def _shape(row: tuple[Any, ...], base: str) -> dict[str, Any]:
    (block_id, url, domain, source, vantage, first, last, unblocked, reason, status, rule,
     detail, check_id, capture_id, captured_at, warc_filename, offset, collection, fetched,
     stamp14) = row
    return {
        "id": block_id, "url": url, "domain": domain, "source": source, "vantage": vantage,
        "first_blocked_at": first, "last_blocked_at": last, "unblocked_at": unblocked,
        "evidence": {"reason": reason, "http_status": status, "rule": rule, "detail": detail,
                     "check_id": check_id, "capture_id": capture_id, "captured_at": captured_at,
                     "warc_filename": warc_filename, "offset": offset},
        "replay_url": None if capture_id is None else replay_url(
            f"{base}/replay", view_name(collection, vantage), stamp14, fetched),
    }
