"""The cluster's small promises (archive.cluster), each on real parts: a job's result stored
twice is stored once, JSON only, a worker that cannot reach Redis or has another config stops
with one line, never showing the password."""

from __future__ import annotations

import queue
from datetime import UTC, datetime

import pytest

from archive.catalogue import db as catalogue
from archive.cluster import codec
from archive.cluster.ingest import Ingest
from archive.cluster.keys import Keys, config_version
from archive.config import load_config
from archive.home import Home
from archive.jobs import WriterSettings
from archive.warc.records import RecordLocation, WrittenRecord
from tests.support.helpers import free_port, rows, run_cli, write_config
from tests.support.redisserver import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"), password="pw-never-shown")
    yield server
    server.stop()


def _result(job: str) -> dict:
    record = WrittenRecord("<urn:uuid:1>", "response", "http://127.0.0.1:1/a",
                           datetime(2026, 1, 2, tzinfo=UTC), RecordLocation("MH-w1-x.warc.gz", 0,
                                                                           100),
                           "sha256:AAAA", 200, "text/html")
    written = {"t": "written", "record": codec.record_out(record),
               "fetched_url": record.url, "captured_at": "2026-01-02T00:00:00Z",
               "status": 200, "via": "http", "cert": None}
    # through JSON, as it travels
    return codec.loads(codec.dumps({"run": 1, "job": job, "msg": "1-0", "worker": "w1",
                                    "items": [written], "dead": None}))


def test_a_result_stored_twice_is_stored_once(tmp_home):
    home = Home(tmp_home)
    home.ensure("main")
    db = catalogue.open_catalogue(home.db_path)
    with catalogue.immediate(db):
        db["runs"].insert({"id": 1, "kind": "recheck", "started_at": "2026-01-02T00:00:00Z"})
    db.conn.close()
    items: queue.Queue = queue.Queue()
    acked: list = []
    for item in (("result", _result("1:check:1"), "r1"), ("result", _result("1:check:1"), "r2"),
                 ("stop",)):
        items.put(item)
    stats = Ingest(home, WriterSettings(), 1, items,
                   lambda acks, records: acked.extend(acks)).run()
    assert len(rows(tmp_home, "SELECT * FROM captures")) == 1
    assert stats["cluster/duplicates"] == 1
    assert acked == ["r1", "r2"]           # both acknowledged, after the commit


def test_jobs_are_json_never_pickle():
    with pytest.raises(codec.BadMessage):
        codec.loads(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.")
    assert codec.loads(codec.dumps({"run": 1}))["run"] == 1


def test_a_worker_without_redis_exits_1_with_one_line(tmp_home):
    write_config(tmp_home)
    port = free_port()
    with open(tmp_home / "memoryhole.toml", "a") as handle:
        handle.write(f'[cluster]\nredis = "redis://:pw-never-shown@127.0.0.1:{port}/0"\n')
    result = run_cli(tmp_home, "worker", "--name", "w1", expect=1)
    assert result.output.strip().splitlines() == [
        f"Error: Redis at redis://127.0.0.1:{port}/0 cannot be reached: "
        + result.output.split("cannot be reached: ", 1)[1].strip()]
    assert "pw-never-shown" not in result.output


def test_a_worker_with_another_config_refuses_to_start(tmp_home, redis_server):
    write_config(tmp_home)
    with open(tmp_home / "memoryhole.toml", "a") as handle:
        handle.write(f'[cluster]\nredis = "{redis_server.url}"\n')
    mine = config_version(load_config(tmp_home / "memoryhole.toml"))
    redis_server.client().hset(Keys("main").run, mapping={"run": 5, "config": "0123456789abcdef"})
    try:
        result = run_cli(tmp_home, "worker", "--name", "w1", expect=1)
    finally:
        redis_server.flush()
    assert f"this worker's config (version {mine}) differs from the running run's " \
           "(0123456789abcdef)" in result.output
    assert "pw-never-shown" not in result.output
