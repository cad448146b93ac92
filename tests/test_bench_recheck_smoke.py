"""Smoke tests for the re-check benchmark (bench/recheck_bench.py, bench/aiohttp_client.py):
small and fast (about 15 s), loopback only.

With Debian's nginx installed, the whole harness runs on 40 pages: base crawl, the three
contenders, one round, the table and recheck.json (and a py-spy profile where py-spy is
installed). Without nginx the harness must say how to install it; what can run then (the
aiohttp contender, against Python's http.server and its Last-Modified / 304) still runs here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import aiohttp_client, contenders, recheck_bench
from bench.nginx import INSTALL_HINT, nginx_available
from bench.site import generate_site
from tests.support.rangeserver import serve_folder

PAGES = 40


def run_aiohttp_against_http_server(tmp_path: Path) -> dict[str, Any]:
    """Contender c on its own: learn each page's Last-Modified, then re-check them all."""
    import urllib.request

    with serve_folder(tmp_path / "site") as base:   # http.server: Last-Modified and its 304
        site = generate_site(tmp_path / "site", PAGES, base)
        rows = []
        for url in site.urls():
            with urllib.request.urlopen(url, timeout=5) as response:
                rows.append({"url": url, "etag": response.headers.get("ETag"),
                             "last_modified": response.headers["Last-Modified"]})
        targets = tmp_path / "targets.jsonl"
        aiohttp_client.write_targets(targets, rows)
        stats_file = tmp_path / "stats.json"
        assert aiohttp_client.main([str(targets), "--concurrency", "8",
                                    "--stats-file", str(stats_file)]) == 0
    return json.loads(stats_file.read_text())


def test_aiohttp_client_conditional_gets(tmp_path: Path) -> None:
    stats = run_aiohttp_against_http_server(tmp_path)
    assert stats["checks"] == PAGES and stats["statuses"] == {"304": PAGES}
    assert stats["failures"] == {} and stats["body_bytes"] == 0 and stats["loop_s"] > 0


def test_summary_line_and_profile_ranking() -> None:
    line = ("recheck run 7: checked 40: alive 38, changed 1, missing 1, blocked 0, transient 0; "
            "deletions confirmed 0, restored 0, 2.1 s")
    assert recheck_bench.parse_summary("progress…\n" + line) == {
        "run_id": 7, "checked": 40, "alive": 38, "changed": 1, "missing": 1, "blocked": 0,
        "transient": 0}
    assert recheck_bench.parse_summary("no summary") is None
    main = "thread (1): MainThread"
    writer = "thread (2): memoryhole-writer"
    runpy = "_run_module_as_main (<frozen runpy>:198)"
    stacks = [
        ([main, runpy, "main (/x/crawlers/runner.py:9)", "Engine.tick (/x/site-packages/"
          "scrapy/core/engine.py:5)"], 6),
        ([main, runpy, "_find_and_load (<frozen importlib._bootstrap>:1)"], 5),      # start-up
        ([main, runpy, "EpollSelector.select (/py/selectors.py:1)"], 7),              # idle
        ([main], 2),                                                                  # frameless
        ([writer, "Thread._bootstrap (/py/threading.py:1)", "ArchiveWriter._run "
          "(/x/archive/writer.py:1)", "RotatingWarcWriter._write_record (/x/archive/warc.py:1)"],
         4),
    ]
    ranked = recheck_bench.profile_ranking(stacks, 5)
    assert (ranked["samples"], ranked["steady_samples"], ranked["startup_samples"],
            ranked["idle_samples"], ranked["frameless_samples"]) == (24, 10, 5, 7, 2)
    assert ranked["own"][0] == ("Engine.tick (scrapy/core/engine.py)", 60.0)
    cumulative = dict(ranked["cumulative"])
    assert runpy.split(" (")[0] not in {name.split(" (")[0] for name in cumulative}   # wrapper
    assert [(t["thread"], t["share"]) for t in ranked["threads"]] == [
        ("MainThread", 60.0), ("memoryhole-writer", 40.0)]


def test_profile_by_default_only_where_py_spy_is_installed() -> None:
    assert recheck_bench.profile_modes(None, True) == (["conditional"], "")
    modes, note = recheck_bench.profile_modes(None, False)
    assert modes == [] and "py-spy not found" in note and "-m pip install py-spy" in note
    assert recheck_bench.profile_modes([], True) == ([], "")                 # --profile
    assert recheck_bench.profile_modes(["full"], False) == (["full"], "")    # asked: it must fail


def test_harness_small_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    pyspy = Path(recheck_bench.sys.executable).parent / "py-spy"
    profile = ["conditional"] if pyspy.exists() else []
    argv = ["--pages", str(PAGES), "--rounds", "1", "--concurrency", "8", "--quiet-wait", "0",
            "--retries", "0", "--out", str(out), "--top", "5", "--profile", *profile]
    if not nginx_available():
        assert recheck_bench.main(argv) == 2
        assert INSTALL_HINT in capsys.readouterr().err
        stats = run_aiohttp_against_http_server(tmp_path)   # what runs without nginx
        assert stats["statuses"] == {"304": PAGES}
        return
    assert recheck_bench.main(argv) == 0, capsys.readouterr().out[-3000:]
    printed = capsys.readouterr().out
    results = json.loads((out / "recheck.json").read_text())
    assert results["base_crawl"]["urls_with_etag"] == PAGES
    runs = {r["contender"]: r for r in results["runs"]}
    assert set(runs) == {"conditional", "full", "aiohttp"}
    for run in runs.values():
        assert run["ok"] and run["checks"] == PAGES and run["wall_s"] > 0
        assert run["cpu_s"] > 0 and run["tree_rss_mb"] > 10
    conditional, full = runs["conditional"], runs["full"]
    assert conditional["statuses"] == {"304": PAGES} == runs["aiohttp"]["statuses"]
    assert conditional["db_checks"] == PAGES and conditional["summary"]["alive"] == PAGES
    assert full["statuses"] == {"200": PAGES} and full["revisits"] == PAGES
    assert 0 < conditional["warc_bytes"] / PAGES < 4000      # a revisit and a request record
    assert conditional["index_bytes"] > 0 and conditional["db_bytes"] > 0
    assert not (out / "recheck" / "runs" / "c8" / "r1-conditional" / "home").exists()
    rows = {r["contender"]: r for r in results["summary"]}
    assert rows["aiohttp"]["ratio"] == 1.0 and 0 < rows["conditional"]["ratio"]
    assert "| 8 | memoryhole recheck, conditional" in printed and "WARC bytes" in printed
    assert results["targets"] and "re-checks/s" in results["targets"][0]
    if profile:
        prof = results["profiles"][0]
        assert "error" not in prof, prof
        assert prof["steady_samples"] > 0 and prof["own"] and prof["cumulative"]
        assert "own %" in printed and "Scrapy process:" in printed
        assert "crawlers.runner" in prof["process"]
        assert prof["writer"]["steady_samples"] > 0 and "Archive writer process:" in printed


def _repository_of_the_tree(dest: Path) -> None:
    """A git repository with one commit of the project's files as they are now (the suite may
    run outside a clone)."""
    shutil.copytree(contenders.ROOT, dest, ignore=shutil.ignore_patterns(
        ".git", ".venv*", ".cache", "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info",
        "demo-home", "memoryhole-data", "out", "artifacts"))
    for argv in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=test", "-c", "user.email=test@localhost", "commit", "-qm",
                  "the tree under test"]):
        subprocess.run(["git", "-C", str(dest), *argv], check=True, capture_output=True)


@pytest.mark.skipif(not nginx_available(), reason="needs nginx (installed by .ci/run)")
def test_harness_runs_a_committed_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """--memoryhole-rev: the base crawl and the re-checks run a git archive copy of HEAD."""
    repo = tmp_path / "repo"
    _repository_of_the_tree(repo)
    monkeypatch.setattr(contenders, "ROOT", repo)
    out = tmp_path / "out"
    argv = ["--pages", str(PAGES), "--rounds", "1", "--concurrency", "8", "--quiet-wait", "0",
            "--retries", "0", "--out", str(out), "--only", "conditional",
            "--memoryhole-rev", "HEAD", "--profile"]
    assert recheck_bench.main(argv) == 0, capsys.readouterr().out[-3000:]
    results = json.loads((out / "recheck.json").read_text())
    sha = results["machine"]["memoryhole_commit"]
    assert results["machine"]["memoryhole"] == f"git archive of {sha}"
    assert (out / "src" / sha / "scheduler.py").exists()
    [run] = results["runs"]
    assert run["ok"] and run["checks"] == PAGES and run["statuses"] == {"304": PAGES}
