"""A Redis restart in the middle of a cluster run loses no job (archive.cluster): a real
redis-server with its append-only file on, killed (SIGKILL) and started again; real `memoryhole
worker` processes that go on serving; the owner puts jobs lost from the stream on it again."""

from __future__ import annotations

import json
import threading
import time

import pytest

from archive.cluster import codec, requeue
from archive.cluster.keys import Keys, ensure_groups
from archive.cluster.requeue import Requeue
from tests.support.helpers import rows, run_cli
from tests.support.redisserver import Worker, redis_for_tests, wait_for, worker_pool
from tests.test_cluster_recheck import configure, crawl_locally
from tests.test_recheck import DELETIONS, article

ALIVE = [f"/p/{n}" for n in range(24)]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with redis_for_tests(tmp_path_factory.mktemp("redis"), password="s3cret-pw",
                         appendonly=True) as server:
        yield server


@pytest.fixture
def cluster(redis_server):
    with worker_pool(redis_server) as workers:
        yield workers


def last_run(home) -> int:
    return rows(home, "SELECT max(id) AS id FROM runs")[0]["id"]


def stored(home, run_id: int) -> int:
    return len(rows(home, "SELECT job_id FROM cluster_jobs WHERE run_id = ?", (run_id,)))


def in_background(home, *args):
    """``memoryhole ARGS`` in a thread (the run's owner): the thread and its result, once done."""
    done: dict = {}
    thread = threading.Thread(target=lambda: done.update(result=run_cli(home, *args)),
                              daemon=True)
    thread.start()
    return thread, done


def outcomes(home, run_id: int) -> dict[str, str]:
    return {c["url"]: c["outcome"] for c in
            rows(home, "SELECT url, outcome FROM checks WHERE run_id = ?", (run_id,))}


def test_redis_killed_and_restarted_mid_run_loses_no_job(tmp_home, server, cluster,
                                                         redis_server):
    configure(tmp_home, redis_server)
    paths = [*DELETIONS, *ALIVE]
    for path in paths:
        server.script(path, [article(f"Article {path}")])
    crawl_locally(tmp_home, server, paths)
    for path, (response, _) in DELETIONS.items():
        server.script(path, [{**response, "delay": 0.4}])
    for path in ALIVE:
        server.script(path, [{**article(f"Article {path}"), "delay": 0.4}])
    cluster += [Worker(tmp_home, "w1"), Worker(tmp_home, "w2")]
    first = run_cli(tmp_home, "recheck", "--all")         # no restart: what to expect
    assert "deletions confirmed 0" in first.output, first.output
    before = outcomes(tmp_home, last_run(tmp_home))
    assert len(before) == len(paths)

    thread, done = in_background(tmp_home, "recheck", "--all")
    wait_for(lambda: last_run(tmp_home) > 2 and stored(tmp_home, last_run(tmp_home)) >= 5,
             timeout=60, what="some results of the second run stored")
    run_id = last_run(tmp_home)
    assert stored(tmp_home, run_id) < len(paths) - 5, "the run was not mid-way"
    redis_server.stop()
    # both workers see Redis go (their loops wait) before it comes back
    wait_for(lambda: all("cannot be reached" in w.log.read_text(errors="replace")
                         for w in cluster), what="the workers to notice that Redis is away")
    time.sleep(2)       # an outage of some seconds: downloads end, results and slots wait
    redis_server.restart()
    thread.join(180)
    assert not thread.is_alive(), "the run did not end after Redis came back"
    second = done["result"]
    assert f"checked {len(paths)}:" in second.output, second.output
    assert f"deletions confirmed {len(DELETIONS)}" in second.output, second.output
    # every URL checked exactly once in that run, as without the restart, and stored once
    checks = rows(tmp_home, "SELECT url_id, count(*) AS n FROM checks WHERE run_id = ? "
                            "GROUP BY url_id", (run_id,))
    assert len(checks) == len(paths) and {c["n"] for c in checks} == {1}
    assert outcomes(tmp_home, run_id) == before
    assert stored(tmp_home, run_id) == len(paths)
    found = {d["url"]: d["reason"] for d in
             json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)}
    assert found == {server.url(p): reason for p, (_, reason) in DELETIONS.items()}
    # the workers live on and said it once each, not once per try
    for worker in cluster:
        assert worker.process.poll() is None, worker.name
        log = worker.log.read_text(errors="replace")
        assert log.count("cannot be reached") == 1, log[-3000:]
        assert "Redis is back" in log
        assert len([line for line in log.splitlines() if "WARNING" in line]) < 5, log[-3000:]
        assert "s3cret-pw" not in log
    # ... and serve the next run
    third = run_cli(tmp_home, "recheck", "--all")
    assert f"checked {len(paths)}:" in third.output, third.output


def test_a_job_lost_from_the_stream_is_put_on_it_again(tmp_home, server, cluster,
                                                       redis_server, monkeypatch):
    """A job whose stream entry is gone (as after a Redis restart that lost the last second
    of writes) before any worker took it: the owner adds it again and the run ends."""
    monkeypatch.setattr(requeue, "CHECK_EVERY", 0.3)
    configure(tmp_home, redis_server)
    paths = ["/a", "/b", "/c"]
    for path in paths:
        server.script(path, [article(f"Article {path}")])
    crawl_locally(tmp_home, server, paths)
    client, keys = redis_server.client(), Keys("main")
    thread, done = in_background(tmp_home, "recheck", "--all")
    wait_for(lambda: client.exists(keys.jobs) and client.xlen(keys.jobs) == len(paths),
             what="the run's jobs on the stream")
    lost_id, fields = client.xrange(keys.jobs, count=1)[0]
    client.xdel(keys.jobs, lost_id)
    lost = codec.loads(fields[b"job"])["row"]["url"]
    wait_for(lambda: client.xlen(keys.jobs) == len(paths), what="the lost job on it again")
    cluster.append(Worker(tmp_home, "w1"))
    thread.join(120)
    assert not thread.is_alive(), "the run waited for the lost job"
    assert f"checked {len(paths)}: alive {len(paths)}" in done["result"].output, \
        done["result"].output
    run_id = last_run(tmp_home)
    assert outcomes(tmp_home, run_id) == {server.url(p): "alive" for p in paths}
    assert lost in outcomes(tmp_home, run_id)
    stats = json.loads(rows(tmp_home, "SELECT stats FROM runs WHERE id = ?", (run_id,))[0]
                       ["stats"])
    assert stats["archive/cluster/requeued"] == 1


def test_only_a_job_missing_twice_and_without_a_result_is_put_on_again(redis_server,
                                                                      monkeypatch):
    """One look that misses an entry is not enough (a dead-lettered job's entry goes before
    its result is read); a job whose result came is not looked for."""
    redis_server.flush()
    monkeypatch.setattr(requeue, "CHECK_EVERY", 0)
    client, keys = redis_server.client(), Keys("main")
    ensure_groups(client, keys)
    fields = {"run": 5, "config": "v", "lease": 60}
    client.hset(keys.run, mapping=fields)
    jobs = [{"run": 5, "id": f"5:check:{n}", "kind": "check", "row": {"id": n}}
            for n in range(3)]
    ledger = Requeue(client, keys, fields)
    ledger.add(jobs)
    outstanding = {"5:check:0", "5:check:1"}             # 5:check:2's result came
    client.xdel(keys.jobs, ledger.entries["5:check:1"], ledger.entries["5:check:2"])
    assert ledger.check(outstanding) == 0                # missed once
    assert client.xlen(keys.jobs) == 1
    client.delete(keys.run)                              # the run's entry lost too
    assert ledger.check(outstanding) == 1                # missed twice: on the stream again
    entries = client.xrange(keys.jobs)
    assert [codec.loads(f[b"job"])["id"] for _, f in entries] == ["5:check:0", "5:check:1"]
    assert client.hget(keys.run, "run") == b"5"
    assert ledger.check(outstanding) == 0 and ledger.requeued == 1


def test_a_slot_not_given_back_while_redis_is_away_is_given_back_after(redis_server):
    """A download ending while Redis is away cannot give its host slot back: it is given back
    before the next slot is taken, not held until its lease (30 s) ends."""
    import asyncio

    from archive.cluster.keys import async_client
    from archive.cluster.slots import HostSlots

    redis_server.flush()

    async def scenario() -> int:
        client = async_client(redis_server.url)
        slots = HostSlots(client, Keys("main"), "w1", lease=30)
        token = await asyncio.wait_for(slots.acquire("example.org", 1), 5)
        redis_server.stop()
        with pytest.raises(Exception):      # noqa: B017 - any of redis_away()
            await slots.release(token)
        redis_server.restart()
        await asyncio.wait_for(slots.acquire("example.org", 1), 5)    # the one slot is free
        held = await client.zcard(Keys("main").host_slots("example.org"))
        await client.aclose()
        return held

    assert asyncio.run(scenario()) == 1
