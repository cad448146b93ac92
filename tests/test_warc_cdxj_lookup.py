"""archive.warc.cdxj_lookup: binary search in a sorted CDXJ index, nearest capture, revisits."""

from __future__ import annotations

import json
import random
from pathlib import Path

from archive.home import Home
from archive.warc.cdxj import make_line, merge_into_index, parse_line, surt_key
from archive.warc.cdxj_lookup import (
    Capture,
    captures_of,
    nearest,
    original_of,
    split_view,
)
from archive.warc.cdxj_tiers import key_lines


def _line(url: str, ts: str, digest: str = "sha256:AAAA", rtype: str = "response",
          offset: int = 0) -> str:
    return make_line(url, ts, rtype, "text/html", "200", digest, 100, offset, "x.warc.gz")


def test_key_lines_matches_a_linear_scan(tmp_path: Path) -> None:
    rng = random.Random(7)
    urls = [f"http://h{rng.randrange(40)}.example.org/{'p' * rng.randrange(1, 4)}"
            f"{rng.randrange(300)}" + ("?q=ü" if rng.random() < 0.1 else "")
            for _ in range(3000)]
    lines = [_line(u, f"2026{rng.randrange(10**10):010d}", offset=i) for i, u in enumerate(urls)]
    index = tmp_path / "index.cdxj"
    merge_into_index(index, lines)
    stored = index.read_text(encoding="utf-8").splitlines()
    keys = rng.sample(sorted({surt_key(u) for u in urls}), 200) + [
        surt_key(urls[0]), "aaa", "zzz", "org,example,h1)/", "org,"]
    for key in keys:
        expected = [line for line in stored if line.split(" ", 1)[0] == key]
        assert key_lines(index, key) == expected, key
    assert key_lines(tmp_path / "missing.cdxj", "org,example)/") == []
    empty = tmp_path / "empty.cdxj"
    empty.write_bytes(b"")
    assert key_lines(empty, "org,example)/") == []


def test_first_and_last_lines_are_found(tmp_path: Path) -> None:
    index = tmp_path / "index.cdxj"
    merge_into_index(index, [_line("http://a.org/", "20260101000000"),
                             _line("http://m.org/", "20260101000000"),
                             _line("http://z.org/", "20260101000000")])
    assert len(key_lines(index, surt_key("http://a.org/"))) == 1
    assert len(key_lines(index, surt_key("http://z.org/"))) == 1


def _home_with(tmp_path: Path, lines_by_collection: dict[str, list[str]]) -> Home:
    home = Home(tmp_path / "home")
    for collection, lines in lines_by_collection.items():
        home.ensure(collection)
        merge_into_index(home.index_path(collection), lines)
    return home


def test_captures_across_collections_nearest_and_exact_url(tmp_path: Path) -> None:
    home = _home_with(tmp_path, {
        "main": [_line("http://www.example.org/a", "20260101000000"),
                 _line("https://example.org/a", "20260301000000")],
        "other": [_line("http://example.org/a", "20260201000000")],
    })
    found = captures_of(home, "http://example.org/a")
    assert [(c.collection, c.timestamp) for c in found] == [
        ("main", "20260101000000"), ("other", "20260201000000"), ("main", "20260301000000")]
    assert nearest(found, "20260110").timestamp == "20260101000000"
    assert nearest(found, "20260220000000").timestamp == "20260201000000"
    assert nearest(found, "2027").timestamp == "20260301000000"
    # a capture of the exact URL wins over a closer one of a URL with the same key
    assert nearest(found, "20260301000000", url="http://www.example.org/a").timestamp == \
        "20260101000000"
    assert nearest([], "2026") is None
    assert captures_of(home, "not a url") == []


def test_original_of_a_revisit(tmp_path: Path) -> None:
    def cap(ts: str, digest: str, rtype: str = "response") -> Capture:
        return Capture("main", parse_line(_line("http://example.org/a", ts, digest, rtype)))

    old, changed, revisit = cap("20260101000000", "sha256:OLD"), \
        cap("20260102000000", "sha256:NEW"), cap("20260103000000", "sha256:OLD", "revisit")
    assert revisit.is_revisit and json.loads(revisit.entry.line.split(" ", 2)[2])["mime"] == \
        "warc/revisit"
    assert original_of([old, changed, revisit], revisit) == old
    assert original_of([changed, revisit], revisit) is None
    later = cap("20260104000000", "sha256:OLD")
    assert original_of([revisit, later], revisit) == later


def test_nearest_keeps_a_vantage_s_captures_apart() -> None:
    """In one second, the control's page and a vantage's block page: the control's is replayed
    unless the vantage's view is asked for; a view with no capture there finds nothing."""
    def capture(vantage: str | None, offset: int) -> Capture:
        return Capture("main", parse_line(make_line(
            "http://example.test/a", "20261201080000", "response", "text/html", "200", "D",
            10, offset, "f.warc.gz", vantage)))

    control, blocked = capture(None, 0), capture("kz", 100)
    both = [control, blocked]
    assert nearest(both, "20261201080000") is control
    assert nearest(both, "20261201080000", vantage="kz") is blocked
    assert nearest([control], "20261201080000", vantage="kz") is None
    assert nearest([blocked], "20261201080000") is blocked       # nothing else to show
    assert (control.view, blocked.view) == ("main", "main@kz")
    assert split_view("main@kz") == ("main", "kz") and split_view("main") == ("main", None)
