"""Jobs and results as JSON (never pickle: a Redis server is shared ground, and a pickle from it
would run code). Bytes travel as base64 in one place only, a page's decoded body, and only up to
:data:`MAX_BODY` bytes (else the owner reads it back from the worker's WARC record); datetimes as
ISO-8601 with their offset.

A job: ``{"v", "run", "id", "kind", ...}``; a ``check`` job carries the watched URL's row (from
archive.catalogue.due) and ``last``, the URL's last full capture (uri, date, digest), so that a
worker can write a revisit record without the catalogue. A crawl's jobs (archive.cluster.frontier)
are ``source`` (``source``: a source's job dict with some of its URLs) and ``pages`` (``pages``:
``[url, source]`` pairs). A result: ``{"v", "run", "job", "msg", "worker", "items", "dead"}``, its
items ``written`` (a response or revisit record the worker wrote), ``resource``, ``page``, ``list``
and ``check``, in the order the worker made them; a crawl's result answers for several jobs at once
(``jobs``, ``[job id, stream id]`` pairs, in place of ``job`` and ``msg``) and adds ``discovered``
(the ``[url, source]`` pages its feeds and sitemaps listed, for the owner to hand out) and ``stats``
(the worker's crawl counters for those jobs).
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from archive.jobs import CheckJob, ListedItem, ListJob, PageJob, PageText
from archive.warc.records import RecordLocation, RevisitOf, WrittenRecord

VERSION = 1
MAX_BODY = 1024 * 1024       # a page body sent along with its result, at most (bytes)


class BadMessage(ValueError):
    """Not a job or result this version reads."""


def dumps(message: dict[str, Any]) -> str:
    return json.dumps({"v": VERSION, **message}, ensure_ascii=False, separators=(",", ":"))


def loads(data: bytes | str) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("v") != VERSION:
        raise BadMessage("not a memoryhole cluster message of this version")
    return message


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def revisit_hint(last: dict[str, Any] | None) -> dict[str, Any] | None:
    """A check job's ``last`` from PageRecorder.last_full_capture's row."""
    if last is None:
        return None
    return {"uri": last["fetched_url"], "date": _dt(last["captured_at_dt"]),
            "digest": last["payload_digest"]}


def revisit_of(hint: dict[str, Any] | None, profile: str) -> RevisitOf | None:
    if not hint or not hint.get("digest"):
        return None
    return RevisitOf(target_uri=hint["uri"], target_date=_parse_dt(hint["date"]),
                     payload_digest=hint["digest"], profile=profile)


def record_out(rec: WrittenRecord) -> dict[str, Any]:
    loc = rec.location
    return {"id": rec.record_id, "type": rec.record_type, "url": rec.url, "date": _dt(rec.date),
            "file": loc.filename, "offset": loc.offset, "length": loc.length,
            "digest": rec.payload_digest, "status": rec.status, "mime": rec.mime,
            "vantage": rec.vantage}


def record_in(d: dict[str, Any]) -> WrittenRecord:
    return WrittenRecord(record_id=d["id"], record_type=d["type"], url=d["url"],
                         date=_parse_dt(d["date"]),
                         location=RecordLocation(d["file"], int(d["offset"]), int(d["length"])),
                         payload_digest=d["digest"], status=d["status"], mime=d["mime"],
                         vantage=d.get("vantage"))


def page_out(job: PageJob) -> dict[str, Any]:
    out = asdict(job)
    body = job.body
    out["body"] = base64.b64encode(body).decode("ascii") \
        if body is not None and len(body) <= MAX_BODY else None
    if job.page is not None and job.page.requisites is not None:
        out["page"]["requisites"] = list(job.page.requisites)
    return out


def page_in(d: dict[str, Any]) -> PageJob:
    d = dict(d)
    if d.get("body") is not None:
        d["body"] = base64.b64decode(d["body"])
    if d.get("page") is not None:
        page = dict(d["page"])
        if page.get("requisites") is not None:
            page["requisites"] = tuple(page["requisites"])
        d["page"] = PageText(**page)
    return PageJob(**d)


def check_out(job: CheckJob) -> dict[str, Any]:
    out = {k: v for k, v in asdict(job).items() if k != "page"}
    out["checked_at"] = _dt(job.checked_at)
    out["offsets"] = list(job.offsets) if job.offsets else None
    out["page"] = page_out(job.page) if job.page is not None else None
    return out


def check_in(d: dict[str, Any]) -> CheckJob:
    d = dict(d)
    d["checked_at"] = _parse_dt(d["checked_at"])
    d["offsets"] = tuple(d["offsets"]) if d.get("offsets") else None
    d["page"] = page_in(d["page"]) if d.get("page") is not None else None
    return CheckJob(**d)


def list_out(job: ListJob) -> dict[str, Any]:
    out = asdict(job)
    out["seen_seqs"] = sorted(job.seen_seqs)
    return out


def list_in(d: dict[str, Any]) -> ListJob:
    d = dict(d)
    d["items"] = tuple(ListedItem(**item) for item in d["items"])
    d["covers"] = tuple(d["covers"]) if d.get("covers") is not None else None
    d["seen_seqs"] = frozenset(d.get("seen_seqs") or ())
    return ListJob(**d)


def result_jobs(message: dict[str, Any]) -> list[tuple[str, Any]]:
    """The (job id, stream id) pairs a result answers for."""
    if message.get("jobs"):
        return [(str(job), msg) for job, msg in message["jobs"]]
    return [(str(message.get("job")), message.get("msg"))]


def item_in(item: dict[str, Any]) -> tuple[Any, ...]:
    """A result's item as the tuple archive.cluster.ingest handles."""
    kind = item.get("t")
    if kind == "written":
        return ("written", record_in(item["record"]), item["fetched_url"], item["captured_at"],
                item["status"], item["via"], item.get("cert"))
    if kind == "resource":
        return ("stored_resource", record_in(item["record"]))
    if kind == "page":
        return ("page", page_in(item["job"]))
    if kind == "check":
        return ("check", check_in(item["job"]))
    if kind == "list":
        return ("list", list_in(item["job"]))
    raise BadMessage(f"unknown result item {kind!r}")
