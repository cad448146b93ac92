"""``per_domain`` holds across a cluster's workers (crawlers.middlewares.host_slots): two
``memoryhole worker`` processes re-checking one host send it no more requests at once than one
process would. A real redis-server, a scripted HTTP server that counts requests in flight."""

from __future__ import annotations

import pytest

from archive.cluster.keys import Keys, list_workers
from tests.support.helpers import rows, run_cli, write_config
from tests.support.redisserver import RedisServer, Worker, wait_for
from tests.test_cluster_recheck import crawl_locally

PAGE = {"status": 200, "body": "<html><head><title>A page</title></head><body><p>Some text that"
        " stays the same.</p></body></html>"}


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def test_two_workers_keep_to_per_domain_on_one_host(tmp_home, server, redis_server):
    redis_server.flush()
    write_config(tmp_home, obey_robots=False, timeout=10, concurrency=16, per_domain=2)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write(f'[cluster]\nredis = "{redis_server.url}"\nlease = "60s"\n')
    paths = [f"/p/{n}" for n in range(36)]          # more than one worker holds (32)
    server.script("/_default", [PAGE], cycle=True)
    crawl_locally(tmp_home, server, paths)           # in one process: at most 2 at once too
    server.script("/_default", [{**PAGE, "delay": 0.2}], cycle=True)
    client, keys = redis_server.client(), Keys("main")
    workers = [Worker(tmp_home, "w1"), Worker(tmp_home, "w2")]
    try:
        # both idle and waiting before the jobs come, so that both get some
        wait_for(lambda: len(list_workers(client, keys)) == 2, what="two workers registered")
        result = run_cli(tmp_home, "recheck", "--all")
        assert f"checked {len(paths)}: alive {len(paths)}" in result.output, result.output
        assert server.most_in_flight() == 2
        done = {w["name"]: int(w["jobs_done"]) for w in list_workers(client, keys)}
    finally:
        for worker in workers:
            worker.stop()
    served = {c["worker"] for c in rows(tmp_home, "SELECT worker FROM cluster_jobs")}
    assert served == {"w1", "w2"}, done             # both fetched: the limit was shared
    assert client.zcard(keys.host_slots("127.0.0.1")) == 0     # every slot given back


def test_a_crawl_through_two_workers_keeps_to_per_domain(tmp_home, server, redis_server):
    """A crawl's pages are spread over both workers, and the host still sees at most
    ``per_domain`` requests at once."""
    redis_server.flush()
    write_config(tmp_home, obey_robots=False, timeout=10, concurrency=16, per_domain=2,
                 requisites=False)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write(f'[cluster]\nredis = "{redis_server.url}"\nlease = "60s"\n')
    paths = [f"/p/{n}" for n in range(60)]          # three jobs of 20 pages
    server.script("/_default", [{**PAGE, "delay": 0.2}], cycle=True)
    seeds = tmp_home / "seeds.toml"
    seeds.write_text('[[source]]\nname = "list"\nkind = "page"\nurls = [' + ", ".join(
        f'"{server.url(path)}"' for path in paths) + "]\n", encoding="utf-8")
    client, keys = redis_server.client(), Keys("main")
    workers = [Worker(tmp_home, "w1"), Worker(tmp_home, "w2")]
    try:
        wait_for(lambda: len(list_workers(client, keys)) == 2, what="two workers registered")
        result = run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        assert f"pages {len(paths)}," in result.output, result.output
        assert server.most_in_flight() == 2
    finally:
        for worker in workers:
            worker.stop()
    served = {c["worker"] for c in rows(tmp_home, "SELECT worker FROM cluster_jobs")}
    assert served == {"w1", "w2"}
    assert client.zcard(keys.host_slots("127.0.0.1")) == 0
