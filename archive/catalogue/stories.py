"""Stories, read side: the copies of one story across sites and accounts (archive.writer.stories
groups them), with where each stands.

A *copy object*::

    {"url", "source", "domain", "platform", "title", "first_seen_at", "last_seen_alive_at",
     "state": "alive" | "missing" | "deleted" | "error" | ...,   # the URL's watch state
     "deleted": {"reason", "rule", "detected_at", "deletion_id"} | None,   # if deleted now
     "blocked": [{"vantage", "first_blocked_at", "last_blocked_at"}],       # open blocks
     "similarity": float | None,   # estimated similarity with the URL asked about (1.0: itself)
     "replay_url": the last good capture in `memoryhole serve` | None}

:func:`story_copies` answers for a URL; :func:`story_by_id` for a story (the web UI's page).
A URL in no story has one copy, itself (``story_id`` None).
"""

from __future__ import annotations

from typing import Any

from archive.catalogue.db import dict_rows
from archive.catalogue.history import NotInCatalogue
from archive.text.minhash import from_bytes, similarity
from archive.urlnorm import canonical_url, replay_url

_COPIES = (
    "SELECT u.id, u.url, u.source, u.domain, u.platform, u.first_seen_at, u.last_alive_at,"
    " u.state, g.title, g.collection, coalesce(g.fetched_url, g.url) AS good_url,"
    " strftime('%Y%m%d%H%M%S', g.captured_at) AS good_stamp, s.signature"
    " FROM urls AS u LEFT JOIN captures AS g ON g.id = u.last_capture_id"
    " LEFT JOIN story_signatures AS s ON s.url_id = u.id WHERE {where}"
    " ORDER BY u.first_seen_at, u.id"
)


def story_copies(db: Any, url: str, *, replay_base: str) -> dict[str, Any]:
    """``{"url", "story_id", "copies": [copy objects, first seen first], "copies_deleted"}``
    for the story of ``url``; similarities are to ``url``'s text. NotInCatalogue when the URL
    is not watched."""
    conn = getattr(db, "conn", db)
    key = canonical_url(url)
    row = conn.execute("SELECT id, story_id FROM urls WHERE url = ?", (key,)).fetchone()
    if row is None:
        raise NotInCatalogue(f"{key} is not in the catalogue: crawl or add it first")
    url_id, story_id = row
    where, params = ("u.story_id = ?", (story_id,)) if story_id is not None else \
        ("u.id = ?", (url_id,))
    found = _copies(conn, where, params, url_id, replay_base)
    return {"url": key, "story_id": story_id, "copies": found,
            "copies_deleted": sum(1 for c in found if c["state"] == "deleted")}


def story_by_id(db: Any, story_id: int, *, replay_base: str) -> dict[str, Any] | None:
    """``{"story_id", "created_at", "copies", "copies_deleted"}`` (similarities to the story's
    first copy), or None for no such story."""
    conn = getattr(db, "conn", db)
    found = conn.execute("SELECT created_at, first_url_id FROM stories WHERE id = ?",
                         (story_id,)).fetchone()
    if found is None:
        return None
    created_at, first_url_id = found
    copies = _copies(conn, "u.story_id = ?", (story_id,), first_url_id, replay_base)
    return {"story_id": story_id, "created_at": created_at, "copies": copies,
            "copies_deleted": sum(1 for c in copies if c["state"] == "deleted")}


def _copies(conn: Any, where: str, params: tuple[Any, ...], reference_id: int,
            replay_base: str) -> list[dict[str, Any]]:
    rows = dict_rows(conn, _COPIES.format(where=where), params)
    ids = [r["id"] for r in rows]
    deleted = _open_deletions(conn, [r["url"] for r in rows])
    blocked = _open_blocks(conn, ids)
    blobs = {r["id"]: r["signature"] for r in rows}
    if reference_id not in blobs:
        blob = conn.execute("SELECT signature FROM story_signatures WHERE url_id = ?",
                            (reference_id,)).fetchone()
        blobs[reference_id] = blob[0] if blob else None
    reference = from_bytes(blobs[reference_id]) if blobs[reference_id] else None
    base = replay_base.rstrip("/")
    out = []
    for r in rows:
        score = None
        if r["id"] == reference_id:
            score = 1.0
        elif reference is not None and r["signature"]:
            score = round(similarity(reference, from_bytes(r["signature"])), 3)
        out.append({
            "url": r["url"], "source": r["source"], "domain": r["domain"],
            "platform": r["platform"], "title": r["title"], "first_seen_at": r["first_seen_at"],
            "last_seen_alive_at": r["last_alive_at"], "state": r["state"],
            "deleted": deleted.get(r["url"]) if r["state"] == "deleted" else None,
            "blocked": blocked.get(r["id"], []), "similarity": score,
            "replay_url": replay_url(f"{base}/replay", r["collection"], r["good_stamp"],
                                     r["good_url"]),
        })
    return out


def _open_deletions(conn: Any, urls: list[str]) -> dict[str, dict[str, Any]]:
    """The latest deletion not restored of each URL (by the deletions' URL index)."""
    if not urls:
        return {}
    marks = ", ".join("?" for _ in urls)
    found: dict[str, dict[str, Any]] = {}
    for row in dict_rows(conn, f"SELECT id, url, reason, rule, detected_at FROM deletions"
                               f" WHERE url IN ({marks}) AND restored_at IS NULL"
                               f" ORDER BY detected_at, id", urls):
        found[row["url"]] = {"reason": row["reason"], "rule": row["rule"],
                                "detected_at": row["detected_at"], "deletion_id": row["id"]}
    return found


def _open_blocks(conn: Any, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The blocks not lifted of each URL id (archive.writer.vantages), one per vantage."""
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    found: dict[int, list[dict[str, Any]]] = {}
    for row in dict_rows(conn, f"SELECT url_id, vantage, min(first_blocked_at) AS first,"
                               f" max(last_blocked_at) AS last FROM blocks WHERE url_id IN"
                               f" ({marks}) AND unblocked_at IS NULL GROUP BY url_id, vantage"
                               f" ORDER BY vantage", ids):
        found.setdefault(row["url_id"], []).append(
            {"vantage": row["vantage"], "first_blocked_at": row["first"],
             "last_blocked_at": row["last"]})
    return found
