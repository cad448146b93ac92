"""The archive extension: owns the crawl's ArchiveWriter (archive.writer.client) for the recorder
and
the
catalogue pipeline, starts it as soon as the crawler is made (its process starts while Scrapy
sets itself up) and closes it last, then writes the stats."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

import archive
from archive.home import Home
from archive.jobs import WriterSettings
from archive.writer.client import ArchiveWriter, WriterError

logger = logging.getLogger(__name__)


class ArchiveExtension:
    def __init__(self, crawler: Any, writer: ArchiveWriter, stats_file: str | None) -> None:
        self.crawler = crawler
        self.writer = writer
        self.stats_file = stats_file

    @classmethod
    def from_crawler(cls, crawler: Any) -> ArchiveExtension:
        settings = crawler.settings
        home = settings.get("ARCHIVE_HOME")
        if not home:
            raise NotConfigured("ARCHIVE_HOME is not set")
        warcinfo = {
            "software": f"memoryhole/{archive.__version__} (Scrapy, warc writer of its own)",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/"
                          "warc-format/warc-1.1/",
            "home": str(home),
            "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
            "http-header-user-agent": settings.get("USER_AGENT"),
        }
        if settings.get("ARCHIVE_OPERATOR"):
            warcinfo["operator"] = settings.get("ARCHIVE_OPERATOR")
        writer_settings = WriterSettings(
            collection=settings.get("ARCHIVE_COLLECTION"),
            max_bytes=settings.getint("ARCHIVE_WARC_MAX_BYTES"),
            warcinfo=warcinfo,
            compression=settings.get("ARCHIVE_COMPRESSION"),
            extract=settings.get("ARCHIVE_EXTRACT"),
            queue_bytes=settings.getint("ARCHIVE_QUEUE_MAX_BYTES"),
            recheck_offsets=tuple(settings.getlist("ARCHIVE_RECHECK_OFFSETS")),
            confirm_checks=settings.getint("ARCHIVE_CONFIRM_CHECKS"),
            confirm_after=settings.get("ARCHIVE_CONFIRM_AFTER"),
            log_file=settings.get("LOG_FILE"),
            log_level=settings.get("LOG_LEVEL"),
            control_name=settings.get("ARCHIVE_CONTROL_NAME"),
            story_threshold=settings.getfloat("ARCHIVE_STORY_THRESHOLD"),
        )
        run_id = settings.get("ARCHIVE_RUN_ID")
        writer: Any
        if settings.get("CLUSTER_WORKER_NAME"):       # a worker: no catalogue, results out
            from archive.cluster.sink import WorkerSink

            writer = WorkerSink(Home(Path(home)), writer_settings,
                                settings.get("CLUSTER_WORKER_NAME"))
        else:
            writer = ArchiveWriter(Home(Path(home)), writer_settings,
                                   int(run_id) if run_id is not None else None)
        ext = cls(crawler, writer, settings.get("ARCHIVE_STATS_FILE"))
        # crawlers.runner launches the writer process before it imports Scrapy
        writer.start(getattr(crawler, "writer_process", None))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any) -> None:
        logger.info("archiving into %s (collection %s)", self.writer.home.root,
                    self.writer.settings.collection)

    def spider_closed(self, spider: Any, reason: str) -> None:
        stats = self.crawler.stats
        try:
            for key, value in self.writer.close().items():
                stats.set_value(f"archive/{key}", value)
        except WriterError as exc:
            logger.error("%s", exc)
            stats.set_value("archive/failed", str(exc))
        if self.stats_file:
            data = {key: _jsonable(value) for key, value in stats.get_stats().items()}
            data["finish_reason"] = reason
            Path(self.stats_file).write_text(json.dumps(data, indent=1, sort_keys=True))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)
