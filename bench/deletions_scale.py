"""The deletion log at scale: bulk-write a large catalogue, then time ``query_deletions``.

    python -m bench.deletions_scale            # 1M URLs, 10M checks, 50k deletions
    python -m bench.deletions_scale --quick    # 100k URLs, 1M checks, 5k deletions
    python -m bench.deletions_scale --urls 200000 --checks 2000000 --keep

The catalogue is a real one (archive.catalogue.db.open_catalogue: every migration, WAL,
``synchronous=NORMAL``, the archive writer's page cache), written with ``executemany`` in
transactions of ``--batch`` rows.
URLs belong to ``--domains`` domains with a Zipf-like (1/rank) spread, as a few platforms
dominate a real watch list; deletions pick URLs at random and spread evenly over ``--days``.
Checks are written round by round (every URL's first check, then every URL's second…), the
order a re-checker writes them in, not the cheap per-URL order.

``--checks-index url`` swaps, in the generated catalogue only, the ``checks (url_id,
checked_at)`` index of migration 0004 back for the ``(url, checked_at)`` one it replaced: the
text key inserted in re-check order limited the write rate (one dirty page per row once the
index outgrows the page cache), and this shows by how much.

Reports rows/s per table (SQLite time: ``executemany`` and ``COMMIT``; and end to end, with
making the rows in Python; "all" includes the final checkpoint of the WAL into the database
file) and the time of ``query_deletions`` alone (median of 20 after one
warm-up) for the filters of ``memoryhole deletions``. Prints a Markdown snippet at the end.
The database lives in a temporary folder under /tmp and is deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import bisect
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from archive.catalogue.db import WRITER_CACHE_MIB, open_catalogue
from archive.catalogue.deletions import REASONS, DeletionFilter, query_deletions
from archive.timeutil import iso, utcnow

TARGET_ROWS_PER_S = 150_000
TARGET_QUERY_MS = 1.0
_URL_COLUMNS = ("id", "url", "domain", "source", "platform", "first_seen_at",
                "last_captured_at", "last_checked_at", "next_check_at", "state",
                "missing_streak", "last_alive_at", "check_count")
_CHECK_COLUMNS = ("url", "url_id", "checked_at", "outcome", "http_status", "reason", "rule",
                  "detail", "capture_id", "vantage", "run_id")
_CAPTURE_COLUMNS = ("id", "url", "fetched_url", "captured_at", "status", "mime", "collection",
                    "warc_filename", "warc_offset", "warc_length", "warc_record_id", "title",
                    "via")
_DELETION_COLUMNS = ("url", "url_id", "domain", "source", "reason", "rule", "http_status",
                     "detail", "detected_at", "last_seen_alive_at", "first_seen_missing_at",
                     "confirmed_checks", "evidence_capture_id", "last_good_capture_id",
                     "restored_at")
_PATHS = ("news/{}", "s/{}", "status/{}", "p/{}.html", "2026/11/{}", "文章/{}")


@dataclass
class Timing:
    """Rows written to one table and the time it took."""

    table: str
    rows: int = 0
    sqlite_s: float = 0.0
    total_s: float = 0.0

    def rates(self) -> tuple[float, float]:
        return self.rows / max(self.sqlite_s, 1e-9), self.rows / max(self.total_s, 1e-9)


@dataclass
class World:
    """What the generator made, for picking query filters."""

    now: datetime
    domains: list[str]
    sources: list[str]
    url_domain: list[int] = field(default_factory=list)
    deletions_per_domain: dict[int, int] = field(default_factory=dict)
    recent_per_domain: dict[int, int] = field(default_factory=dict)    # in the last 7 days


def _insert(conn: Any, table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]],
            batch: int, timing: Timing) -> None:
    """executemany in transactions of ``batch`` rows; SQLite time and total time."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    start = time.perf_counter()
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            timing.sqlite_s += _write(conn, sql, chunk)
            timing.rows += len(chunk)
            chunk = []
    if chunk:
        timing.sqlite_s += _write(conn, sql, chunk)
        timing.rows += len(chunk)
    timing.total_s += time.perf_counter() - start


def _write(conn: Any, sql: str, chunk: list[tuple[Any, ...]]) -> float:
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(sql, chunk)
    conn.execute("COMMIT")
    return time.perf_counter() - start


def _zipf_picker(rng: random.Random, n: int) -> Callable[[], int]:
    """Pick 0..n-1 with weight 1/(rank+1)."""
    cumulative: list[float] = []
    total = 0.0
    for rank in range(n):
        total += 1.0 / (rank + 1)
        cumulative.append(total)
    return lambda: min(bisect.bisect_left(cumulative, rng.random() * total), n - 1)


def generate(db: Any, *, urls: int, checks: int, deletions: int, domains: int, days: int,
             batch: int, seed: int) -> tuple[World, list[Timing]]:
    rng = random.Random(seed)
    conn = db.conn
    now = utcnow().replace(microsecond=0)
    start = now - timedelta(days=days)
    minutes = days * 24 * 60
    # Every minute of the window as a stored timestamp, so rows need no strftime.
    stamps = [iso(start + timedelta(minutes=m)) for m in range(minutes + 1)]
    domain_names = [f"site{i}.example.{('org', 'com', 'cn', 'net')[i % 4]}" for i in range(domains)]
    sources = [f"source-{i}" for i in range(max(1, domains // 40))]
    pick_domain = _zipf_picker(rng, domains)
    world = World(now=now, domains=domain_names, sources=sources)
    world.url_domain = [pick_domain() for _ in range(urls)]
    url_text = [f"https://{domain_names[d]}/{_PATHS[i % len(_PATHS)].format(i)}"
                for i, d in enumerate(world.url_domain)]
    timings = {name: Timing(name) for name in ("urls", "checks", "captures", "deletions")}

    def url_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(urls):
            d = world.url_domain[i]
            first = rng.randrange(minutes // 2)
            yield (i + 1, url_text[i], domain_names[d], sources[d % len(sources)], "news",
                   stamps[first], stamps[first], stamps[minutes - 60], stamps[minutes],
                   "alive", 0, stamps[minutes - 60], checks // max(urls, 1))

    _insert(conn, "urls", _URL_COLUMNS, url_rows(), batch, timings["urls"])

    rounds = -(-checks // max(urls, 1))

    def check_rows() -> Iterator[tuple[Any, ...]]:
        written = 0
        for r in range(rounds):
            base = (minutes // 2) + r * (minutes // 2) // rounds
            for i in range(urls):
                if written >= checks:
                    return
                written += 1
                roll = rng.random()
                if roll < 0.9:
                    outcome, status, reason, rule = "alive", 200, None, None
                elif roll < 0.97:
                    outcome, status, reason, rule = "changed", 200, None, None
                elif roll < 0.99:
                    outcome, status, reason, rule = "transient", 503, None, None
                else:
                    outcome, status, reason, rule = "missing", 404, "gone", "http-404"
                yield (url_text[i], i + 1, stamps[min(base + (i % 997), minutes)], outcome,
                       status, reason, rule, None, None, "local", r + 1)

    _insert(conn, "checks", _CHECK_COLUMNS, check_rows(), batch, timings["checks"])

    # Deletions in detection order (as the re-checker appends them), each with a last good
    # capture and an evidence capture.
    deleted = sorted(rng.sample(range(urls), min(deletions, urls)))
    detected = sorted(rng.randrange(minutes - 60) + 60 for _ in deleted)
    rng.shuffle(deleted)
    capture_rows: list[tuple[Any, ...]] = []
    deletion_rows: list[tuple[Any, ...]] = []
    for n, (i, minute) in enumerate(zip(deleted, detected, strict=True)):
        d = world.url_domain[i]
        world.deletions_per_domain[d] = world.deletions_per_domain.get(d, 0) + 1
        if minute >= minutes - 7 * 24 * 60:
            world.recent_per_domain[d] = world.recent_per_domain.get(d, 0) + 1
        good_id, evidence_id = 2 * n + 1, 2 * n + 2
        capture_rows.append((good_id, url_text[i], url_text[i], stamps[minute - 60], 200,
                             "text/html", "main", f"memoryhole-{n // 5000:05d}.warc.gz",
                             (n % 5000) * 40_000, 38_000, f"<urn:uuid:g{n}>", f"标题 {n}",
                             "http"))
        capture_rows.append((evidence_id, url_text[i], url_text[i], stamps[minute], 404,
                             "text/html", "main", f"memoryhole-{n // 5000:05d}.warc.gz",
                             (n % 5000) * 40_000 + 38_000, 2_000, f"<urn:uuid:e{n}>", None,
                             "http"))
        reason = REASONS[n % len(REASONS)]
        deletion_rows.append((url_text[i], i + 1, domain_names[d], sources[d % len(sources)],
                              reason, f"{reason}.v1", 404 if reason == "gone" else 200, None,
                              stamps[minute], stamps[minute - 60], stamps[minute - 10], 2,
                              evidence_id, good_id,
                              stamps[minute + 30] if n % 50 == 0 and minute + 30 <= minutes
                              else None))
    _insert(conn, "captures", _CAPTURE_COLUMNS, iter(capture_rows), batch, timings["captures"])
    _insert(conn, "deletions", _DELETION_COLUMNS, iter(deletion_rows), batch,
            timings["deletions"])
    # what the WAL still holds is written into the database file at some point: count it here
    timings["checkpoint"] = Timing("checkpoint")
    start = time.perf_counter()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    timings["checkpoint"].sqlite_s = timings["checkpoint"].total_s = time.perf_counter() - start
    return world, list(timings.values())


def time_query(db: Any, flt: DeletionFilter, repeats: int = 20) -> tuple[float, int]:
    """Median milliseconds of ``query_deletions`` (after one warm-up) and the rows it gave."""
    rows = query_deletions(db, flt)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        query_deletions(db, flt)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(samples), len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="100k URLs, 1M checks, 5k deletions (unless given)")
    parser.add_argument("--urls", type=int)
    parser.add_argument("--checks", type=int)
    parser.add_argument("--deletions", type=int)
    parser.add_argument("--domains", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checks-index", choices=("url_id", "url"), default="url_id",
                        help="key of the per-URL checks index (url_id: the schema's own)")
    parser.add_argument("--keep", action="store_true", help="keep the generated catalogue")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    urls = args.urls or 1_000_000 // scale
    checks = args.checks or 10_000_000 // scale
    deletions = args.deletions or 50_000 // scale

    folder = Path(tempfile.mkdtemp(prefix="memoryhole-deletions-bench-", dir="/tmp"))
    try:
        db = open_catalogue(folder / "memoryhole.db", cache_mib=WRITER_CACHE_MIB)
        if args.checks_index == "url":
            db.conn.execute("DROP INDEX idx_checks_url_id_checked_at")
            db.conn.execute("CREATE INDEX idx_checks_url_checked_at ON checks "
                            "(url, checked_at)")
        print(f"generating {urls:,} URLs, {checks:,} checks, {deletions:,} deletions over "
              f"{args.domains:,} domains in {folder} (batches of {args.batch:,})", flush=True)
        world, timings = generate(db, urls=urls, checks=checks, deletions=deletions,
                                  domains=args.domains, days=args.days, batch=args.batch,
                                  seed=args.seed)
        results = report_writes(timings)
        queries = report_queries(db, world)
        size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(f"catalogue size: {size_mb:,.0f} MB")
        db.conn.close()
        print_markdown(urls, checks, deletions, args, results, queries, size_mb)
        if args.keep:
            print(f"kept {folder}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


def report_writes(timings: list[Timing]) -> list[tuple[str, int, float, float]]:
    results = []
    total = Timing("all")
    for t in timings:
        total.rows += t.rows
        total.sqlite_s += t.sqlite_s
        total.total_s += t.total_s
    for t in [*timings, total]:
        sqlite_rate, overall = t.rates()
        results.append((t.table, t.rows, sqlite_rate, overall))
        print(f"  {t.table:<10} {t.rows:>11,} rows  {sqlite_rate:>9,.0f} rows/s in SQLite  "
              f"{overall:>9,.0f} rows/s end to end  ({t.total_s:.1f} s)")
    return results


def report_queries(db: Any, world: World) -> list[tuple[str, float, int]]:
    # The busiest domain, and the median one of those with a deletion in the last 7 days.
    counts = world.recent_per_domain or world.deletions_per_domain
    ranked = sorted(counts, key=lambda d: (-counts[d], d))
    top, median = ranked[0], ranked[len(ranked) // 2]
    total = world.deletions_per_domain
    since = world.now - timedelta(days=7)
    source = world.sources[median % len(world.sources)]
    cases = [
        (f"since 7d, domain (typical: {total[median]:,} deletions in all)",
         DeletionFilter(since=since, domain=world.domains[median])),
        (f"since 7d, domain (busiest: {total[top]:,} deletions in all)",
         DeletionFilter(since=since, domain=world.domains[top])),
        ("since 7d, busiest domain, limit 50",
         DeletionFilter(since=since, domain=world.domains[top], limit=50)),
        ("since 7d, domain (median), reason censored",
         DeletionFilter(since=since, domain=world.domains[median], reason="censored")),
        ("since 7d, domain (median), its source",
         DeletionFilter(since=since, domain=world.domains[median], source=source)),
        ("since 7d, busiest domain, reason censored",
         DeletionFilter(since=since, domain=world.domains[top], reason="censored")),
        ("since 7d, reason censored", DeletionFilter(since=since, reason="censored")),
        ("since 7d, source", DeletionFilter(since=since, source=source)),
        ("since 7d, source, limit 50", DeletionFilter(since=since, source=source, limit=50)),
        ("whole log, limit 50", DeletionFilter(limit=50)),
    ]
    out = []
    for label, flt in cases:
        ms, rows = time_query(db, flt)
        mark = "" if ms <= TARGET_QUERY_MS else "  (over 1 ms)"
        print(f"  {label:<48} {ms:8.3f} ms  {rows:>6,} rows{mark}")
        out.append((label, ms, rows))
    return out


def print_markdown(urls: int, checks: int, deletions: int, args: argparse.Namespace,
                   writes: list[tuple[str, int, float, float]],
                   queries: list[tuple[str, float, int]], size_mb: float) -> None:
    print()
    print(f"### Deletion log at scale ({urls:,} URLs, {checks:,} checks, {deletions:,} "
          f"deletions, {args.domains:,} domains, {args.days} days)")
    print()
    print(f"`python -m bench.deletions_scale --urls {urls} --checks {checks} "
          f"--deletions {deletions} --checks-index {args.checks_index}`; WAL, "
          f"`synchronous=NORMAL`, `executemany` in transactions of {args.batch:,} rows; "
          f"catalogue {size_mb:,.0f} MB.")
    print()
    print("| table | rows | rows/s (SQLite) | rows/s (end to end) |")
    print("|---|---:|---:|---:|")
    for table, rows, sqlite_rate, overall in writes:
        print(f"| {table} | {rows:,} | {sqlite_rate:,.0f} | {overall:,.0f} |")
    print()
    print("| `query_deletions` filter | median ms (20 runs) | rows |")
    print("|---|---:|---:|")
    for label, ms, rows in queries:
        print(f"| {label} | {ms:.3f} | {rows:,} |")


if __name__ == "__main__":
    raise SystemExit(main())
