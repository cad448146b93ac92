"""Smoke tests for the crawl benchmark harness (bench/): small and fast, never a live URL.

The site generator and the process-tree accounting run everywhere; the nginx parts (serving,
clean stop, a 30-page run of the plain Scrapy and wget contenders) are skipped, with the
install command as the reason, where Debian's nginx is not installed.
"""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import report
from bench.measure import measure
from bench.nginx import INSTALL_HINT, NGINX, Nginx, nginx_available
from bench.site import MAX_BYTES, MIN_BYTES, generate_site

needs_nginx = pytest.mark.skipif(not nginx_available(),
                                 reason=f"{NGINX} not installed: {INSTALL_HINT}")
BASE = "http://127.0.0.1:8080"


def _fetch(url: str, gzip_ok: bool = False) -> tuple[int, str | None, bytes]:
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        return r.status, r.headers.get("Content-Encoding"), r.read()


def test_site_is_deterministic_and_complete(tmp_path: Path) -> None:
    info = generate_site(tmp_path / "a", pages=30, base_url=BASE)
    again = generate_site(tmp_path / "b", pages=30, base_url=BASE)
    urls = info.urls()
    assert len(urls) == len(set(urls)) == 30
    assert all(u.startswith(BASE + "/") and u.endswith(".html") for u in urls)
    assert info.gzipped_pages == 15
    for url in urls:
        rel = url[len(BASE) + 1:]
        data = (tmp_path / "a" / rel).read_bytes()
        assert data == (tmp_path / "b" / rel).read_bytes()
        assert MIN_BYTES <= len(data) <= MAX_BYTES, (url, len(data))
        text = data.decode("utf-8")
        assert "<article" in text and "<nav" in text and "<footer" in text
        assert '<p lang="zh">' in text
        twin = tmp_path / "a" / (rel + ".gz")
        if twin.exists():
            assert gzip.decompress(twin.read_bytes()) == data
    assert sum(1 for u in urls if (tmp_path / "a" / (u[len(BASE) + 1:] + ".gz")).exists()) == 15
    links = [item.findtext("link") for item in ET.parse(tmp_path / "a" / "feed.xml").iter("item")]
    assert sorted(links) == sorted(urls)
    assert (tmp_path / "a" / "robots.txt").read_text() == "User-agent: *\nAllow: /\n"
    assert again.total_bytes == info.total_bytes


def test_measure_counts_grandchildren(tmp_path: Path) -> None:
    """CPU and memory of a process the child waits for are in the measurement."""
    burn = ("import time; x = bytearray(80 * 2**20); x[::4096] = b'1' * len(x[::4096]); "
            "t = time.process_time()\nwhile time.process_time() - t < 0.6: pass")
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}])"
    taken = measure([sys.executable, "-c", parent], log_path=tmp_path / "log", interval=0.05)
    assert taken.returncode == 0
    assert taken.cpu_s >= 0.5
    assert taken.tree_rss_mb >= 80
    assert taken.wall_s >= 0.6


def test_report_ratio_and_medians() -> None:
    def run(name: str, wall: float, pages: int = 100) -> dict:
        return {"contender": name, "concurrency": 16, "pages": pages, "wall_s": wall,
                "cpu_s": wall, "tree_rss_mb": 50.0, "returncode": 0, "crawl_s": None,
                "warc_bytes": 1000 * pages if name != "scrapy" else None}
    results = {"runs": [run("scrapy", 1.0), run("scrapy", 2.0), run("scrapy", 4.0),
                        run("memoryhole", 0.5), run("memoryhole", 1.0), run("memoryhole", 9.0)]}
    rows = {r["contender"]: r for r in report.summarise(results)}
    assert rows["scrapy"]["pages_s"] == 50 and rows["scrapy"]["ratio"] == 1
    assert rows["memoryhole"]["pages_s"] == 100 and rows["memoryhole"]["ratio"] == 2
    assert rows["memoryhole"]["warc_bytes_page"] == 1000
    assert "2.00×" in report.summary_table(results)


@needs_nginx
def test_nginx_serves_site_and_stops(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    server = Nginx(folder)
    info = generate_site(folder, pages=4, base_url=server.base_url)
    with server:
        first, second = info.urls()[:2]
        status, encoding, body = _fetch(first, gzip_ok=True)
        assert (status, encoding) == (200, "gzip")
        assert gzip.decompress(body) == (folder / first.split("/", 3)[3]).read_bytes()
        status, encoding, body = _fetch(second, gzip_ok=True)
        assert (status, encoding, body) == (200, None,
                                            (folder / second.split("/", 3)[3]).read_bytes())
        assert _fetch(server.base_url + "/robots.txt")[0] == 200
        with pytest.raises(urllib.error.HTTPError) as missing:
            _fetch(server.base_url + "/nope.html")
        assert missing.value.code == 404
        process, tmp = server.process, server.tmp
        assert "[error]" not in server.error_log().replace("nope.html", "")
    assert process is not None and process.returncode is not None
    assert tmp is not None and not tmp.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), 0.5):
        pass


@needs_nginx
def test_run_plain_scrapy_and_wget(tmp_path: Path) -> None:
    from bench.run import main

    out = tmp_path / "out"
    assert main(["--pages", "30", "--rounds", "1", "--only", "scrapy", "wget",
                 "--quiet-wait", "0", "--retries", "0", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    runs = {r["contender"]: r for r in results["runs"]}
    assert runs["scrapy"]["pages"] == runs["wget"]["pages"] == 30
    assert runs["wget"]["warc_bytes"] > 30 * 10_000
    assert runs["scrapy"]["cpu_s"] > 0.2 and runs["scrapy"]["tree_rss_mb"] > 30
    assert not list((out / "runs").rglob("*.warc.gz"))   # discarded after counting


def test_run_without_nginx_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import bench.run

    monkeypatch.setattr(bench.run, "nginx_available", lambda: False)
    assert bench.run.main(["--pages", "1"]) == 2
    assert "apt-get install -y nginx" in capsys.readouterr().err


def test_index_tiers_bench_runs_and_measures_writes() -> None:
    from archive.warc.cdxj import merge_into_index
    from archive.warc.cdxj_tiers import add_to_index
    from bench.index_tiers import run

    one_times, one_written = run(2_000, 3, 20, merge_into_index)
    tier_times, tier_written = run(2_000, 3, 20, add_to_index)
    assert len(one_times) == len(tier_times) == 3
    assert min(one_written) > 10 * max(tier_written)      # the whole index against its lines


@needs_nginx
@pytest.mark.skipif(shutil.which("redis-server") is None,
                    reason="redis-server not installed: apt-get install -y redis-server")
def test_cluster_bench_runs_every_contender(tmp_path: Path) -> None:
    """bench.cluster on 20 pages, one round: local, local without the fast path, one and two
    workers each check every page; the summary has a ratio to the local run."""
    from bench import cluster

    assert cluster.main(["--pages", "20", "--rounds", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "cluster.json").read_text())
    assert [r["contender"] for r in results["runs"]] == list(cluster.NAMES)
    assert all(r["ok"] and r["checks"] == 20 for r in results["runs"])
    ratios = {r["contender"]: r["ratio"] for r in results["summary"]}
    assert ratios["local"] == 1.0 and ratios["2-workers"] > 0


@needs_nginx
@pytest.mark.skipif(shutil.which("redis-server") is None,
                    reason="redis-server not installed: apt-get install -y redis-server")
def test_cluster_bench_crawl_mode_runs_every_contender_and_the_ingest_replay(
        tmp_path: Path) -> None:
    """bench.cluster --mode crawl on 20 pages, one round: every contender captures every page
    from the feed (the workers through the frontier's hand-out), the cluster runs count their
    Redis commands, and the replay of a recorded 2-worker run stores what that run stored."""
    from bench import cluster

    assert cluster.main(["--mode", "crawl", "--pages", "20", "--rounds", "1", "--retries", "0",
                         "--quiet-wait", "0", "--replays", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "cluster-crawl.json").read_text())
    assert [r["contender"] for r in results["runs"]] == list(cluster.NAMES)
    assert all(r["ok"] and r["pages"] == 20 for r in results["runs"])
    by_name = {r["contender"]: r for r in results["runs"]}
    assert by_name["local"]["redis_calls"] == 0 and by_name["2-workers"]["jobs"] == 2
    assert by_name["2-workers"]["redis_commands"]["xreadgroup"] > 0
    ingest = results["ingest"]
    assert ingest["results"] == 2 and ingest["recorded"]["pages"] == 20
    assert ingest["replays"][0]["captures"] == ingest["recorded"]["captures"]
    assert {r["contender"] for r in results["summary"]} == set(cluster.NAMES)


def test_scale_home_is_generated_in_the_formats(tmp_path: Path) -> None:
    import sqlite3
    from contextlib import closing

    from archive.warc.cdxj_tiers import read_lines
    from bench.scale_home import cached_home

    home, facts = cached_home(tmp_path, urls=500, log=lambda _: None)
    assert facts["checks"] == 5000 and facts["index_lines"] == 500
    assert cached_home(tmp_path, urls=500, log=pytest.fail) == (home, facts)     # cached
    with closing(sqlite3.connect(home / "memoryhole.db")) as db:
        counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("urls", "captures", "checks", "deletions", "captures_fts",
                            "fts_pending", "deletions_fts", "deletion_fts_pending")]
        due = db.execute("SELECT count(*) FROM urls WHERE next_check_at <= datetime('now')"
                         ).fetchone()[0]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert counts == [500, 500, 5000, 10, 500, 0, 10, 0] and due == 0
    lines = list(read_lines(home / "collections" / "main" / "indexes" / "index.cdxj"))
    assert len(lines) == 500 and lines == sorted(lines)
    warcs = sorted((home / "collections" / "main" / "archive").glob("*.warc.gz"))
    assert len(warcs) == 4 and all(gzip.decompress(p.read_bytes()) for p in warcs)


@needs_nginx
def test_scale_bench_small_runs_both_homes(tmp_path: Path) -> None:
    from bench import scale

    assert scale.main(["--small", "--cache", str(tmp_path / "cache"),
                       "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "scale" / "scale.json").read_text())
    runs = {r["home"]: r for r in results["runs"]}
    assert set(runs) == {"empty", "5,000 captures"}
    for run in runs.values():       # 40 pages crawled, re-checked with the 3 canaries
        assert (run["pages"], run["checks"], run["alive"]) == (40, 43, 43)
        assert run["total_s"] > 0 and run["front_ms"] > 0 and run["search_ms"] > 0
    assert results["summary"][0]["ratio"] == 1.0
