"""The re-check ceiling: a bare aiohttp client doing memoryhole's conditional GETs, nothing else.

``python -m bench.aiohttp_client TARGETS.jsonl [--concurrency C] [--stats-file F]``

TARGETS.jsonl holds one ``{"url": ..., "etag": ..., "last_modified": ...}`` object a line (the
validators memoryhole stored). Every URL is fetched once over at most C keep-alive connections
with the request headers memoryhole's re-check sends (``If-None-Match``, ``If-Modified-Since``,
Scrapy's ``Accept*`` headers and memoryhole's User-Agent), redirects not followed, bodies read.
No WARC, no catalogue, no classification: the HTTP round trips alone. The stats file gets the
count per status, the failures and the request loop's own seconds (without interpreter start-up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

# what Scrapy (memoryhole's re-check) sends besides the validators; see a request record
BASE_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
    "User-Agent": "memoryhole/0.1 (+https://github.com/memoryhole/memoryhole)",
    "Accept-Encoding": "gzip, deflate, br, zstd",
}


def read_targets(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def write_targets(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps({"url": r["url"], "etag": r.get("etag"),
                                        "last_modified": r.get("last_modified")}) + "\n"
                            for r in rows), encoding="utf-8")


def request_headers(target: dict[str, Any]) -> dict[str, str]:
    headers = dict(BASE_HEADERS)
    if target.get("etag"):
        headers["If-None-Match"] = target["etag"]
    if target.get("last_modified"):
        headers["If-Modified-Since"] = target["last_modified"]
    return headers


async def check_all(targets: list[dict[str, Any]], concurrency: int,
                    timeout: float = 60.0) -> dict[str, Any]:
    """Fetch every target once with ``concurrency`` workers; counts and the loop's seconds."""
    statuses: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    body_bytes = 0
    todo = iter(targets)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    client_timeout = aiohttp.ClientTimeout(total=timeout)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal body_bytes
        for target in todo:                 # one shared iterator: each target taken once
            try:
                async with session.get(target["url"], headers=request_headers(target),
                                       allow_redirects=False) as response:
                    body_bytes += len(await response.read())
                    statuses[response.status] += 1
            except (TimeoutError, aiohttp.ClientError) as exc:
                failures[type(exc).__name__] += 1

    began = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    seconds = time.perf_counter() - began
    return {"checks": sum(statuses.values()), "statuses": {str(k): v for k, v in
                                                           sorted(statuses.items())},
            "failures": dict(failures), "body_bytes": body_bytes, "loop_s": seconds,
            "concurrency": concurrency, "aiohttp": aiohttp.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aiohttp_client",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("targets", type=Path)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--stats-file", type=Path)
    args = parser.parse_args(argv)
    targets = read_targets(args.targets)
    stats = asyncio.run(check_all(targets, args.concurrency))
    text = json.dumps(stats, indent=1)
    if args.stats_file:
        args.stats_file.write_text(text, encoding="utf-8")
    print(f"aiohttp: {stats['checks']} checks in {stats['loop_s']:.2f} s "
          f"({stats['checks'] / max(stats['loop_s'], 1e-9):.0f}/s), statuses {stats['statuses']}, "
          f"failures {stats['failures']}")
    return 0 if stats["checks"] == len(targets) and not stats["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
