"""Read-side queries of the catalogue: one URL's history, and diffs between its captures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.catalogue.captures import capture_body
from archive.catalogue.db import dict_rows
from archive.home import Home
from archive.text.diffing import TextDiff, diff_texts
from archive.text.extract import main_text
from archive.timeutil import iso
from archive.urlnorm import canonical_url


class NotInCatalogue(LookupError):
    """The URL (or a capture of it) is not in the catalogue."""


def url_history(db: Any, url: str) -> dict[str, Any]:
    """Everything the catalogue knows of one URL: its watch row, captures, checks (with their
    outcomes), diffs and deletions."""
    key = canonical_url(url)
    watched = dict_rows(db, "SELECT * FROM urls WHERE url = ?", (key,))
    captures = dict_rows(
        db,
        "SELECT id, captured_at, fetched_url, status, mime, is_revisit, via, title, collection,"
        " warc_filename, warc_offset, warc_length, payload_digest, text_digest, meta,"
        " certificate_sha256, vantage FROM captures WHERE url = ? ORDER BY captured_at, id",
        (key,),
    )
    diffs = dict_rows(
        db,
        "SELECT id, created_at, from_capture_id, to_capture_id, similarity, added, removed"
        " FROM diffs WHERE url = ? ORDER BY created_at, id", (key,),
    )
    checks = dict_rows(
        db,
        "SELECT id, checked_at, outcome, http_status, reason, rule, detail, capture_id, vantage"
        " FROM checks WHERE url_id = ? ORDER BY checked_at, id",
        (watched[0]["id"],),
    ) if watched else []
    deletions = dict_rows(
        db,
        "SELECT id, reason, rule, detected_at, last_seen_alive_at, first_seen_missing_at,"
        " restored_at FROM deletions WHERE url = ? ORDER BY detected_at, id", (key,),
    )
    if not watched and not captures:
        raise NotInCatalogue(
            f"{url} is not in the catalogue (crawl it first: memoryhole crawl URL)")
    for row in captures:
        row["is_revisit"] = bool(row["is_revisit"])
        row["meta"] = json.loads(row["meta"]) if row["meta"] else None
    return {"url": key, "watch": watched[0] if watched else None, "captures": captures,
            "checks": checks, "diffs": diffs, "deletions": deletions,
            "items": item_histories(db, key, watched[0] if watched else None)}


def item_histories(db: Any, key: str, watch: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The versions of the items of one URL: the item it is (a message or post watched at its
    own URL), and the items of the list it is that were edited (listed with more than one
    text), each with every text it was listed with, oldest first."""
    found = dict_rows(
        db,
        "SELECT i.id, i.item_id, i.parent_url, i.state, i.first_seen_at, i.last_seen_at"
        " FROM items AS i WHERE i.parent_url = ? AND (SELECT count(*) FROM item_versions AS v"
        " WHERE v.item_row_id = i.id) > 1 ORDER BY i.seq, i.id", (key,))
    if watch and watch.get("item_id") and watch.get("parent_url"):
        found += dict_rows(
            db, "SELECT id, item_id, parent_url, state, first_seen_at, last_seen_at FROM items"
                " WHERE parent_url = ? AND item_id = ?",
            (watch["parent_url"], watch["item_id"]))
    for item in found:
        item["versions"] = dict_rows(
            db, "SELECT seen_at, capture_id, text FROM item_versions WHERE item_row_id = ?"
                " ORDER BY seen_at, id", (item.pop("id"),))
    return found


@dataclass(frozen=True)
class CaptureDiff:
    url: str
    from_capture: dict[str, Any]
    to_capture: dict[str, Any]
    diff: TextDiff | None          # None: the main texts are the same


def _good_captures(db: Any, key: str) -> list[dict[str, Any]]:
    return dict_rows(
        db,
        "SELECT id, captured_at, status, text_digest FROM captures WHERE url = ? AND status"
        " BETWEEN 200 AND 299 AND vantage IS NULL ORDER BY captured_at, id", (key,),
    )


def _at_or_before(captures: list[dict[str, Any]], when: datetime) -> dict[str, Any] | None:
    stamp = iso(when)
    chosen = None
    for row in captures:
        if row["captured_at"] <= stamp:
            chosen = row
    return chosen


def capture_diff(db: Any, home: Home, url: str, *, since: datetime | None = None,
                 until: datetime | None = None) -> CaptureDiff:
    """The text diff between two captures of ``url``.

    Without times: the newest stored diff, else the last two good captures. ``since`` / ``until``
    pick the newest capture at or before each time (``since`` alone: against the newest)."""
    key = canonical_url(url)
    captures = _good_captures(db, key)
    if not captures:
        raise NotInCatalogue(f"{url} has no successful capture in the catalogue")
    by_id = {row["id"]: row for row in captures}
    if since is None and until is None:
        stored = dict_rows(db, "SELECT from_capture_id, to_capture_id FROM diffs WHERE url = ?"
                       " ORDER BY created_at DESC, id DESC LIMIT 1", (key,))
        if stored and stored[0]["from_capture_id"] in by_id and stored[0]["to_capture_id"] \
                in by_id:
            old, new = by_id[stored[0]["from_capture_id"]], by_id[stored[0]["to_capture_id"]]
        elif len(captures) >= 2:
            old, new = captures[-2], captures[-1]
        else:
            raise NotInCatalogue(f"{url} has only one capture: nothing to compare yet")
    else:
        new = _at_or_before(captures, until) if until else captures[-1]
        old = _at_or_before(captures, since) if since else None
        if old is None:
            raise NotInCatalogue(f"{url} has no capture at or before {iso(since)}"
                                 if since else f"{url}: give --from TIME")
        if new is None:
            raise NotInCatalogue(f"{url} has no capture at or before {iso(until)}")
    old_body, old_type, _ = capture_body(db.conn, home, old["id"])
    new_body, new_type, _ = capture_body(db.conn, home, new["id"])
    diff = diff_texts(main_text(old_body, old_type, key), main_text(new_body, new_type, key),
                      from_label=old["captured_at"], to_label=new["captured_at"])
    return CaptureDiff(url=key, from_capture=old, to_capture=new, diff=diff)
