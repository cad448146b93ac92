"""A large memoryhole home made straight into its formats, for bench.scale.

``make_home(folder, urls=N)`` writes a home as a year of watching would leave it, without
crawling: ``memoryhole.db`` (every migration; ``N`` watched URLs over ``domains`` sites with a
Zipf-like spread and 40 sources; one full capture per URL with its title, a short text and the
full-text index built, as after a search; ``checks_per_url`` checks per URL written round by
round, as re-checks write them; ``N / 50`` deletions), ``collections/main/indexes/index.cdxj``
(one sorted line per capture: an existing single-file index, the tiers' base) and four small
real WARC files under ``collections/main/archive`` that every row and index line points at.

Nothing in a crawl or a re-check of other URLs reads those WARC files: records are read back
only for a diff of a URL whose text changed (archive.writer.pages) and by the web UI's page
views, exports and ``check``; offsets and lengths past the files' ends are the shortcut this
generator takes, and ``check`` would report them.

No URL is due: every next check is a day or more after the generation. The generated hosts
(``siteN.example.org``) do not resolve here, so the three control checks a re-check run adds
(archive.catalogue.due.with_controls), which come from these URLs, fail at once as transient.

``cached_home(cache, urls=N, ...)`` makes it once per parameters under ``cache`` and returns its
folder; a stamp file written last marks it complete.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from archive.catalogue.db import WRITER_CACHE_MIB, open_catalogue
from archive.catalogue.search import refresh_text_index
from archive.timeutil import iso, timestamp14, utcnow
from archive.warc.cdxj import make_line
from bench.deletions_scale import Timing, _insert, _zipf_picker
from bench.site import _HANZI, _WORDS

GENERATOR_VERSION = 2        # bump when the generated home (or the schema it is made in) changes
COLLECTION = "main"
WARC_FILES = 4
SOURCES = 40
_URL_COLUMNS = ("id", "url", "domain", "source", "platform", "first_seen_at",
                "last_captured_at", "last_checked_at", "next_check_at", "state",
                "missing_streak", "transient_streak", "etag", "last_modified",
                "last_payload_digest", "last_text_digest", "last_capture_id", "last_alive_at",
                "check_count", "deleted_at")
_CAPTURE_COLUMNS = ("id", "url", "fetched_url", "captured_at", "status", "mime", "collection",
                    "warc_filename", "warc_offset", "warc_length", "warc_record_id",
                    "payload_digest", "text_digest", "title", "text", "is_revisit", "via",
                    "run_id")
_CHECK_COLUMNS = ("url", "url_id", "checked_at", "outcome", "http_status", "reason", "rule",
                  "detail", "capture_id", "vantage", "run_id")
_DELETION_COLUMNS = ("url", "url_id", "domain", "source", "reason", "rule", "http_status",
                     "detected_at", "last_seen_alive_at", "first_seen_missing_at",
                     "confirmed_checks", "evidence_capture_id", "last_good_capture_id")


def _digest(n: int, kind: str) -> str:
    return f"sha256:{kind}{n:051d}"


def _warc_name(n: int) -> str:
    return f"MH-scale-{n % WARC_FILES:05d}.warc.gz"


def write_warcs(folder: Path) -> None:
    """Four real, small WARC files (one response record each) for the rows to point at."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    folder.mkdir(parents=True, exist_ok=True)
    for n in range(WARC_FILES):
        with open(folder / _warc_name(n), "wb") as handle:
            writer = WARCWriter(handle, gzip=True)
            body = b"<html><title>scale</title><p>generated</p></html>"
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                f"https://site{n}.example.org/", "response", payload=io.BytesIO(body),
                http_headers=headers))


def generate(home: Path, *, urls: int, checks_per_url: int = 10, domains: int = 2000,
             days: int = 365, seed: int = 1, batch: int = 5000) -> dict[str, Any]:
    """Write the home described in the module docstring into ``home`` (a new folder)."""
    rng = random.Random(seed)
    started = time.perf_counter()
    home.mkdir(parents=True)
    (home / "memoryhole.toml").write_text("", encoding="utf-8")
    archive_dir = home / "collections" / COLLECTION / "archive"
    index_dir = home / "collections" / COLLECTION / "indexes"
    index_dir.mkdir(parents=True)
    write_warcs(archive_dir)
    db = open_catalogue(home / "memoryhole.db", cache_mib=WRITER_CACHE_MIB)
    conn = db.conn
    now = utcnow().replace(microsecond=0)
    start = now - timedelta(days=days)
    hours = [start + timedelta(hours=h) for h in range(days * 24 + 1)]
    stamps = [iso(t) for t in hours]
    domain_names = [f"site{i}.example.{('org', 'com', 'cn', 'net')[i % 4]}"
                    for i in range(domains)]
    pick = _zipf_picker(rng, domains)
    url_domain = [pick() for _ in range(urls)]
    url_text = [f"https://{domain_names[d]}/news/{i}.html" for i, d in enumerate(url_domain)]
    sentences = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 14))).capitalize()
                 for _ in range(3000)] + \
                ["".join(rng.choice(_HANZI) for _ in range(rng.randint(10, 30)))
                 for _ in range(600)]
    first_hour = [rng.randrange(len(hours) // 2) for _ in range(urls)]
    rounds = checks_per_url
    deleted = set(rng.sample(range(urls), urls // 50))
    timings = [Timing(t) for t in ("runs", "urls", "captures", "checks", "deletions")]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO runs (id, kind, started_at, finished_at, status) VALUES "
                     "(?, ?, ?, ?, 'finished')",
                     [(r + 1, "crawl" if r == 0 else "recheck", stamps[0], stamps[0])
                      for r in range(rounds + 1)])
    conn.execute("COMMIT")
    last_check = [stamps[min(first_hour[i] + (len(hours) - first_hour[i]) * rounds
                             // (rounds + 1), len(hours) - 2)] for i in range(urls)]

    def url_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(urls):
            d = url_domain[i]
            gone = i in deleted
            yield (i + 1, url_text[i], domain_names[d], f"watch-{d % SOURCES}", "news",
                   stamps[first_hour[i]], stamps[first_hour[i]], last_check[i],
                   iso(now + timedelta(days=1, minutes=i % 1440)),
                   "deleted" if gone else "alive", 0, 0, f'"e{i}"', None,
                   _digest(i, "P"), _digest(i, "T"), i + 1, last_check[i], rounds,
                   last_check[i] if gone else None)

    _insert(conn, "urls", _URL_COLUMNS, url_rows(), batch, timings[1])

    def capture_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(urls):
            title = rng.choice(sentences)
            text = " ".join(rng.choice(sentences) for _ in range(3))
            yield (i + 1, url_text[i], url_text[i], stamps[first_hour[i]], 200, "text/html",
                   COLLECTION, _warc_name(i), (i // WARC_FILES) * 20_000, 18_000,
                   f"<urn:uuid:00000000-0000-4000-8000-{i:012d}>", _digest(i, "P"),
                   _digest(i, "T"), title, text, 0, "http", 1)

    _insert(conn, "captures", _CAPTURE_COLUMNS, capture_rows(), batch, timings[2])

    def check_rows() -> Iterator[tuple[Any, ...]]:
        for r in range(rounds):
            for i in range(urls):
                span = len(hours) - 1 - first_hour[i]
                at = stamps[first_hour[i] + span * (r + 1) // (rounds + 1)]
                roll = rng.random()
                if roll < 0.95:
                    yield (url_text[i], i + 1, at, "alive", 304, None, None, None, None,
                           "default", r + 2)
                elif roll < 0.99:
                    yield (url_text[i], i + 1, at, "changed", 200, None, None, None, None,
                           "default", r + 2)
                else:
                    yield (url_text[i], i + 1, at, "transient", 503, None, None, None, None,
                           "default", r + 2)

    _insert(conn, "checks", _CHECK_COLUMNS, check_rows(), batch, timings[3])

    def deletion_rows() -> Iterator[tuple[Any, ...]]:
        for i in sorted(deleted, key=lambda i: last_check[i]):
            d = url_domain[i]
            yield (url_text[i], i + 1, domain_names[d], f"watch-{d % SOURCES}", "gone",
                   "http-404", 404, last_check[i], last_check[i], last_check[i], 2, None,
                   i + 1)

    _insert(conn, "deletions", _DELETION_COLUMNS, deletion_rows(), batch, timings[4])
    # the full-text indexes as a search leaves them (archive.catalogue.search): the captures'
    # built in one go (a million in batches would take long), the deletion log's by the search
    fts_started = time.perf_counter()
    conn.execute("BEGIN")
    conn.execute("INSERT INTO captures_fts (rowid, title, text) SELECT id, coalesce(title, ''),"
                 " coalesce(text, '') FROM captures")
    conn.execute("DELETE FROM fts_pending")
    conn.execute("COMMIT")
    refresh_text_index(db)
    fts_s = time.perf_counter() - fts_started
    # no ANALYZE: a user's catalogue never gets one, so the planner sees what users' see
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    # the CDXJ index: one line per capture, sorted (an existing single-file index)
    index_started = time.perf_counter()
    lines = sorted(make_line(url_text[i], timestamp14(hours[first_hour[i]]), "response",
                             "text/html", "200", _digest(i, "P"), 18_000,
                             (i // WARC_FILES) * 20_000, _warc_name(i)) for i in range(urls))
    with open(index_dir / "index.cdxj", "w", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)
    return {"urls": urls, "captures": urls, "checks": urls * rounds, "deletions": len(deleted),
            "domains": domains, "index_lines": len(lines),
            "rows_per_s": {t.table: round(t.rates()[1]) for t in timings if t.rows},
            "fts_s": round(fts_s, 1), "index_s": round(time.perf_counter() - index_started, 1),
            "seconds": round(time.perf_counter() - started, 1),
            "db_mb": round((home / "memoryhole.db").stat().st_size / 1e6),
            "index_mb": round((index_dir / "index.cdxj").stat().st_size / 1e6)}


def cached_home(cache: Path, *, urls: int, checks_per_url: int = 10, seed: int = 1,
                log: Any = print) -> tuple[Path, dict[str, Any]]:
    """The generated home for these parameters under ``cache`` (made on first use)."""
    folder = cache / f"home-v{GENERATOR_VERSION}-u{urls}-c{checks_per_url}-s{seed}"
    stamp = folder / "generated.json"
    if stamp.exists():
        return folder, json.loads(stamp.read_text(encoding="utf-8"))
    if folder.exists():
        shutil.rmtree(folder)
    log(f"generating a home of {urls:,} URLs and captures, {urls * checks_per_url:,} checks "
        f"in {folder} (once; minutes for a million)")
    facts = generate(folder, urls=urls, checks_per_url=checks_per_url, seed=seed)
    stamp.write_text(json.dumps(facts, indent=1), encoding="utf-8")
    log(f"  generated in {facts['seconds']} s: catalogue {facts['db_mb']:,} MB, index "
        f"{facts['index_mb']:,} MB")
    return folder, facts
