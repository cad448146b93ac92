"""The crawl process: ``python -m crawlers.runner JOB.json``.

Scrapy's reactor cannot be restarted in one process, so every crawl runs here, in a process of
its own started by crawlers.launch. The job file carries the settings and the sources.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.procexit import exit_at_once
from archive.writer.client import launch_writer

if TYPE_CHECKING:
    from scrapy.crawler import Crawler, CrawlerProcess
    from scrapy.settings import Settings


def offline_public_suffixes() -> None:
    """Scrapy's cookie middleware asks tldextract, which downloads the public suffix list on first
    use: a live request nobody asked for. Use the list tldextract ships instead."""
    from scrapy.downloadermiddlewares import cookies
    from tldextract import TLDExtract

    if hasattr(cookies, "_split_domain"):
        cookies._split_domain = TLDExtract(suffix_list_urls=(), include_psl_private_domains=True)


PR_SET_PDEATHSIG = 1          # prctl(2), Linux


def stop_with_parent() -> None:
    """Get SIGTERM (Scrapy's clean shutdown, which closes the WARC) when the ``memoryhole``
    process that started this one dies, so a killed command leaves no crawl running."""
    parent = os.environ.get("MEMORYHOLE_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    # the process's own symbols include libc's (find_library would run `ldconfig -p`)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):          # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def skip_filtered_log_records(level: str | int) -> None:
    """Scrapy filters by ``LOG_LEVEL`` in its root handler only, and sets the ``scrapy`` logger to
    DEBUG and the root logger to NOTSET, so every ``logger.debug()`` of a crawl (several per
    page) still builds a record, with a stack walk, that the handler then drops: about 5% of a
    crawl's CPU. With both loggers at ``LOG_LEVEL`` those records are never made; what reaches
    the log is the same."""
    for name in ("", "scrapy"):
        logging.getLogger(name).setLevel(level)


def trust(settings: Settings, folder: Path) -> None:
    """``SAFETY_CA_FILE``'s anchors for every client of this crawl (crawlers.tls): OpenSSL's
    (Scrapy, the fast path) and, when pages render in the browser, Chromium's."""
    from crawlers.tls import chromium_trust, install_trust_bundle

    ca_file = settings.get("SAFETY_CA_FILE")
    install_trust_bundle(ca_file, folder)
    if settings.getbool("BROWSER_ENABLED"):
        options = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
        options["env"] = {**os.environ, **chromium_trust(ca_file, folder / "chromium")}
        settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", options, priority="cmdline")


def build(job: dict[str, Any], writer_process: subprocess.Popen[bytes] | None = None,
          folder: Path | None = None) -> tuple[CrawlerProcess, Crawler]:
    """The crawl process and the crawler for ``job``, ready to ``start()``; ``writer_process``
    (from :func:`archive.writer.client.launch_writer`) is the archive writer the crawl opens;
    ``folder`` is where the crawl may keep files (the job's own folder)."""
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from crawlers import settings as project_settings

    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    settings.update(job["settings"], priority="cmdline")
    off = {scheme: None for scheme in project_settings.DOWNLOAD_HANDLERS}
    settings.set("DOWNLOAD_HANDLERS", {**settings.getdict("DOWNLOAD_HANDLERS"), **off},
                 priority="cmdline")
    if settings.get("SAFETY_CA_FILE"):
        trust(settings, folder or Path(tempfile.mkdtemp(prefix="memoryhole-trust-")))
    # the spider class is chosen here: Scrapy's spider loader need not import every spider
    settings.set("SPIDER_MODULES", [], priority="cmdline")
    process = CrawlerProcess(settings)
    if job.get("spider") == "worker":
        from crawlers.spiders.worker import WorkerSpider

        crawler = process.create_crawler(WorkerSpider)
        process.crawl(crawler, cluster=job["cluster"])
    elif job.get("spider") == "recheck":
        from crawlers.spiders.recheck import RecheckSpider

        crawler = process.create_crawler(RecheckSpider)
        crawler.writer_process = writer_process           # see ArchiveExtension.from_crawler
        process.crawl(crawler, selection=job.get("selection", {}),
                      source_offsets=job.get("source_offsets", {}),
                      vantages=job.get("vantages", {}),
                      source_vantages=job.get("source_vantages", {}),
                      control_vantage=job.get("control_vantage"))
    else:
        from crawlers.spiders.news import NewsSpider

        crawler = process.create_crawler(NewsSpider)
        crawler.writer_process = writer_process
        process.crawl(crawler, sources=job.get("sources", []), urls=job.get("urls", []),
                      extra_source=job.get("extra_source"))
    skip_filtered_log_records(crawler.settings.get("LOG_LEVEL"))   # after Scrapy's own set-up
    return process, crawler


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m crawlers.runner JOB.json", file=sys.stderr)
        return 2
    stop_with_parent()
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    # the writer's own start-up (its imports) runs beside Scrapy's, on the other core
    writer = launch_writer() if job["settings"].get("ARCHIVE_HOME") and \
        not job["settings"].get("CLUSTER_WORKER_NAME") else None
    try:
        offline_public_suffixes()
        process, crawler = build(job, writer, Path(argv[0]).parent)
        process.start()
    finally:
        if writer is not None and writer.poll() is None and writer.stdin is not None:
            writer.stdin.close()        # never opened (the crawl failed to start): it exits
            writer.wait()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    return 1 if stats.get("archive/failed") else 0


if __name__ == "__main__":
    exit_at_once(main(sys.argv[1:]))
