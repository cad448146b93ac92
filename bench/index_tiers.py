"""What a closed WARC file costs the index, as the archive grows: tiers against one file.

    python -m bench.index_tiers                 # bases of 0, 100k, 1M lines; 200 closes each
    python -m bench.index_tiers --sizes 0 300000 --closes 100

For each base size, a collection's index is made of that many lines (``index.cdxj``, written
once, as an existing archive's), then ``--closes`` WARC closes each add ``--lines`` new lines:

- ``one file``: ``archive.warc.cdxj.merge_into_index``, the index before issue 14 (every close
  rewrites the whole index);
- ``tiers``: ``archive.warc.cdxj_tiers.add_to_index`` (a tier-0 file per close, merges as
  the tiers fill).

Reported per close: the median and mean time, and the bytes written (files created or replaced,
measured from their sizes), with the ratio to an empty index. The index lives in a temporary
folder under /tmp, deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from archive.warc.cdxj import make_line, merge_into_index
from archive.warc.cdxj_tiers import add_to_index, index_files


def _lines(start: int, count: int) -> list[str]:
    return [make_line(f"http://site{n % 2000}.example/2026/{n}/story.html", "20260101000000",
                      "response", "text/html", "200", f"sha256:{n:052d}", 5000 + n % 977,
                      n * 3000, f"MH-{n // 400:08d}.warc.gz") for n in range(start, start + count)]


def _written(folder: Path, before: dict[str, tuple[int, int]]) -> int:
    """Bytes of the files in ``folder`` that are new or were replaced since ``before``."""
    total = 0
    for path in folder.glob("*.cdxj"):
        stat = path.stat()
        if before.get(path.name) != (stat.st_ino, stat.st_mtime_ns):
            total += stat.st_size
    return total


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.cdxj")}


def run(base: int, closes: int, per_close: int,
        add: Callable[[Path, Iterable[str]], int]) -> tuple[list[float], list[int]]:
    with tempfile.TemporaryDirectory(prefix="mh-index-bench-") as tmp:
        index = Path(tmp) / "indexes" / "index.cdxj"
        index.parent.mkdir(parents=True)
        if base:
            merge_into_index(index, _lines(0, base))
        times, written = [], []
        for n in range(closes):
            lines = _lines(base + n * per_close, per_close)
            before = _snapshot(index.parent)
            started = time.perf_counter()
            add(index, lines)
            times.append(time.perf_counter() - started)
            written.append(_written(index.parent, before))
        assert sum(1 for _ in index_files(index)) >= 1
        return times, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 100_000, 1_000_000])
    parser.add_argument("--closes", type=int, default=200)
    parser.add_argument("--lines", type=int, default=200, help="lines each close adds")
    args = parser.parse_args()
    print(f"{args.closes} closes of {args.lines} lines each, per base size\n")
    print("| base lines | index | median ms/close | mean ms/close | MB written/close |")
    print("|---:|---|---:|---:|---:|")
    for size in args.sizes:
        for name, add in (("one file", merge_into_index), ("tiers", add_to_index)):
            closes = args.closes if name == "tiers" or size < 500_000 else min(args.closes, 20)
            times, written = run(size, closes, args.lines, add)
            print(f"| {size:,} | {name} | {statistics.median(times) * 1000:.1f} | "
                  f"{statistics.mean(times) * 1000:.1f} | "
                  f"{statistics.mean(written) / 1e6:.3f} |", flush=True)
    print(f"\n(cpu count {os.cpu_count()}; one-file runs on bases of 500k lines and more are cut "
          "to 20 closes: each rewrites the whole index)")


if __name__ == "__main__":
    main()
