"""The cluster worker's spider (``memoryhole worker``): jobs from the home's Redis jobs stream,
read in ``async def start()`` with redis.asyncio (never blocking the reactor), a re-check's
fetched as the re-check spider fetches them and a crawl's as the news spider does
(crawlers.spiders.cluster_crawl), results sent back on the results stream (archive.cluster).

Back-pressure: at most ``CLUSTER_INFLIGHT`` jobs are held at once; more are read only as results
go out. A background task sends the results (after their records are synced), keeps the jobs this
worker holds claimed (so only a dead worker's jobs pass to another after the lease), reclaims
other workers' jobs idle past the lease (XAUTOCLAIM), dead-letters a job delivered more than
``max_deliveries`` times, and keeps the worker's entry in the registry fresh.

Redis away (restarted, say; with its append-only file on nothing is lost): each Redis step of the
job loop and of the background task is tried again after a growing nap (:meth:`_guard`); the
worker logs one warning when Redis goes and one line when it is back, and goes on serving.
Results not sent are kept and sent again (a result sent twice is stored once).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from scrapy import Request

from archive.cluster import codec
from archive.cluster.keys import (
    JOBS_GROUP,
    Keys,
    Outage,
    async_client,
    ensure_groups_async,
    redis_away,
    text,
)
from archive.cluster.sink import WorkerSink
from archive.timeutil import iso, utcnow
from crawlers.extensions.archiving import ArchiveExtension
from crawlers.spiders.cluster_crawl import CRAWL_KINDS, ClusterCrawl
from crawlers.spiders.news import NewsSpider
from crawlers.spiders.recheck import RecheckSpider

logger = logging.getLogger(__name__)

JOB_META = "memoryhole_cluster_job"
T = TypeVar("T")


class WorkerSpider(ClusterCrawl, RecheckSpider, NewsSpider):
    name = "worker"

    def __init__(self, cluster: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster = cluster or {}
        self.keys = Keys(self.cluster.get("home_id", "main"))
        self.worker = self.cluster.get("name", "worker")
        self.lease = float(self.cluster.get("lease", 60))
        self.max_deliveries = int(self.cluster.get("max_deliveries", 3))
        self.version = self.cluster.get("version", "")
        self.client: Any = None
        self.held: dict[str, float] = {}        # job stream ids this worker holds unfinished
        self.done = 0
        self.wake = asyncio.Event()
        self.stopping: str | None = None
        self.run_kind = "recheck"
        self.outage = Outage(logger, "the worker", self.cluster.get("redis", ""))

    @property
    def sink(self) -> WorkerSink:
        return self.crawler.get_extension(ArchiveExtension).writer

    async def start(self) -> AsyncIterator[Request]:
        self.client = async_client(self.cluster["redis"])
        self.sink.on_close = self._send_at_close
        service = asyncio.ensure_future(self._service())
        inflight = self.crawler.settings.getint("CLUSTER_INFLIGHT")
        next_claim = 0.0
        try:
            while self.stopping is None:
                if len(self.held) >= inflight:
                    await self._nap(0.2)
                    continue
                run = await self._guard(self._current_run(), None)
                if run is None:
                    await self._nap(0.5)
                    continue
                # a crawl's jobs are done a few at a time (ClusterCrawl), a re-check's as they come
                room = self.crawl_batch() if self.run_kind == "crawl" \
                    else inflight - len(self.held)
                entries: list[Any] = []
                if time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + max(self.lease / 4, 0.2)
                    entries += await self._guard(self._reclaim(room), [])
                if not entries:
                    found = await self._guard(self.client.xreadgroup(
                        JOBS_GROUP, self.worker, {self.keys.jobs: ">"}, count=room, block=200),
                        None)
                    entries = found[0][1] if found else []
                batch: list[tuple[str, dict[str, Any]]] = []
                for entry_id, fields in entries:
                    taken = await self._guard(self._take(text(entry_id), fields, run), None)
                    if isinstance(taken, Request):
                        yield taken
                    elif taken is not None:
                        batch.append(taken)
                if batch:
                    async for output in self.crawl_jobs(batch):
                        yield output
        finally:
            service.cancel()

    async def _guard(self, step: Awaitable[T], default: T) -> T:
        """One Redis step of the job loop. Redis away (restarting, loading its append-only
        file, the network): ``default`` after a nap that grows up to a few seconds, one warning
        per outage (:class:`archive.cluster.keys.Outage`), so the loop goes on when it is back. A
        step cut short leaves its job pending in the group: the lease hands it out again."""
        import redis

        try:
            value = await step
        except redis_away() as exc:
            await asyncio.sleep(self.outage.failed(exc))
            return default
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # a Redis that lost its data (no append-only file): the groups again; the run's
            # owner puts its lost jobs on the stream again (archive.cluster.requeue)
            logger.warning("the jobs stream or its group is gone (Redis lost its data?): "
                           "made again")
            await ensure_groups_async(self.client, self.keys)
            await asyncio.sleep(0.5)
            return default
        self.outage.ok()
        return value

    async def _nap(self, seconds: float) -> None:
        self.wake.clear()
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _current_run(self) -> str | None:
        """The run being served (None: none); stops the worker when its config differs."""
        run = {text(k): text(v) for k, v in (await self.client.hgetall(self.keys.run)).items()}
        if not run.get("run"):
            return None
        self.run_kind = run.get("kind", "recheck")
        if run.get("config") != self.version:
            self.stopping = ("this worker's config differs from the run's (config version "
                             f"{self.version}, the run's {run.get('config')}); give it the "
                             "same memoryhole.toml and start it again")
            logger.error("%s", self.stopping)
            self.crawler.stats.set_value("archive/failed", self.stopping)
            self.crawler.engine.close_spider(self, "config_changed")
            return None
        return run["run"]

    async def _take(self, entry_id: str, fields: dict[Any, Any], run: str
                    ) -> Request | tuple[str, dict[str, Any]] | None:
        """A check job's request; a crawl's job as (entry id, job), for :meth:`crawl_jobs`."""
        try:
            job = codec.loads(fields.get(b"job", b""))
            if str(job["run"]) != run and str(job["run"]) != await self._current_run():
                # an ended run's (a run begun meanwhile is checked afresh): nobody waits for it
                await self.client.xack(self.keys.jobs, JOBS_GROUP, entry_id)
                await self.client.xdel(self.keys.jobs, entry_id)
                return None
            kind = job.get("kind")
            if kind in CRAWL_KINDS:
                self.crawl_job_valid(job)
            elif kind != "check":
                raise codec.BadMessage(f"unknown job kind {kind!r}")
            else:
                row = job["row"]
        except (codec.BadMessage, KeyError, TypeError, ValueError) as exc:
            # left pending: redelivered after the lease, then dead-lettered
            logger.error("job %s cannot be done here: %s", entry_id, exc)
            self.crawler.stats.inc_value("cluster/bad_jobs")
            return None
        self.held[entry_id] = time.monotonic()
        if kind in CRAWL_KINDS:
            return entry_id, job
        self.sink.begin(row["id"], job, entry_id)
        request = self.check_request(row)
        request.meta[JOB_META] = entry_id
        return request

    async def _reclaim(self, room: int) -> list[Any]:
        """Jobs idle past the lease in a dead worker's hands; dead-letters those delivered too
        often."""
        if room <= 0:
            return []
        _next, claimed, _deleted = await self.client.xautoclaim(
            self.keys.jobs, JOBS_GROUP, self.worker, min_idle_time=int(self.lease * 1000),
            start_id="0-0", count=room)
        taken = []
        for entry_id, fields in claimed:
            info = await self.client.xpending_range(self.keys.jobs, JOBS_GROUP, min=entry_id,
                                                    max=entry_id, count=1)
            deliveries = int(info[0]["times_delivered"]) if info else 1
            if deliveries > self.max_deliveries:
                await self._dead_letter(text(entry_id), fields, deliveries)
            else:
                self.crawler.stats.inc_value("cluster/reclaimed")
                taken.append((entry_id, fields))
        return taken

    async def _dead_letter(self, entry_id: str, fields: dict[Any, Any], deliveries: int) -> None:
        raw = fields.get(b"job", b"")
        try:
            job = codec.loads(raw)
        except codec.BadMessage:
            job = {}
        row = job.get("row") if isinstance(job.get("row"), dict) else {}
        reason = f"delivered {deliveries} times without a result"
        await self.client.xadd(self.keys.dead, {
            "job": raw, "job_id": str(job.get("id", "")), "url": str(row.get("url", "")),
            "deliveries": deliveries, "worker": self.worker, "reason": reason,
            "at": iso(utcnow())})
        if job.get("id") is not None:         # the owner waits for it: it hears it is dead
            await self.client.xadd(self.keys.results, {"result": codec.dumps({
                "run": job.get("run"), "job": job["id"], "msg": None, "worker": self.worker,
                "items": [], "dead": reason})})
        await self.client.xack(self.keys.jobs, JOBS_GROUP, entry_id)
        await self.client.xdel(self.keys.jobs, entry_id)
        self.crawler.stats.inc_value("cluster/dead_lettered")
        logger.error("job %s dead-lettered: %s", entry_id, reason)

    async def _service(self) -> None:
        """Results out, held jobs claimed again, the registry entry fresh."""
        beat = 0.0
        idle_since = time.monotonic()
        while True:
            try:
                await self._send(self.sink.ready())
                now = time.monotonic()
                if self.held:
                    idle_since = now
                elif now - idle_since > 2:
                    self.sink.close_file()       # idle: its records become replayable
                if now - beat >= min(5.0, self.lease / 3):
                    beat = now
                    await self._beat()
            except asyncio.CancelledError:
                raise
            except redis_away() as exc:         # the results wait in the outbox
                await asyncio.sleep(self.outage.failed(exc))
            except Exception as exc:  # noqa: BLE001 - the results wait
                logger.warning("cluster service: %s", exc)
            await asyncio.sleep(0.05)

    async def _send(self, results: list[dict[str, Any]]) -> None:
        if not results:
            return
        pipe = self.client.pipeline(transaction=False)
        for result in results:
            pipe.xadd(self.keys.results, {"result": codec.dumps(result)})
        try:
            await pipe.execute()
        except BaseException:
            self.sink.outbox[:0] = results      # sent again later: stored once by the owner
            raise
        self.outage.ok()
        for result in results:
            for _job, msg in codec.result_jobs(result):
                self.held.pop(msg, None)
        self.done += len(results)
        self.crawler.stats.inc_value("cluster/results", len(results))
        self.wake.set()

    async def _beat(self) -> None:
        """Keep this worker's jobs claimed (their idle time reset) and its entry fresh."""
        if self.held:
            await self.client.xclaim(self.keys.jobs, JOBS_GROUP, self.worker, 0,
                                     list(self.held), justid=True)
        key = self.keys.worker(self.worker)
        await self.client.hset(key, mapping={
            "name": self.worker, "host": socket.gethostname(), "jobs_done": self.done,
            "last_seen": iso(utcnow())})
        await self.client.expire(key, int(max(30, self.lease * 2)))
        await self.client.sadd(self.keys.workers, self.worker)
        self.outage.ok()

    def _send_at_close(self, results: list[dict[str, Any]]) -> None:
        """At shutdown (the reactor stopping): the last results, synchronously."""
        import redis

        try:
            client = redis.Redis.from_url(self.cluster["redis"], socket_timeout=5)
            for result in results:
                client.xadd(self.keys.results, {"result": codec.dumps(result)})
        except redis.RedisError as exc:
            logger.warning("%d result(s) not sent (their jobs are redone): %s", len(results),
                           exc)
