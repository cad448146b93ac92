"""Jobs lost from the jobs stream are put on it again. A Redis that restarts has only what its
append-only file kept (with ``appendfsync everysec`` up to a second is lost), so a job added just
before a crash may be gone, and its run would wait for it forever.

:class:`Requeue` keeps the stream entry of each job of a run (from its XADD). Every
:data:`CHECK_EVERY` seconds the owner asks, in one pipeline of ``XRANGE id id`` per outstanding job
(cheap: a lookup each, in chunks of :data:`CHUNK`), whether those entries are still there. A job
whose entry is missing on two checks in a row is added again, with a new entry. It takes two
checks because a worker that dead-letters a job deletes the entry right after sending the job's
result, and the owner may not have read that result yet. A job that was done after all is done
twice and stored once (the ``cluster_jobs`` table). The run's hash is written again if it was
lost too, so the workers serve the run.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from archive.cluster import codec
from archive.cluster.keys import Keys, ensure_groups, text

logger = logging.getLogger(__name__)

CHECK_EVERY = 5.0        # seconds between two looks at the outstanding jobs' entries
CHUNK = 1000             # XRANGEs per pipeline


class Requeue:
    """The stream entries of one run's jobs. Not thread-safe: the owner's results thread alone
    calls :meth:`check` (after :meth:`add` put the run's jobs on the stream)."""

    def __init__(self, client: Any, keys: Keys, run_fields: dict[str, Any]) -> None:
        self.client, self.keys, self.run_fields = client, keys, run_fields
        self.entries: dict[str, str] = {}          # job id -> its entry on the jobs stream
        self.jobs: dict[str, dict[str, Any]] = {}
        self.missing: set[str] = set()             # job ids whose entries the last check missed
        self.requeued = 0
        self.next_check = time.monotonic() + CHECK_EVERY

    def add(self, jobs: list[dict[str, Any]]) -> None:
        """Put ``jobs`` on the jobs stream (one pipeline) and keep their entries' ids."""
        pipe = self.client.pipeline(transaction=False)
        for job in jobs:
            pipe.xadd(self.keys.jobs, {"job": codec.dumps(job)})
        for job, entry in zip(jobs, pipe.execute(), strict=True):
            self.entries[str(job["id"])] = text(entry)
            self.jobs[str(job["id"])] = job

    def check(self, outstanding: set[str]) -> int:
        """When :data:`CHECK_EVERY` seconds have passed since the last look: the jobs of
        ``outstanding`` (no result yet) whose entries two looks in a row missed go on the
        stream again; how many. Redis errors are raised (the next call tries again)."""
        if time.monotonic() < self.next_check:
            return 0
        self.next_check = time.monotonic() + CHECK_EVERY
        waiting = [job_id for job_id in outstanding if job_id in self.entries]
        gone: set[str] = set()
        run = None
        for start in range(0, max(1, len(waiting)), CHUNK):
            chunk = waiting[start:start + CHUNK]
            pipe = self.client.pipeline(transaction=False)
            if start == 0:
                pipe.hget(self.keys.run, "run")
            for job_id in chunk:
                entry = self.entries[job_id]
                pipe.xrange(self.keys.jobs, min=entry, max=entry, count=1)
            found = pipe.execute()
            if start == 0:
                run, found = found[0], found[1:]
            gone.update(job_id for job_id, hit in zip(chunk, found, strict=True) if not hit)
        if run is None or text(run) != str(self.run_fields["run"]):
            logger.warning("the run's entry on Redis was lost (a Redis restart?): written again")
            self.client.hset(self.keys.run, mapping=self.run_fields)
        lost = sorted(gone & self.missing)
        if lost:
            ensure_groups(self.client, self.keys)   # a stream lost whole lost its group too
            self.add([self.jobs[job_id] for job_id in lost])
            self.requeued += len(lost)
            logger.warning("%d job(s) were lost from the jobs stream (a Redis restart?) and are "
                           "on it again: %s", len(lost), ", ".join(lost[:5])
                           + (", ..." if len(lost) > 5 else ""))
        self.missing = gone - set(lost)
        return len(lost)
