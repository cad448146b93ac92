"""Stories (archive.writer.stories): how well near-duplicate texts are told apart, and what
grouping costs as the catalogue grows.

    python -m bench.stories quality             # precision and recall per threshold
    python -m bench.stories scale --sizes 10000 100000

``quality``: every pair of the demo site's pages and their reprints (demosite.reprints), their
texts extracted as a crawl stores them (archive.text.extract.fast_page_text), labelled copies
when they are the same story (a translation is not); a pair is found when the two texts share
an LSH band and their signatures' estimated similarity reaches the threshold, as
archive.writer.stories decides. Prints precision and recall per threshold, and the lowest
similarity of a copy and the highest of a non-copy.

``scale``: generated texts of 250 words (a vocabulary of 20,000 words, Zipf-like), one in ten a
reprint of an earlier text with a tenth of its words changed, assigned one by one into a real
catalogue (a temporary file) by ``StoryIndex.assign`` in transactions of 1,000, as the writer
does. Reports captures per second per size (the last 10% of each run, so the rate at that size
of index), the process's peak RSS, and the catalogue's bytes per signed capture.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archive.catalogue.db import immediate, open_catalogue
from archive.text.extract import fast_page_text
from archive.text.minhash import Signer, band_keys, similarity
from archive.writer.stories import StoryIndex
from demosite.content import ARTICLES, WECHAT_ARTICLES
from demosite.reprints import REPRINTS
from demosite.site import render_article, render_wechat

THRESHOLDS = tuple(round(0.1 + 0.05 * i, 2) for i in range(17))


def corpus() -> list[tuple[str, str, str | None]]:
    """(path, stored text, story) of the demo pages and the reprints; story None: its own."""
    found = [(a.path, fast_page_text(render_article(a), f"text/html; charset={a.encoding}")
              .text, a.path) for a in ARTICLES]
    found += [(a.path, fast_page_text(render_wechat(a), "text/html").text, a.path)
              for a in WECHAT_ARTICLES]
    found += [(r.path, fast_page_text(r.html().encode(), "text/html").text, r.of)
              for r in REPRINTS]
    return found


def quality() -> dict[str, Any]:
    """Precision and recall per threshold over every pair of :func:`corpus` (module doc)."""
    signer = Signer()
    items = [(path, signer.sign(text), story) for path, text, story in corpus()]
    pairs = []
    for (p1, s1, k1), (p2, s2, k2) in itertools.combinations(items, 2):
        if s1 is None or s2 is None:
            continue
        candidate = bool(set(band_keys(s1)) & set(band_keys(s2)))
        pairs.append((f"{p1} ~ {p2}", k1 is not None and k1 == k2, candidate,
                      similarity(s1, s2)))
    copies = [p for p in pairs if p[1]]
    rows = []
    for threshold in THRESHOLDS:
        found = [p for p in pairs if p[2] and p[3] >= threshold]
        right = sum(1 for p in found if p[1])
        rows.append({"threshold": threshold, "found": len(found),
                     "precision": right / len(found) if found else 1.0,
                     "recall": right / len(copies) if copies else 1.0})
    return {"texts": len(items), "pairs": len(pairs), "copies": len(copies),
            "lowest_copy": min((p[3], p[0]) for p in copies),
            "highest_other": max((p[3], p[0]) for p in pairs if not p[1]),
            "rows": rows}


def texts(count: int, seed: int = 7, pool: int = 5_000) -> Iterator[str]:
    """``count`` generated texts of 250 words; one in ten reprints one of the last ``pool``
    texts with a tenth of its words changed (only the pool is held in memory)."""
    rng = random.Random(seed)
    vocabulary = [f"w{n}x{rng.randrange(10**6)}" for n in range(20_000)]
    weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocabulary))))
    recent: list[str] = []
    for n in range(count):
        if n > 10 and rng.random() < 0.1:
            words = rng.choice(recent).split()
            for _ in range(len(words) // 10):
                words[rng.randrange(len(words))] = rng.choice(vocabulary)
        else:
            words = rng.choices(vocabulary, cum_weights=weights, k=250)
        text = " ".join(words)
        if len(recent) < pool:
            recent.append(text)
        else:
            recent[n % pool] = text
        yield text


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def scale(size: int, batch: int = 1000) -> dict[str, Any]:
    """Assign ``size`` generated texts into a fresh catalogue (module doc)."""
    generated = texts(size)
    stats: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="mh-stories-") as folder:
        path = Path(folder) / "memoryhole.db"
        db = open_catalogue(path, cache_mib=64)
        index = StoryIndex(db.conn, None, stats)
        tail_from = size - max(size // 10, 1)
        started = time.perf_counter()
        tail_started = started
        for start in range(0, size, batch):
            with immediate(db):
                for n in range(start, min(start + batch, size)):
                    if n == tail_from:
                        tail_started = time.perf_counter()
                    db.conn.execute("INSERT INTO urls (id, url, state) VALUES (?, ?, 'alive')",
                                    (n + 1, f"https://site{n % 500}.example/{n}"))
                    index.assign(n + 1, n + 1, next(generated), "2026-01-01T00:00:00Z")
        ended = time.perf_counter()
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size_bytes = sum(os.path.getsize(p) for p in Path(folder).iterdir())
        stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
        grouped = db.execute("SELECT count(*) FROM urls WHERE story_id IS NOT NULL").fetchone()[0]
        db.conn.close()
    return {"size": size, "seconds": ended - started,
            "per_second": size / (ended - started),
            "tail_per_second": (size - tail_from) / (ended - tail_started),
            "peak_rss_mb": peak_rss() / 2**20, "db_bytes_per_capture": size_bytes / size,
            "stories": stories, "grouped": grouped,
            "candidates_per_capture": stats["stories/candidates"] / size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("quality", "scale"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args(argv)
    if args.what == "quality":
        result = quality()
        print(f"{result['texts']} texts, {result['pairs']} pairs, {result['copies']} copies")
        print("lowest copy:   {:.3f} {}".format(*result["lowest_copy"]))
        print("highest other: {:.3f} {}".format(*result["highest_other"]))
        for row in result["rows"]:
            print(f"threshold {row['threshold']:.2f}: found {row['found']:3d}, precision "
                  f"{row['precision']:.3f}, recall {row['recall']:.3f}")
        return 0
    for size in args.sizes:
        r = scale(size)
        print(f"{r['size']:>9,} captures: {r['per_second']:,.0f}/s overall, "
              f"{r['tail_per_second']:,.0f}/s over the last 10%, peak RSS "
              f"{r['peak_rss_mb']:.0f} MB, catalogue {r['db_bytes_per_capture']:,.0f} B per "
              f"capture, {r['stories']:,} stories holding {r['grouped']:,} URLs, "
              f"{r['candidates_per_capture']:.2f} candidates read per capture", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
