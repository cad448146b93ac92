"""Crawls on Redis Streams workers (archive.cluster.frontier, crawlers.spiders.cluster_crawl): a
real redis-server, real `memoryhole worker` processes, the mock news site, real WARC files and
SQLite; the same crawl in one process is the reference."""

from __future__ import annotations

import sqlite3
import threading

from archive.cluster.keys import Keys
from tests import test_cluster_recheck
from tests.support.helpers import all_records, index_text, rows, run_cli, write_config
from tests.support.redisserver import Worker, wait_for

redis_server = test_cluster_recheck.redis_server      # the fixtures, shared
cluster = test_cluster_recheck.cluster

PAGES = [f"/articles/{n}" for n in range(100, 125)]     # a page source: two jobs of its URLs


def configure(home, redis_server=None, **cluster):
    write_config(home, obey_robots=False, timeout=10)
    if redis_server is not None:
        values = {"redis": redis_server.url, "lease": "60s", **cluster}
        with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
            handle.write("[cluster]\n" + "".join(f'{k} = "{v}"\n' for k, v in values.items()))


def write_seeds(home, site, *, feed="/feed.xml", feed_items=None):
    seeds = home / "seeds.toml"
    limit = f"max_items = {feed_items}\n" if feed_items else ""
    pages = ", ".join(f'"{site.url(path)}"' for path in PAGES)
    seeds.write_text(
        f'[[source]]\nname = "feed"\nkind = "feed"\nurl = "{site.url(feed)}"\n{limit}'
        f'[[source]]\nname = "map"\nkind = "sitemap"\nurl = "{site.url("/sitemap-index.xml")}"\n'
        f'[[source]]\nname = "list"\nkind = "page"\nurls = [{pages}]\n', encoding="utf-8")
    return seeds


def pages_captured(home) -> dict[str, int]:
    """URL -> how many 200 responses of it the catalogue holds."""
    found = rows(home, "SELECT url, count(*) AS n FROM captures WHERE status = 200"
                 " GROUP BY url")
    return {row["url"]: row["n"] for row in found}


def stored_by(home, worker: str) -> int:
    """Jobs of ``worker`` stored so far (0 before the catalogue has its table)."""
    try:
        return len(rows(home, "SELECT 1 FROM cluster_jobs WHERE worker = ?", (worker,)))
    except sqlite3.OperationalError:
        return 0


def watched(home) -> set[str]:
    return {row["url"] for row in rows(home, "SELECT url FROM urls")}


def test_a_crawl_through_two_workers_archives_what_one_process_does(
        tmp_path, fresh_mockserver, cluster, redis_server):
    local, spread = tmp_path / "local", tmp_path / "spread"
    configure(local)
    configure(spread, redis_server)
    run_cli(local, "crawl", "--seeds", str(write_seeds(local, fresh_mockserver)))
    fresh_mockserver.reset()
    cluster += [Worker(spread, "w1"), Worker(spread, "w2")]
    result = run_cli(spread, "crawl", "--seeds", str(write_seeds(spread, fresh_mockserver)))
    assert "errors 0" in result.output, result.output

    assert watched(spread) == watched(local)
    assert len(watched(spread)) >= len(PAGES) + 13
    assert pages_captured(spread) == pages_captured(local)
    # the workers made the story signatures the owner stored: the same as one process makes
    signatures = "SELECT u.url, s.signature FROM story_signatures s JOIN urls u ON u.id = s.url_id"
    assert {r["url"]: r["signature"] for r in rows(spread, signatures)} == \
        {r["url"]: r["signature"] for r in rows(local, signatures)}
    assert rows(spread, "SELECT count(*) AS n FROM story_signatures")[0]["n"] > 0
    # a page both the feed and the sitemap list is fetched once, as in one process
    assert fresh_mockserver.hits("/plain/a") == 1
    client, keys = redis_server.client(), Keys("main")
    assert client.xpending(keys.jobs, "workers")["pending"] == 0
    for worker in cluster:
        assert worker.stop() in (0, -15)
    # the records are the workers', in their own WARC files (digests checked on reading), each
    # capture row points at its record, and the index has them
    located = {(r["file"], r["offset"]): r["headers"].get_header("WARC-Record-ID")
               for r in all_records(spread)}
    assert located and all(name.startswith("MH-w") for name, _ in located), located
    placed = rows(spread, "SELECT warc_filename, warc_offset, warc_record_id FROM captures")
    assert all(located[(c["warc_filename"], c["warc_offset"])] == c["warc_record_id"]
               for c in placed)
    assert "/articles/100" in index_text(spread)
    run_cli(spread, "check")
    assert client.xlen(keys.jobs) == 0
    jobs = rows(spread, "SELECT job_id FROM cluster_jobs")
    assert any(":pages:" in job["job_id"] for job in jobs)     # the feed's pages, handed out


def test_a_second_crawl_fetches_everything_again_and_writes_revisits(
        tmp_home, fresh_mockserver, cluster, redis_server):
    """A worker serves run after run: what it fetched in the first is fetched again in the
    second (no duplicate filter left over), and an unchanged page is a revisit of its capture."""
    configure(tmp_home, redis_server)
    seeds = write_seeds(tmp_home, fresh_mockserver)
    cluster.append(Worker(tmp_home, "w1"))
    run_cli(tmp_home, "crawl", "--seeds", str(seeds))
    second = run_cli(tmp_home, "crawl", "--seeds", str(seeds))
    assert "revisits 0" not in second.output, second.output
    assert fresh_mockserver.hits("/sitemap.xml") == 2
    assert fresh_mockserver.hits(PAGES[0]) == 2
    revisits = rows(tmp_home, "SELECT url FROM captures WHERE is_revisit = 1")
    # every page (a sitemap named by an index is not known to the owner: stored whole)
    assert {r["url"] for r in revisits} >= watched(tmp_home), "an unchanged page stored whole"


def test_add_goes_through_the_workers(tmp_home, fresh_mockserver, cluster, redis_server):
    configure(tmp_home, redis_server)
    cluster.append(Worker(tmp_home, "w1"))
    url = fresh_mockserver.url("/plain/added")
    run_cli(tmp_home, "add", url)
    assert fresh_mockserver.hits("/plain/added") == 1
    assert rows(tmp_home, "SELECT url FROM urls") == [{"url": url}]
    assert rows(tmp_home, "SELECT worker FROM cluster_jobs") == [{"worker": "w1"}]


def test_a_worker_killed_mid_crawl_of_1000_pages_loses_none(
        tmp_home, fresh_mockserver, cluster, redis_server):
    configure(tmp_home, redis_server, lease="2s")
    seeds = tmp_home / "seeds.toml"
    seeds.write_text(f'[[source]]\nname = "digest"\nkind = "feed"\nurl = '
                     f'"{fresh_mockserver.url("/articles-feed.xml?n=1000")}"\nmax_items = 1000\n',
                     encoding="utf-8")
    cluster += [Worker(tmp_home, "doomed"), Worker(tmp_home, "w2")]
    done: list = []
    owner = threading.Thread(target=lambda: done.append(run_cli(tmp_home, "crawl", "--seeds",
                                                                 str(seeds))))
    owner.start()
    wait_for(lambda: stored_by(tmp_home, "doomed") >= 3, timeout=120,
             what="the doomed worker's first jobs stored")
    cluster[0].kill()
    owner.join(300)
    assert done, "the crawl did not finish"
    expected = {fresh_mockserver.url(f"/articles/{n}") for n in range(1000)}
    assert expected <= set(pages_captured(tmp_home)), \
        sorted(expected - set(pages_captured(tmp_home)))[:5]
    assert expected <= watched(tmp_home)
    by_worker = rows(tmp_home, "SELECT worker, count(*) AS n FROM cluster_jobs GROUP BY worker")
    assert {row["worker"] for row in by_worker} == {"doomed", "w2"}


def test_a_run_with_vantages_stays_here_and_says_why(tmp_home, fresh_mockserver, caplog):
    """Workers have no vantage proxies: with [[vantage]]s a run is not sent to them (its
    blocks would go unseen) but runs here, saying so; Redis is not even asked."""
    configure(tmp_home)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[[vantage]]\nname = "kz"\nproxy = "http://127.0.0.1:9"\n'
                     '[cluster]\nredis = "redis://:pw@127.0.0.1:9/0"\n')
    url = fresh_mockserver.url("/plain/here")
    result = run_cli(tmp_home, "add", url)
    assert fresh_mockserver.hits("/plain/here") == 1
    checked = run_cli(tmp_home, "recheck", "--all")
    assert "checked 1:" in checked.output, checked.output
    said = [r.getMessage() for r in caplog.records if "not on the cluster" in r.getMessage()]
    assert said == [f"this {kind} runs here, not on the cluster's workers: [[vantage]]s are "
                    "configured (their checks go out from here)" for kind in ("crawl", "recheck")]
    assert "pw@" not in result.output + checked.output + caplog.text


def test_two_schedule_daemons_only_one_enqueues(tmp_home, fresh_mockserver, cluster,
                                                redis_server):
    """`memoryhole schedule` with a cluster: its crawls and re-checks go to the workers; a second
    daemon for the same home exits 1 with one line and puts nothing on the streams."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    configure(tmp_home, redis_server)
    config = tmp_home / "memoryhole.toml"
    config.write_text('seeds = ["seeds.toml"]\n' + config.read_text(encoding="utf-8")
                      + '[recheck]\noffsets = ["1s"]\n', encoding="utf-8")
    (tmp_home / "seeds.toml").write_text(
        f'[[source]]\nname = "news"\nkind = "feed"\nurl = '
        f'"{fresh_mockserver.url("/articles-feed.xml?n=5")}"\nschedule = "every 2s"\n',
        encoding="utf-8")
    cluster.append(Worker(tmp_home, "w1"))
    command = [sys.executable, "-m", "cli", "--home", str(tmp_home), "schedule",
               "--recheck-every", "1"]
    first = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        wait_for(lambda: stored_by(tmp_home, "w1") >= 2, timeout=120,
                 what="the first daemon's jobs done by the worker")
        second = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert second.stderr.strip().startswith("Error: another scheduler is running for")
        assert len(second.stderr.strip().splitlines()) == 1
        before = stored_by(tmp_home, "w1")
        wait_for(lambda: stored_by(tmp_home, "w1") > before + 1, timeout=120,
                 what="the first daemon going on")
    finally:
        first.terminate()
        first.communicate(timeout=60)
    kinds = {r["kind"] for r in rows(tmp_home, "SELECT r.kind FROM cluster_jobs j JOIN runs r"
                                               " ON r.id = j.run_id")}
    assert kinds == {"crawl", "recheck"}
    # one run at a time: no two runs of the home were ever running together
    spans = rows(tmp_home, "SELECT started_at, finished_at FROM runs ORDER BY started_at")
    assert all(a["finished_at"] <= b["started_at"] for a, b in zip(spans, spans[1:], strict=False)
               if a["finished_at"]), spans


def test_a_crawl_outlives_a_redis_that_lost_its_data(tmp_home, server, cluster, redis_server):
    """Redis emptied in the middle of a crawl (a restart without its append-only file): the run
    writes its entry again and puts its lost jobs back (archive.cluster.requeue), the worker
    makes the jobs group again instead of stopping, and every page is archived."""
    configure(tmp_home, redis_server)
    server.script("/_default", [{"status": 200, "delay": 0.1, "body": "<html><head><title>A"
                                 "</title></head><body><p>Text that stays.</p></body></html>"}],
                  cycle=True)
    paths = [f"/p/{n}" for n in range(80)]
    seeds = tmp_home / "seeds.toml"
    seeds.write_text('[[source]]\nname = "list"\nkind = "page"\nurls = [' + ", ".join(
        f'"{server.url(path)}"' for path in paths) + "]\n", encoding="utf-8")
    worker = Worker(tmp_home, "w1")
    cluster.append(worker)
    done: list = []
    owner = threading.Thread(target=lambda: done.append(run_cli(tmp_home, "crawl", "--seeds",
                                                                 str(seeds))))
    owner.start()
    wait_for(lambda: stored_by(tmp_home, "w1") >= 1, timeout=60, what="a first job stored")
    redis_server.client().flushall()
    owner.join(120)
    assert done, "the crawl did not finish"
    assert worker.process.poll() is None
    assert "made again" in worker.log.read_text()
    assert {server.url(path) for path in paths} <= set(pages_captured(tmp_home))


def test_a_second_home_with_the_same_home_id_is_refused(tmp_path, fresh_mockserver, cluster,
                                                        redis_server):
    """Two homes on one Redis with one home_id would take each other's results: while one runs,
    the other's run is refused with one line that says who holds it and what to change."""
    first, second = tmp_path / "first", tmp_path / "second"
    for home in (first, second):
        configure(home, redis_server)
    done: list = []
    owner = threading.Thread(target=lambda: done.append(
        run_cli(first, "add", fresh_mockserver.url("/plain/first"))))
    owner.start()                                   # no worker yet: it waits with its claim
    wait_for(lambda: redis_server.client().exists(Keys("main").owner), what="the first claim")
    refused = run_cli(second, "add", fresh_mockserver.url("/plain/second"), expect=1)
    assert f'another run uses this Redis with [cluster] home_id = "main": run 1 of {first} on' \
        in refused.output, refused.output
    assert "give each home a home_id of its own" in refused.output
    assert "s3cret-pw" not in refused.output
    cluster.append(Worker(first, "w1"))
    owner.join(60)
    assert done and fresh_mockserver.hits("/plain/first") == 1
    assert fresh_mockserver.hits("/plain/second") == 0
    assert not redis_server.client().exists(Keys("main").owner)     # given back at the end


ARTICLE = {"status": 200, "body": "<html><head><title>Back</title></head><body><p>"
           + "The article is back after a short outage of its server. " * 5 + "</p></body></html>"}


def test_a_worker_retries_a_crawl_s_5xx_but_never_a_check_s(tmp_home, server, cluster,
                                                            redis_server):
    """One worker serves crawls and re-checks: a page answering 503 to a crawl is tried again,
    as in one crawl process, while a check's 503 is the verdict (transient), never retried."""
    configure(tmp_home, redis_server)
    cluster.append(Worker(tmp_home, "w1"))
    server.script("/flaky", [{"status": 503, "body": "busy"}, ARTICLE])
    run_cli(tmp_home, "add", server.url("/flaky"))
    assert server.hits()["/flaky"] == 2
    assert pages_captured(tmp_home) == {server.url("/flaky"): 1}
    server.script("/flaky", [{"status": 503, "body": "busy"}, ARTICLE])
    checked = run_cli(tmp_home, "recheck", "--all")
    assert "checked 1:" in checked.output, checked.output
    assert server.hits()["/flaky"] == 3
    assert [c["outcome"] for c in rows(tmp_home, "SELECT outcome FROM checks")] == ["transient"]
