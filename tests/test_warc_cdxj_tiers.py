"""archive.warc.cdxj_tiers: the index as tiers of sorted files, so a run writes what it adds.

- adding lines writes a small tier-0 file and leaves a big base untouched;
- readers (whole index, one key) see every file, each line once;
- full tiers merge into the next, the last into the base; a compaction merges all;
- two processes adding at once, merges included, lose no line;
- a rebuild replaces the base and drops the tier files it covers;
- ``check --compact-index`` compacts, and pywb replays from tier files (test_browser_render).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from archive.warc.cdxj import make_line, merge_into_index
from archive.warc.cdxj_tiers import (
    FILES_PER_TIER,
    TIERS,
    add_to_index,
    compact_index,
    index_files,
    key_lines,
    read_lines,
)
from tests.support.helpers import run_cli, write_config

ROOT = Path(__file__).resolve().parent.parent


def _lines(start: int, count: int, stamp: str = "20260101000000") -> list[str]:
    return [make_line(f"http://site{n % 97}.example/page/{n}", stamp, "response", "text/html",
                      "200", "sha256:x", 100, n, "MH-a.warc.gz") for n in range(start,
                                                                          start + count)]


def test_an_addition_writes_a_small_file_and_leaves_the_base_alone(tmp_path: Path) -> None:
    index = tmp_path / "indexes" / "index.cdxj"
    base = _lines(0, 20_000)
    merge_into_index(index, base)
    before = os.stat(index)
    added = _lines(20_000, 200)
    assert add_to_index(index, added + added[:10]) == 200
    after = os.stat(index)
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino, before.st_mtime_ns, before.st_size)
    (tier,) = [p for p in index_files(index) if p != index]
    assert tier.name.startswith("index-t0-") and tier.suffix == ".cdxj"
    assert tier.stat().st_size < before.st_size / 50            # about what was added
    assert list(read_lines(index)) == sorted(set(base + added))
    key = added[5].split(" ", 1)[0]
    assert key_lines(index, key) == sorted(line for line in base + added
                                           if line.split(" ", 1)[0] == key)


def test_full_tiers_merge_upwards_and_compaction_merges_all(tmp_path: Path) -> None:
    index = tmp_path / "indexes" / "index.cdxj"
    expected: set[str] = set()
    adds = (FILES_PER_TIER + 1) ** TIERS + 3
    for n in range(adds):
        lines = _lines(n * 10, 10)
        expected |= set(lines)
        add_to_index(index, lines)
        files = index_files(index)
        tiers = [p for p in files if p != index]
        assert len(tiers) <= TIERS * FILES_PER_TIER, f"after {n + 1} adds: {len(tiers)} files"
    assert index.exists(), "the last tier never reached the base"
    assert list(read_lines(index)) == sorted(expected)
    assert compact_index(index) == len(expected)
    assert index_files(index) == [index]
    assert index.read_text().splitlines() == sorted(expected)


WRITER = """
import sys
from pathlib import Path
from archive.warc.cdxj import make_line
from archive.warc.cdxj_tiers import add_to_index
index, who = Path(sys.argv[1]), sys.argv[2]
for n in range(60):
    add_to_index(index, [make_line(f"http://{who}.example/{n}/{k}", "20260101000000", "response",
                                   "text/html", "200", "sha256:x", 1, k, "MH-a.warc.gz")
                         for k in range(5)])
"""


def test_two_processes_adding_and_merging_lose_no_line(tmp_path: Path) -> None:
    index = tmp_path / "indexes" / "index.cdxj"
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, str(index), who], cwd=ROOT)
               for who in ("a", "b")]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    lines = list(read_lines(index))
    assert len(lines) == 2 * 60 * 5 == len(set(lines))
    assert not list(index.parent.glob(".*.tmp"))


def test_check_compacts_and_a_rebuild_replaces_the_tiers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    index = home / "collections" / "main" / "indexes" / "index.cdxj"
    (home / "collections" / "main" / "archive").mkdir(parents=True)
    for n in range(3):
        add_to_index(index, _lines(n * 5, 5))
    assert len(index_files(index)) == 3 and not index.exists()
    done = run_cli(home, "check", "--compact-index", expect=None)
    assert "compacted the index of main: 15 lines" in done.output
    assert index_files(index) == [index]
    add_to_index(index, _lines(100, 5))
    # the lines point at no WARC file: a repair rebuilds the index from the (empty) archive
    run_cli(home, "check", "--repair", expect=0)
    assert index_files(index) in ([], [index])
    assert list(read_lines(index)) == []
