"""The owner's side of a cluster run: the workers' results into the catalogue, through the archive
writer's own recorders (archive.writer.process.WriterProcess, in the owner's process).

An item is ``("result", message, ack)``: a worker's result (archive.cluster.codec). Its records are
in the worker's WARC file already, synced before the result was sent, so a ``written`` item becomes
a capture row without writing again; ``page`` and ``check`` items run the same handlers as in a
local run. A result is stored whole or not at all (the writer's savepoint per item), together with
its ``cluster_jobs`` rows (a crawl's result answers for several jobs); a result whose jobs are all
there already was done twice and is not stored again. ``on_stored(acks, records)`` is called after
each commit with the acks of the results that commit made durable and the records they added (for
the index): only then are the jobs acknowledged.
"""

from __future__ import annotations

import logging
import queue
from collections import Counter
from collections.abc import Callable
from typing import Any

from archive.cluster.codec import item_in, result_jobs
from archive.home import Home
from archive.jobs import WriterSettings
from archive.timeutil import iso, utcnow
from archive.warc.records import WrittenRecord
from archive.writer.process import WriterProcess

logger = logging.getLogger(__name__)

Stored = Callable[[list[Any], list[WrittenRecord]], None]


class Ingest(WriterProcess):
    def __init__(self, home: Home, settings: WriterSettings, run_id: int, items: queue.Queue[Any],
                 on_stored: Stored) -> None:
        super().__init__(home, settings, run_id, items)
        self.on_stored = on_stored
        self._acks: list[Any] = []
        self._records: list[WrittenRecord] = []
        self.crawl_stats: Counter[str] = Counter()   # the workers' crawl counters, stored results'

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "result":
            self._result(item[1])
            self._acks.append(item[2])
        elif kind == "written":
            _, record, fetched_url, captured_at, status, via, certificate = item
            self._pages.insert_written(record, fetched_url, captured_at, status, via=via,
                                       run_id=self.run_id, certificate=certificate)
            self.stats["responses"] += 1
            self.stats["revisits" if record.record_type == "revisit" else "records"] += 1
            self._records.append(record)
        elif kind == "stored_resource":
            self._pages.insert_resource(item[1], run_id=self.run_id)
            self.stats["resources"] += 1
            self._records.append(item[1])
        else:
            super()._handle(item)

    def _result(self, message: dict[str, Any]) -> None:
        conn = self._db.conn
        job_ids = [job_id for job_id, _ in result_jobs(message)]
        new = [job_id for job_id in job_ids if not conn.execute(
            "SELECT 1 FROM cluster_jobs WHERE job_id = ?", (job_id,)).fetchone()]
        if not new:
            self.stats["cluster/duplicates"] += 1        # done twice: stored once
            return
        if message.get("dead"):
            self.stats["cluster/dead"] += 1
            logger.error("job %s was dead-lettered: %s", job_ids[0], message["dead"])
            return
        if len(new) < len(job_ids):
            # a crawl's jobs taken again in another grouping: the rest is stored, whole
            self.stats["cluster/partly_duplicates"] += 1
        for raw in message.get("items", []):
            self._handle(item_in(raw))
        for key, value in (message.get("stats") or {}).items():
            if isinstance(value, int):
                self.crawl_stats[str(key)] += value
        for job_id in new:
            conn.execute("INSERT INTO cluster_jobs (job_id, run_id, worker, stored_at)"
                         " VALUES (?, ?, ?, ?)",
                         (job_id, self.run_id, str(message.get("worker")), iso(utcnow())))
        self.stats["cluster/jobs"] += len(new)

    def _commit(self) -> None:
        super()._commit()
        if not self._in_txn and (self._acks or self._records):
            acks, records = self._acks, self._records
            self._acks, self._records = [], []
            self.on_stored(acks, records)
