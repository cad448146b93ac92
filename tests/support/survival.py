"""Catalogues for the survival and report tests: rows written in the shapes the archive writer
writes them (urls and their last good capture, checks, deletions, list items), at fixed times.

``small_catalogue``: a handful of rows with known answers. ``generated_catalogue``: many URLs on
the default re-check schedule, each deleted (or not) at a random time, so that its detection
interval is the gap between two scheduled checks, as in a real run.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive.catalogue.db import open_catalogue
from archive.detect.state import DEFAULT_OFFSETS
from archive.timeutil import iso, parse_age
from archive.urlnorm import domain_of

T = datetime(2026, 11, 1, tzinfo=UTC)
HOSTILE = '<script>alert(1)</script>"&'


def _capture(db: Any, url: str, at: datetime, *, meta: dict[str, Any] | None = None,
             title: str = "page") -> int:
    return db["captures"].insert({
        "url": url, "captured_at": iso(at), "status": 200, "mime": "text/html",
        "collection": "main", "warc_filename": "x.warc.gz", "warc_offset": 0, "warc_length": 1,
        "warc_record_id": f"<urn:uuid:{random.getrandbits(96):024x}>", "title": title,
        "text": "text", "meta": json.dumps(meta) if meta else None,
    }).last_pk


def add_url(db: Any, url: str, *, source: str, platform: str | None, first: datetime,
            alive: datetime | None, missing: datetime | None = None,
            detected: datetime | None = None, reason: str = "gone",
            meta: dict[str, Any] | None = None, item_id: str | None = None,
            checks: tuple[datetime, ...] = ()) -> int:
    """A watched URL first seen at ``first``, last seen alive at ``alive`` (None: never, no good
    capture); with ``detected``, a confirmed deletion first seen missing at ``missing``."""
    good = _capture(db, url, first, meta=meta) if alive is not None else None
    url_id = db["urls"].insert({
        "url": url, "domain": domain_of(url), "source": source, "platform": platform,
        "item_id": item_id, "first_seen_at": iso(first), "last_alive_at":
        iso(alive) if alive else None, "last_capture_id": good,
        "state": "deleted" if detected else ("alive" if alive else "error"),
        "missing_since": iso(missing) if missing else None,
    }).last_pk
    for at in checks:
        db["checks"].insert({"url": url, "url_id": url_id, "checked_at": iso(at),
                             "outcome": "missing" if missing and at >= missing else "alive"})
    if detected is not None:
        db["deletions"].insert({
            "url": url, "url_id": url_id, "domain": domain_of(url), "source": source,
            "reason": reason, "detected_at": iso(detected),
            "last_seen_alive_at": iso(alive) if alive else None,
            "first_seen_missing_at": iso(missing or detected), "confirmed_checks": 2,
            "last_good_capture_id": good, "item_id": item_id})
    return url_id


def small_catalogue(path: Path) -> None:
    """The known-answer catalogue (tests/test_analysis_survival.py says what each row must be)."""
    db = open_catalogue(path)
    m = timedelta(minutes=1)
    add_url(db, "https://news.example.org/gone", source="news", platform=None, first=T,
            alive=T + 15 * m, missing=T + 30 * m, detected=T + 35 * m, reason="gone",
            checks=(T + 5 * m, T + 15 * m, T + 30 * m, T + 35 * m))
    add_url(db, "https://news.example.org/alive", source=HOSTILE, platform="news", first=T,
            alive=T + 120 * m, checks=(T + 5 * m, T + 120 * m))
    add_url(db, "https://mp.weixin.qq.com/s/abc", source="=wechat", platform="wechat", first=T,
            alive=T + 60 * m, meta={"published_at": "2026-10-31T23:00:00Z"})
    add_url(db, "https://news.example.org/never", source="news", platform=None, first=T,
            alive=None, missing=T + 5 * m, detected=T + 10 * m, reason="gone")
    add_url(db, "https://canary.example.net/", source="canaries", platform=None, first=T,
            alive=T + 60 * m)
    # a restored deletion, then deleted again: the first deletion counts
    twice = add_url(db, "https://news.example.org/twice", source="news", platform=None, first=T,
            alive=T + 5 * m, missing=T + 15 * m, detected=T + 20 * m, reason="censored")
    db["deletions"].update(db.execute("SELECT max(id) FROM deletions").fetchone()[0],
                           {"restored_at": iso(T + 60 * m)})
    db["deletions"].insert({
        "url": "https://news.example.org/twice", "url_id": twice, "source": "news",
        "reason": "gone", "detected_at": iso(T + 200 * m),
        "last_seen_alive_at": iso(T + 60 * m), "first_seen_missing_at": iso(T + 180 * m)})
    # a channel and its messages: one deleted from the list (no URL of its own), one watched
    # through its own URL, one service message
    parent = "https://t.me/s/chan"
    own = add_url(db, "https://t.me/chan/2", source="tg", platform="telegram", first=T,
                  alive=T + 90 * m, item_id="chan/2")
    list_capture = _capture(db, parent, T + 60 * m)
    db["items"].insert_all([
        {"parent_url": parent, "item_id": "chan/1", "seq": 1, "platform": "telegram",
         "source": "tg", "posted_at": "2026-10-31T23:30:00+00:00", "first_seen_at": iso(T),
         "last_seen_at": iso(T + 60 * m), "last_capture_id": list_capture, "state": "deleted",
         "service": 0},
        {"parent_url": parent, "item_id": "chan/2", "seq": 2, "platform": "telegram",
         "source": "tg", "url": "https://t.me/chan/2", "posted_at": "2026-10-31T22:00:00Z",
         "first_seen_at": iso(T), "last_seen_at": iso(T + 60 * m), "state": "present",
         "service": 0, "url_id": own},
        {"parent_url": parent, "item_id": "chan/3", "seq": 3, "platform": "telegram",
         "source": "tg", "first_seen_at": iso(T), "last_seen_at": iso(T + 60 * m),
         "state": "present", "service": 1},
    ])
    db["deletions"].insert({
        "url": parent, "domain": "t.me", "source": "tg", "reason": "unknown",
        "detected_at": iso(T + 180 * m), "last_seen_alive_at": iso(T + 60 * m),
        "first_seen_missing_at": iso(T + 120 * m), "confirmed_checks": 2,
        "last_good_capture_id": list_capture, "item_id": "chan/1", "parent_url": parent})
    db.conn.close()


def generated_catalogue(path: Path, count: int = 400, seed: int = 7) -> None:
    """``count`` URLs over three platforms and five sources, each first seen over a month,
    checked on the default schedule, deleted at an exponential time (a platform's own rate) or
    never; WeChat articles know their publication time (up to a day before first seen)."""
    rng = random.Random(seed)
    db = open_catalogue(path)
    offsets = [parse_age(o) for o in DEFAULT_OFFSETS]
    rates = {"weibo": 6 * 3600.0, "wechat": 2 * 86400.0, "news": 10 * 86400.0}
    horizon = T + timedelta(days=45)
    for index in range(count):
        platform = ("weibo", "wechat", "news")[index % 3]
        source = f"{platform}-{index % 5}"
        first = T + timedelta(seconds=rng.uniform(0, 30 * 86400))
        published = first - timedelta(seconds=rng.uniform(0, 86400)) \
            if platform == "wechat" else None
        start = published or first
        dies = start + timedelta(seconds=rng.expovariate(1 / rates[platform])) \
            if rng.random() < 0.8 else None
        checks = [first + o for o in offsets if first + o < horizon]
        alive, missing = first, None
        for at in checks:
            if dies is not None and at >= dies:
                missing = at
                break
            alive = at
        detected = missing + timedelta(minutes=5) if missing else None
        if dies is not None and dies <= first:       # gone before it was ever seen alive
            alive, missing, detected = None, first, first + timedelta(minutes=5)
        add_url(db, f"https://{platform}.example.org/p/{index}", source=source,
                platform=platform, first=first, alive=alive, missing=missing,
                detected=detected, reason=rng.choice(("gone", "censored", "author_deleted")),
                meta={"published_at": iso(published)} if published else None)
    db.conn.close()
