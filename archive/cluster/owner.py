"""The owner of a cluster run: the process holding the home's run lock puts the run's jobs on the
jobs stream, waits for their results, stores them (archive.cluster.ingest) and acknowledges each
job after its results are committed; it alone writes the catalogue and adds the workers' records
to the index.

Results of another run (one that ended before they came) are acknowledged and dropped: their
records stay in the workers' WARC files, where ``check --repair`` finds them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from archive.cluster import codec
from archive.cluster.claim import OwnerClaim
from archive.cluster.frontier import Frontier
from archive.cluster.ingest import Ingest
from archive.cluster.keys import (
    JOBS_GROUP,
    OWNER,
    RESULTS_GROUP,
    ClusterError,
    Keys,
    Outage,
    config_version,
    connect,
    ensure_groups,
    lease_seconds,
    list_workers,
    redis_away,
)
from archive.cluster.requeue import Requeue
from archive.config import Config
from archive.home import Home
from archive.jobs import WriterSettings
from archive.warc.records import WrittenRecord

logger = logging.getLogger(__name__)

Progress = Callable[[dict[str, int]], None]
_INDEX_EVERY = 5000          # records indexed at once, at most this many kept back
NO_WORKER_SAY_EVERY = 30.0   # seconds: a run with jobs waiting and no worker says so this often


def writer_settings(config: Config, log_file: str | None) -> WriterSettings:
    return WriterSettings(
        collection=config.collection, extract=config.crawl.extract,
        recheck_offsets=tuple(config.recheck.offsets),
        confirm_checks=config.recheck.confirm_checks, confirm_after=config.recheck.confirm_after,
        log_file=log_file, control_name=config.control_name,
        story_threshold=config.story_threshold)


class Owner:
    """One cluster run: :meth:`run` returns the run's stats, named as a local run's."""

    def __init__(self, home: Home, config: Config, run_id: int, *, log_file: str | None = None,
                 on_progress: Progress | None = None, frontier: Frontier | None = None) -> None:
        self.home, self.config, self.run_id = home, config, run_id
        self.frontier = frontier          # a crawl's: hands out the pages its feeds list
        self.keys = Keys(config.cluster.home_id)
        self.client = connect(config.cluster.redis)
        self.settings = writer_settings(config, log_file)
        self.on_progress = on_progress
        self.items: queue.Queue[Any] = queue.Queue(maxsize=1000)
        self.outstanding: set[str] = set()
        self.unindexed: list[WrittenRecord] = []
        self.ingest = Ingest(home, self.settings, run_id, self.items, self._stored)
        self._stop = threading.Event()
        self.run_fields = {"run": run_id, "config": config_version(config),
                           "lease": lease_seconds(config),
                           "kind": "crawl" if frontier is not None else "recheck"}
        self.requeue = Requeue(self.client, self.keys, self.run_fields)
        self.claim = OwnerClaim(self.client, self.keys, str(home.root), run_id)

    def run(self, jobs: list[dict[str, Any]]) -> dict[str, Any]:
        self.claim.take()
        try:
            return self._run(jobs)
        finally:
            try:
                self.claim.release()
            except redis_away() as exc:       # it ends with its lease
                logger.warning("the run's claim on Redis not given back: %s", exc)

    def _run(self, jobs: list[dict[str, Any]]) -> dict[str, Any]:
        ensure_groups(self.client, self.keys)
        self._drop_stale()
        self.client.hset(self.keys.run, mapping=self.run_fields)
        self._enqueue(jobs)
        logger.info("run %s: %d job(s) on the cluster", self.run_id, len(jobs))
        collector = threading.Thread(target=self._collect, name="memoryhole-cluster-results",
                                     daemon=True)
        collector.start()
        try:
            stats = self.ingest.run()
        finally:
            self._stop.set()
            collector.join()
            self._index()
            try:
                self.client.hdel(self.keys.run, "run")
            except redis_away() as exc:     # all stored: the workers only idle on the old run
                logger.warning("the run's entry on Redis not taken away: %s", exc)
        requeued = {"archive/cluster/requeued": self.requeue.requeued} \
            if self.requeue.requeued else {}
        return {**self.ingest.crawl_stats,
                **{f"archive/{k}": v for k, v in stats.items()}, **requeued,
                "memoryhole/pages": stats.get("pages", 0),
                "memoryhole/checks_selected": len(jobs)}

    def _enqueue(self, jobs: list[dict[str, Any]]) -> None:
        """Jobs onto the jobs stream, counted as outstanding before they can be answered."""
        self.outstanding.update(job["id"] for job in jobs)
        self.requeue.add(jobs)

    def _drop_stale(self) -> None:
        """Results a dead owner read and never stored: of an ended run, acknowledged."""
        while True:
            found = self.client.xreadgroup(RESULTS_GROUP, OWNER, {self.keys.results: "0"},
                                           count=500)
            entries = found[0][1] if found else []
            if not entries:
                return
            ids = [entry_id for entry_id, _ in entries]
            self.client.xack(self.keys.results, RESULTS_GROUP, *ids)
            self.client.xdel(self.keys.results, *ids)

    def _collect(self) -> None:
        """The results thread: results onto the ingest queue until none is outstanding."""
        last_progress = 0.0
        workers_seen = time.monotonic()
        outage = Outage(logger, f"run {self.run_id}", self.config.cluster.redis)
        while self.outstanding and not self._stop.is_set():
            if time.monotonic() - workers_seen >= NO_WORKER_SAY_EVERY:
                workers_seen = time.monotonic()
                self._say_if_no_worker()
            try:
                if not self.claim.renew():
                    logger.error("run %s: another run took this home's claim on Redis (the same "
                                 "[cluster] home_id?): its owner may take this run's results",
                                 self.run_id)
                # the outstanding jobs that a Redis restart lost go on the stream again
                self.requeue.check(self.outstanding)
                found = self.client.xreadgroup(RESULTS_GROUP, OWNER, {self.keys.results: ">"},
                                               count=200, block=500)
            except redis_away() as exc:
                self._stop.wait(outage.failed(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - Redis says no: wait for it
                logger.warning("reading results: %s; trying again", exc)
                self._stop.wait(1)
                continue
            outage.ok()
            for entry_id, fields in (found[0][1] if found else []):
                self._take(entry_id, fields)
            if self.on_progress is not None and time.monotonic() - last_progress >= 0.5:
                last_progress = time.monotonic()
                s = self.ingest.stats
                self.on_progress({"responses": s["responses"], "pages": s["pages"],
                                  "errors": s["cluster/dead"], "requests": len(self.outstanding)})
        self._put(("stop",))

    def _say_if_no_worker(self) -> None:
        """A run waits for its jobs as long as it takes; when no worker is there to do them,
        it says so (and how to start one) instead of waiting in silence."""
        try:
            if list_workers(self.client, self.keys):
                return
        except Exception as exc:  # noqa: BLE001 - Redis away: the results loop says so
            logger.debug("listing the workers: %s", exc)
            return
        logger.warning("run %s: no worker is running; %d job(s) wait on the cluster (start one "
                       "on any host that sees the collections folder: memoryhole worker)",
                       self.run_id, len(self.outstanding))

    def _take(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        try:
            message = codec.loads(fields.get(b"result", b""))
        except codec.BadMessage as exc:
            logger.error("dropped an unreadable result %s: %s", entry_id, exc)
            self._ack([(entry_id, None)])
            return
        if message.get("run") != self.run_id:
            self._ack([(entry_id, None)])
            return
        answered = codec.result_jobs(message)
        if self.frontier is not None and message.get("discovered"):
            self._hand_out(message["discovered"])
        self._put(("result", message, (entry_id, [msg for _, msg in answered])))
        for job_id, _ in answered:
            self.outstanding.discard(job_id)

    def _hand_out(self, discovered: list[Any]) -> None:
        """The pages a crawl's feeds and sitemaps listed, as jobs of their own (each URL once
        per run); Redis away: tried again until it answers or the run is stopped."""
        assert self.frontier is not None
        jobs = self.frontier.discovered(discovered)
        while jobs and not self._stop.is_set():
            try:
                self._enqueue(jobs)
                return
            except Exception as exc:  # noqa: BLE001 - Redis away: wait for it
                logger.warning("handing out %d page job(s): %s; trying again", len(jobs), exc)
                self._stop.wait(1)

    def _put(self, item: tuple[Any, ...]) -> None:
        while not self._stop.is_set():
            try:
                self.items.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _stored(self, acks: list[Any], records: list[WrittenRecord]) -> None:
        """After a commit: the jobs and results done with, the records kept for the index."""
        self._ack(acks)
        self.unindexed.extend(records)
        if len(self.unindexed) >= _INDEX_EVERY:
            self._index()

    def _ack(self, acks: list[Any]) -> None:
        results = [r for r, _ in acks]
        jobs = [j for _, msgs in acks for j in (msgs or ()) if j]
        try:
            pipe = self.client.pipeline(transaction=False)
            if results:
                pipe.xack(self.keys.results, RESULTS_GROUP, *results)
                pipe.xdel(self.keys.results, *results)
            if jobs:
                pipe.xack(self.keys.jobs, JOBS_GROUP, *jobs)
                pipe.xdel(self.keys.jobs, *jobs)
            pipe.execute()
        except Exception as exc:  # noqa: BLE001 - stored already: redone jobs are stored once
            logger.warning("acknowledging %d result(s): %s", len(results), exc)

    def _index(self) -> None:
        from archive.warc.cdxj import cdxj_lines
        from archive.warc.cdxj_tiers import add_to_index

        if self.unindexed:
            add_to_index(self.home.index_path(self.config.collection),
                         cdxj_lines(self.unindexed))
            self.unindexed = []


def run_owner(home: Home, config: Config, job: dict[str, Any], run_id: int, *,
              on_progress: Progress | None = None) -> tuple[int, dict[str, Any]]:
    """Run ``job`` (the job file a local crawl process would get: crawlers.launch) on the
    cluster; returns (exit status, stats)."""
    log_file = job.get("settings", {}).get("LOG_FILE")
    frontier = Frontier(home, run_id)
    handler: logging.Handler | None = None
    try:
        if log_file:
            handler = logging.FileHandler(log_file, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s [%(name)s] %(levelname)s: "
                                                   "%(message)s"))
            logging.getLogger("archive").addHandler(handler)
            logging.getLogger("archive").setLevel(logging.INFO)
        crawl = job.get("spider") != "recheck"
        owner = Owner(home, config, run_id, on_progress=on_progress,
                      frontier=frontier if crawl else None)
        stats = owner.run(frontier.plan(job) if crawl
                          else frontier.checks(job.get("selection", {})))
    except ClusterError as exc:
        logger.error("%s", exc)
        return 1, {"archive/failed": str(exc)}
    finally:
        frontier.close()
        if handler is not None:
            logging.getLogger("archive").removeHandler(handler)
            handler.close()
    return 0, stats
