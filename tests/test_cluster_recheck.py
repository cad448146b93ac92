"""Re-checks on Redis Streams workers (archive.cluster): a real redis-server, real `memoryhole
worker` processes, a scripted HTTP server, real WARC files and SQLite."""

from __future__ import annotations

import json
import threading

import pytest

from archive.cluster import codec
from archive.cluster.keys import Keys
from tests.support.helpers import all_records, rows, run_cli, write_config
from tests.support.redisserver import Worker, redis_for_tests, wait_for, worker_pool
from tests.test_recheck import DELETIONS, article


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with redis_for_tests(tmp_path_factory.mktemp("redis"), password="s3cret-pw") as server:
        yield server


@pytest.fixture
def cluster(redis_server):
    with worker_pool(redis_server) as workers:
        yield workers


def configure(home, redis_server, **cluster):
    write_config(home, obey_robots=False, timeout=5)
    values = {"redis": redis_server.url, "lease": "60s", **cluster}
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n[cluster]\n' + "".join(
            f'{k} = "{v}"\n' if isinstance(v, str) else f"{k} = {v}\n"
            for k, v in values.items()))


def crawl_locally(home, server, paths):
    """The first captures, in one process (the config without its ``[cluster]`` for the while),
    each path a page source (``/s/``: WeChat's rules, else news)."""
    seeds = home / "seeds.toml"
    seeds.write_text("\n".join(
        f'[[source]]\nname = "src{i}"\nkind = "page"\nurl = "{server.url(path)}"\n'
        f'platform = "{"wechat" if path.startswith("/s/") else "news"}"\n'
        for i, path in enumerate(paths)), encoding="utf-8")
    config = home / "memoryhole.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.split("[cluster]")[0], encoding="utf-8")
    try:
        run_cli(home, "crawl", "--seeds", str(seeds))
    finally:
        config.write_text(text, encoding="utf-8")


def test_deletions_through_two_workers_as_in_one_process(tmp_home, server, cluster,
                                                         redis_server):
    configure(tmp_home, redis_server)
    for path in DELETIONS:
        server.script(path, [article(f"Article {path}")])
    server.script("/same", [article("Unchanged")])
    crawl_locally(tmp_home, server, [*DELETIONS, "/same"])
    for path, (response, _) in DELETIONS.items():
        server.script(path, [response])
    cluster += [Worker(tmp_home, "w1"), Worker(tmp_home, "w2")]
    first = run_cli(tmp_home, "recheck", "--all")
    assert "deletions confirmed 0" in first.output, first.output
    second = run_cli(tmp_home, "recheck", "--all")
    assert f"deletions confirmed {len(DELETIONS)}" in second.output, second.output
    found = {d["url"]: d["reason"] for d in
             json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)}
    assert found == {server.url(p): reason for p, (_, reason) in DELETIONS.items()}
    # every job stored once, its capture pointing at a worker's WARC record
    checks = rows(tmp_home, "SELECT url_id, capture_id FROM checks")
    assert len(checks) == 2 * (len(DELETIONS) + 1)
    assert len(rows(tmp_home, "SELECT * FROM cluster_jobs")) == len(checks)
    captures = rows(tmp_home, "SELECT warc_filename, warc_record_id, is_revisit, url FROM "
                              "captures WHERE run_id > 1")
    assert len({c["warc_record_id"] for c in captures}) == len(captures)
    assert {c["warc_filename"].split("-")[1] for c in captures} <= {"w1", "w2"}
    # the unchanged page: a revisit of the first capture, written by a worker
    same = [c for c in captures if c["url"] == server.url("/same")]
    assert [c["is_revisit"] for c in same] == [1, 1]
    for worker in cluster:
        assert worker.stop() in (0, -15)
    # each capture row points at its record in a worker's file (digests checked on reading)
    located = {(r["file"], r["offset"]): r["headers"].get_header("WARC-Record-ID")
               for r in all_records(tmp_home)}
    placed = rows(tmp_home, "SELECT warc_filename, warc_offset, warc_record_id FROM captures"
                            " WHERE run_id > 1")
    assert all(located[(c["warc_filename"], c["warc_offset"])] == c["warc_record_id"]
               for c in placed)
    index = "".join(p.read_text() for p in (tmp_home / "collections").rglob("*.cdxj"))
    assert all(c["warc_filename"] in index for c in placed)
    # nothing left on the streams: every job acknowledged after its results were stored
    client, keys = redis_server.client(), Keys("main")
    assert client.xpending(keys.jobs, "workers")["pending"] == 0
    assert client.xpending(keys.results, "owner")["pending"] == 0
    # the password is in no log and no WARC
    for log in (tmp_home / "logs").iterdir():
        assert "s3cret-pw" not in log.read_text(errors="replace"), log
    for path in (tmp_home / "collections").rglob("*.warc.gz"):
        assert b"s3cret-pw" not in path.read_bytes()


def test_a_killed_workers_job_is_done_by_another(tmp_home, server, cluster, redis_server):
    configure(tmp_home, redis_server, lease="2s")
    server.script("/slow", [article("Slow")])
    server.script("/quick", [article("Quick")])
    crawl_locally(tmp_home, server, ["/slow", "/quick"])
    server.script("/slow", [{"status": 404, "body": "gone", "delay": 30},
                            {"status": 404, "body": "gone"}])
    server.script("/quick", [article("Quick")])
    first = Worker(tmp_home, "doomed")
    cluster.append(first)
    done: list = []
    owner = threading.Thread(target=lambda: done.append(run_cli(tmp_home, "recheck", "--all")))
    owner.start()
    wait_for(lambda: server.hits().get("/slow", 0) >= 1, what="the doomed worker's request")
    first.kill()
    cluster.append(Worker(tmp_home, "heir"))
    owner.join(60)
    assert done, "the re-check did not finish"
    assert "checked 2:" in done[0].output and "missing 1" in done[0].output, done[0].output
    checks = rows(tmp_home, "SELECT url, outcome FROM checks ORDER BY url")
    assert [(c["url"], c["outcome"]) for c in checks] == [
        (server.url("/quick"), "alive"), (server.url("/slow"), "missing")]
    assert len(rows(tmp_home, "SELECT * FROM cluster_jobs")) == 2


def test_a_job_failing_too_often_is_dead_lettered_and_reported(tmp_home, cluster,
                                                               redis_server):
    configure(tmp_home, redis_server, lease="1s", max_deliveries=2)
    from archive.cluster.keys import config_version
    from archive.config import load_config

    client, keys = redis_server.client(), Keys("main")
    client.xgroup_create(keys.jobs, "workers", id="0", mkstream=True)
    version = config_version(load_config(tmp_home / "memoryhole.toml"))
    client.hset(keys.run, mapping={"run": 7, "config": version})
    client.xadd(keys.jobs, {"job": codec.dumps({"run": 7, "id": "7:poison:1", "kind": "poison",
                                                "row": {"url": "http://127.0.0.1:9/x"}})})
    cluster.append(Worker(tmp_home, "w1"))
    wait_for(lambda: client.xlen(keys.dead) == 1, timeout=30, what="the dead letter")
    report = run_cli(tmp_home, "check", expect=1)
    assert "dead-letter: job 7:poison:1 (http://127.0.0.1:9/x): delivered 3 times" in \
        report.output, report.output
    assert "s3cret-pw" not in report.output


def test_a_run_with_no_worker_says_so_and_goes_on_when_one_starts(
        tmp_home, server, cluster, redis_server, monkeypatch, caplog):
    """No worker is running: the run says so, with the command that starts one, instead of
    waiting in silence; the worker started then does the jobs and the run ends as usual."""
    import logging

    from archive.cluster import owner

    monkeypatch.setattr(owner, "NO_WORKER_SAY_EVERY", 0.5)
    configure(tmp_home, redis_server)
    server.script("/same", [article("Unchanged")])
    crawl_locally(tmp_home, server, ["/same"])
    done: dict = {}
    with caplog.at_level(logging.WARNING, logger="archive.cluster.owner"):
        thread = threading.Thread(target=lambda: done.update(
            result=run_cli(tmp_home, "recheck", "--all")), daemon=True)
        thread.start()
        wait_for(lambda: any("no worker is running" in r.getMessage() for r in caplog.records),
                 what="the run to say that no worker runs")
        said = next(r.getMessage() for r in caplog.records
                    if "no worker is running" in r.getMessage())
        assert "memoryhole worker" in said and "1 job(s) wait" in said
        assert redis_server.password not in said
        cluster.append(Worker(tmp_home, "w1"))
        thread.join(120)
    assert not thread.is_alive(), "the run did not end once a worker ran"
    assert "checked 1: alive 1" in done["result"].output, done["result"].output
