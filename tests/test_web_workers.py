"""The UI's workers page (archive.web.workers) through ``memoryhole serve``: a real worker on a
real redis-server is listed (name, host, jobs done, last seen), Redis values are escaped, the
Redis URL is never shown; no cluster, no page; Redis away, one line naming no server."""

from __future__ import annotations

import socket

import pytest

from archive.catalogue.db import open_catalogue
from archive.cluster.keys import Keys, list_workers
from archive.home import Home
from tests.support.helpers import free_port, write_config
from tests.support.helpers import http_get as get
from tests.support.redisserver import RedisServer, Worker, wait_for
from tests.support.webhome import ServeProcess

PASSWORD = "ui-never-shows-it"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"), password=PASSWORD)
    yield server
    server.stop()


def _home(path, redis_url: str | None):
    write_config(path)
    if redis_url:
        with open(path / "memoryhole.toml", "a", encoding="utf-8") as handle:
            handle.write(f'[cluster]\nredis = "{redis_url}"\n')
    open_catalogue(Home(path).db_path).conn.close()
    return path


def test_the_workers_page_lists_the_workers_escaped(tmp_path, redis_server):
    redis_server.flush()
    home = _home(tmp_path / "home", redis_server.url)
    client, keys = redis_server.client(), Keys("main")
    worker = Worker(home, "w1")
    try:
        wait_for(lambda: list_workers(client, keys), what="the worker registered")
        # whoever can write to Redis can put markup in a worker's entry
        client.sadd(keys.workers, "evil")
        client.hset(keys.worker("evil"), mapping={
            "name": "evil", "host": "<script>alert(1)</script>", "jobs_done": 7,
            "last_seen": "2026-01-02T03:04:05Z"})
        client.expire(keys.worker("evil"), 60)
        with ServeProcess(home) as served:
            status, headers, body = get(served.ui, "/workers")
            page = body.decode()
            front = get(served.ui, "/")[2].decode()
    finally:
        worker.stop()
    assert status == 200, page
    assert "script-src 'none'" in headers["content-security-policy"]
    assert f"<td>w1</td><td>{socket.gethostname()}</td><td>0</td>" in page
    assert "<td>evil</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>7</td>" in page
    assert "<script" not in page
    assert "2 worker(s); 0 job(s) on the jobs stream." in page
    assert PASSWORD not in page and str(redis_server.port) not in page
    assert 'href="/workers"' in front


def test_no_cluster_no_page_and_redis_away_named_nowhere(tmp_path):
    plain = _home(tmp_path / "plain", None)
    port = free_port()
    away = _home(tmp_path / "away", f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    with ServeProcess(plain) as served:
        status, _, _ = get(served.ui, "/workers")
        front = get(served.ui, "/")[2].decode()
    assert status == 404 and 'href="/workers"' not in front
    with ServeProcess(away) as served:
        status, _, body = get(served.ui, "/workers")
    page = body.decode()
    assert status == 503 and "The cluster&#39;s Redis cannot be reached" in page, page
    assert PASSWORD not in page and str(port) not in page
