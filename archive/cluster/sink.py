"""A worker's archive: what a ``memoryhole worker`` crawl hands over goes into the worker's own
WARC files (named ``MH-<worker>-...``) in the home's collections folder, and comes out as results
(archive.cluster.codec) for the run's owner, who writes the catalogue. It takes the place of
archive.writer.client.ArchiveWriter in the worker's crawl (same ``submit_*`` calls), in the crawl
process itself: no catalogue, so no writer process.

A revisit needs the URL's earlier capture: a job names it (``last``: :meth:`WorkerSink.begin` for a
check, :meth:`WorkerSink.begin_crawl` for a crawl's job); a 304 or an unchanged payload of that URL
is written as a revisit of it, any other answer (and a requisite's) as a full response record (the
owner's catalogue may know an older identical payload: the record is then a full copy where a local
run writes a revisit; it is never wrong, only bigger).

The text work is done here (fast text, and the story signature that the owner's writer would
otherwise make: archive.writer.stories), so the owner only stores. A result leaves only after
:meth:`sync` made its records durable (the spider calls :meth:`ready` for them).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from archive.cluster import codec
from archive.home import Home
from archive.jobs import CheckJob, ListJob, PageJob, WriterSettings
from archive.text.extract import fast_page_text
from archive.text.minhash import Signer, to_bytes
from archive.timeutil import iso
from archive.warc.http_message import HttpExchange
from archive.warc.records import NOT_MODIFIED_PROFILE, REVISIT_PROFILE, certificate_sha256
from archive.warc.writer import RotatingWarcWriter

logger = logging.getLogger(__name__)


class WorkerSink:
    def __init__(self, home: Home, settings: WriterSettings, worker: str) -> None:
        self.home = home
        self.settings = settings
        self.worker = worker
        self.stats: Counter[str] = Counter()
        self.on_requisites: Callable[[str, list[str]], None] | None = None
        self.failed = False
        self.pid = None
        self._writer: RotatingWarcWriter | None = None
        self._jobs: dict[Any, list[dict[str, Any]]] = {}    # url id -> jobs taken
        self._hints: dict[str, dict[str, Any] | None] = {}  # URL -> its last full capture
        self._loose: list[dict[str, Any]] = []   # items not yet part of a result
        self.outbox: list[dict[str, Any]] = []   # results whose records are not synced yet
        self.on_close: Callable[[list[dict[str, Any]]], None] | None = None
        self._signer = Signer()

    # -- the job side (the worker spider) ------------------------------------------------------
    def begin(self, key: Any, job: dict[str, Any], msg_id: str) -> None:
        """A job taken: its results are the items up to the check of URL id ``key``."""
        self._jobs.setdefault(key, []).append({"job": job["id"], "msg": msg_id,
                                               "run": job["run"]})
        self._hints[job["row"]["url"]] = job.get("last")

    def begin_crawl(self, job: dict[str, Any]) -> None:
        """A crawl's job taken: its ``last`` (URL -> its last full capture) lets an unchanged
        page be written as a revisit."""
        self._hints.update(job.get("last") or {})

    def ready(self) -> list[dict[str, Any]]:
        """The results to send now: their records are made durable first."""
        if not self.outbox:
            return []
        self.sync()
        out, self.outbox = self.outbox, []
        return out

    def sync(self) -> None:
        if self._writer is not None:
            self._writer.sync()

    def close_file(self) -> None:
        """Close the WARC file being written (renamed, so a replay finds it); the next record
        opens another."""
        if self._writer is not None and self._writer.current_path is not None:
            self._writer.close()

    # -- ArchiveWriter's calls ------------------------------------------------------------------
    def start(self, process: Any = None) -> None:
        self.home.ensure(self.settings.collection)
        self._writer = RotatingWarcWriter(
            self.home.archive_dir(self.settings.collection), max_bytes=self.settings.max_bytes,
            warcinfo={**self.settings.warcinfo, "memoryhole-worker": self.worker},
            prefix=f"MH-{self.worker}", compression=self.settings.compression)

    def submit_exchange(self, ex: HttpExchange, *, via: str = "http") -> str:
        assert self._writer is not None
        digest = None if ex.status == 304 else RotatingWarcWriter.payload_digest(ex.body)
        hint = self._hints.get(ex.url)
        revisit = None
        if ex.status == 304:
            revisit = codec.revisit_of(hint, NOT_MODIFIED_PROFILE)
        elif ex.body and not ex.truncated and hint and hint.get("digest") == digest:
            revisit = codec.revisit_of(hint, REVISIT_PROFILE)
        response, _request = self._writer.write_exchange(ex, revisit_of=revisit,
                                                         payload_digest=digest)
        self.stats["responses"] += 1
        self.stats["revisits" if revisit else "records"] += 1
        self._loose.append({"t": "written", "record": codec.record_out(response),
                            "fetched_url": ex.url, "captured_at": iso(ex.date),
                            "status": ex.status, "via": via,
                            "cert": certificate_sha256(ex.peer_certificates)})
        return response.record_id

    def submit_page(self, job: PageJob) -> None:
        """A page, its fast text extracted here; asked for its requisites (``requisites_limit``,
        as of the archive writer), it answers through ``on_requisites`` as the writer does."""
        job = self._with_text(job)
        self._loose.append({"t": "page", "job": codec.page_out(job)})
        if job.requisites_limit and self.on_requisites is not None:
            self.on_requisites(job.url, list(job.page.requisites or ()))

    def submit_list(self, job: ListJob) -> None:
        self._loose.append({"t": "list", "job": codec.list_out(job)})

    def submit_check(self, job: CheckJob) -> None:
        if job.page is not None:
            job = replace(job, page=self._with_text(job.page))
        self._loose.append({"t": "check", "job": codec.check_out(job)})
        taken = self._jobs.get(job.url_id)
        if not taken:
            logger.warning("a check of %s that no job asked for", job.url)
            return
        entry = taken.pop(0)
        if not taken:
            del self._jobs[job.url_id]
        self._hints.pop(job.url, None)
        items, self._loose = self._loose, []
        self.outbox.append({**entry, "worker": self.worker, "items": items, "dead": None})
        self.stats["jobs"] += 1

    def end_batch(self, batch: list[tuple[str, dict[str, Any]]], discovered: list[Any],
                  stats: dict[str, int]) -> None:
        """A crawl's jobs done together (``batch``: (stream id, job) pairs of one run): one
        result answers for all of them, with every item made since the last result."""
        items, self._loose = self._loose, []
        for _msg, job in batch:
            for url in job.get("last") or ():
                self._hints.pop(url, None)
        self.outbox.append({"run": batch[0][1]["run"],
                            "jobs": [[job["id"], msg] for msg, job in batch],
                            "worker": self.worker, "items": items, "dead": None,
                            "discovered": discovered, "stats": stats})
        self.stats["jobs"] += len(batch)

    def submit_resource(self, uri: str, content_type: str, data: bytes, date: datetime,
                        concurrent_to: str | None = None, vantage: str | None = None,
                        vantage_is_control: bool = False) -> None:
        assert self._writer is not None
        record = self._writer.write_resource(uri, content_type, data, date,
                                             concurrent_to=concurrent_to, vantage=vantage,
                                             vantage_is_control=vantage_is_control)
        self._loose.append({"t": "resource", "record": codec.record_out(record)})

    def backlog(self) -> int:
        return 0

    def wait_failed(self, timeout: float) -> bool:
        return False

    def close(self) -> Counter[str]:
        """Close the WARC file; results not sent yet go out through ``on_close``."""
        if self._writer is not None:
            self._writer.close()
        if self.outbox and self.on_close is not None:
            out, self.outbox = self.outbox, []
            self.on_close(out)
        return self.stats

    def _with_text(self, job: PageJob) -> PageJob:
        """The page with its fast text and the text's story signature (made here, where the
        work scales with the workers, not in the run's owner)."""
        page = job.page
        if page is None:
            page = fast_page_text(
                job.body, job.content_type,
                requisites_of=job.url if job.requisites_limit else None,
                requisites_limit=job.requisites_limit)
        if page.signature is None:
            signature = self._signer.sign(page.text)
            page = replace(page, signature=to_bytes(signature).hex()
                           if signature is not None else "")
        return replace(job, page=page)
