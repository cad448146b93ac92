"""Start a crawl: a ``runs`` row, a Scrapy process of its own, progress, and the result.

Used by the CLI and the scheduler. The crawl process (crawlers.runner) writes WARCs and catalogue
rows itself; this side only prepares the job, relays progress and records the run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archive.catalogue import db as catalogue
from archive.catalogue.due import CANARIES
from archive.config import Config
from archive.detect.run import REASONS as DEGRADED_REASONS
from archive.home import Home
from archive.lock import run_lock_fds
from archive.seeds import Source
from archive.timeutil import iso, utcnow
from archive.urlnorm import canonical_url, domain_of

logger = logging.getLogger(__name__)

MB = 1024 * 1024
ProgressCallback = Callable[[dict[str, int]], None]


@dataclass
class CrawlResult:
    run_id: int
    returncode: int
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    log_path: Path | None = None

    def count(self, key: str) -> int:
        return int(self.stats.get(key, 0) or 0)

    @property
    def pages(self) -> int:
        return self.count("memoryhole/pages")

    @property
    def new_captures(self) -> int:
        return self.count("archive/records")

    @property
    def revisits(self) -> int:
        return self.count("archive/revisits")

    @property
    def changed(self) -> int:
        return self.count("archive/changed")

    @property
    def errors(self) -> int:
        """Failed fetches, spider errors (a feed that breaks the parser) and a failed archive."""
        spider_errors = sum(int(v) for k, v in self.stats.items()
                            if k.startswith("spider_exceptions/") and str(v).isdigit())
        return self.count("memoryhole/fetch_errors") + spider_errors + (1 if self.failed else 0)

    @property
    def failed(self) -> bool:
        return self.returncode != 0 or bool(self.stats.get("archive/failed"))

    def summary(self) -> str:
        return (f"pages {self.pages}, new captures {self.new_captures}, revisits "
                f"{self.revisits}, changed {self.changed}, errors {self.errors}, "
                f"{self.seconds:.1f} s")

    def check_summary(self) -> str:
        c = self.count
        text = (f"checked {c('archive/checks')}: alive {c('archive/checks/alive')}, changed "
                f"{c('archive/checks/changed')}, missing {c('archive/checks/missing')}, blocked "
                f"{c('archive/checks/blocked')}, transient {c('archive/checks/transient')}; "
                f"deletions confirmed {c('archive/deletions')}, restored {c('archive/restored')}")
        if c("archive/degraded"):
            why = "; ".join(text for key, text in DEGRADED_REASONS.items()
                            if c(f"archive/degraded/{key}"))
            text += (f"; DEGRADED run ({why}): nothing confirmed, its checks count as "
                     f"transient, {c('archive/deletions_withheld')} deletion(s) left for a "
                     "healthy run")
        return text + f", {self.seconds:.1f} s"

    @property
    def archive_failure(self) -> str | None:
        """The archive writer's one line when it broke the run (it names the fix), else None."""
        failure = self.stats.get("archive/failed")
        return str(failure) if failure else None

    def failure_line(self, what: str) -> str:
        """The line a failed run ends with: the archive's own when it broke the run."""
        if self.archive_failure:
            return f"{self.archive_failure} (log: {self.log_path})"
        return f"the {what} failed; see {self.log_path}"

    def error_lines(self, limit: int = 20) -> list[str]:
        """The crawl log's failed fetches and errors, for the report: each once, and not the
        echoes of an archive failure (:meth:`failure_line` gives that one)."""
        if self.log_path is None or not self.log_path.exists():
            return []
        found: list[str] = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if "fetch failed:" not in line and " ERROR: " not in line and "refused " not in line:
                continue
            text = line.split("] ", 1)[-1].rstrip()
            if self.archive_failure and ("archive writer failed" in text
                                         or "not archived: " in text):
                continue
            if text not in found:
                found.append(text)
        return found[:limit]


def crawl_settings(home: Home, config: Config) -> dict[str, Any]:
    """Scrapy settings for ``memoryhole.toml``'s values."""
    crawl = config.crawl
    max_bytes = int(crawl.max_response_mb * MB)
    return {
        "ARCHIVE_HOME": str(home.root),
        "ARCHIVE_COLLECTION": config.collection,
        "ARCHIVE_CONFIRM_AFTER": config.recheck.confirm_after,
        "ARCHIVE_CONFIRM_CHECKS": config.recheck.confirm_checks,
        "ARCHIVE_EXTRACT": crawl.extract,
        "ARCHIVE_OPERATOR": config.operator,
        "ARCHIVE_RECHECK_OFFSETS": list(config.recheck.offsets),
        "ARCHIVE_STORY_THRESHOLD": config.story_threshold,
        "ARCHIVE_WARC_MAX_BYTES": int(crawl.warc_max_mb * MB),
        "ARCHIVE_COMPRESSION": crawl.warc_compression,
        "ARCHIVE_QUEUE_MAX_BYTES": int(crawl.writer_queue_mb * MB),
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "CONCURRENT_REQUESTS": crawl.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.per_domain,
        "DOWNLOAD_DELAY": crawl.delay,
        "DOWNLOAD_MAXSIZE": max_bytes,
        "DOWNLOAD_WARNSIZE": min(max_bytes, 16 * MB),
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "FASTPATH_PAGES": crawl.fast_pages,
        "NEWS_FEED_MAX_ITEMS": crawl.feed_max_items,
        "NEWS_SITEMAP_MAX_DEPTH": crawl.sitemap_max_depth,
        "NEWS_SITEMAP_MAX_FOLLOWED": crawl.sitemap_max_followed,
        "NEWS_SITEMAP_MAX_ITEMS": crawl.sitemap_max_items,
        "RECHECK_FAST_304": config.recheck.fast_304,
        "REQUISITES_ENABLED": crawl.requisites,
        "REQUISITES_MAX_PER_PAGE": crawl.requisites_max,
        "REQUISITES_REFRESH": crawl.requisites_refresh,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "SAFETY_ALLOW_PRIVATE_ADDRESSES": crawl.allow_private_addresses,
        "SAFETY_CA_FILE": crawl.ca_file,
        "USER_AGENT": crawl.user_agent,
    }


def rendering_settings(config: Config, sources: list[Source], *,
                       needed: bool = False) -> dict[str, Any]:
    """scrapy-playwright's settings when a source renders in the browser (or ``needed``); else
    none (raises crawlers.browser.chromium.BrowserMissing when there is no Chromium)."""
    if not needed and not any(source.render == "browser" for source in sources):
        return {}
    from crawlers.browser.chromium import browser_settings, find_certutil, find_chromium

    if config.crawl.ca_file:
        find_certutil()
    b = config.browser
    return {**browser_settings(find_chromium(b.executable), timeout_s=b.timeout,
                               concurrency=b.concurrency), "BROWSER_WAIT_UNTIL": b.wait_until}


def register_sources(db: Any, sources: list[Source]) -> None:
    now = iso(utcnow())
    with catalogue.immediate(db):
        for source in sources:
            existing = db.execute("SELECT id FROM sources WHERE name = ?",
                                  (source.name,)).fetchone()
            row = {
                "name": source.name, "kind": source.kind, "url": source.url,
                "platform": source.platform, "schedule": source.schedule,
                "render": source.render, "tags": json.dumps(list(source.tags)),
                "config": json.dumps(asdict(source), default=str), "updated_at": now,
            }
            if existing:
                db["sources"].update(existing[0], row)
            else:
                db["sources"].insert({**row, "created_at": now})


def run_crawl(
    home: Home,
    config: Config,
    sources: list[Source],
    urls: list[str] | None = None,
    *,
    extra_source: str | None = None,
    on_progress: ProgressCallback | None = None,
    extra_settings: dict[str, Any] | None = None,
    kind: str = "crawl",
    job_extra: dict[str, Any] | None = None,
) -> CrawlResult:
    """Crawl ``sources`` and ``urls`` into ``home`` in a Scrapy process of its own
    (``job_extra`` selects another spider: see :func:`run_recheck`)."""
    browser = rendering_settings(config, sources)      # BrowserMissing before anything starts
    home.ensure(config.collection)
    db = catalogue.open_catalogue(home.db_path)
    register_sources(db, sources)
    started = utcnow()
    with catalogue.immediate(db):
        run_id = db["runs"].insert({"kind": kind, "started_at": iso(started),
                                    "status": "running", "pid": os.getpid()}).last_pk
    logs = home.root / "logs"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"{kind}-{run_id}.log"
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="memoryhole-job-") as tmp:
        stats_file = Path(tmp) / "stats.json"
        settings = {
            **crawl_settings(home, config),
            "ARCHIVE_RUN_ID": run_id,
            "ARCHIVE_STATS_FILE": str(stats_file),
            "PROGRESS_ENABLED": True,
            "LOG_FILE": str(log_path),
            "LOG_LEVEL": "INFO",
            **browser,
            **(extra_settings or {}),
        }
        job = {
            "settings": settings,
            "sources": [_source_job(s) for s in sources],
            "urls": list(urls or []),
            "extra_source": extra_source,
            **(job_extra or {}),
        }
        here = local_reason(config, browser)
        if config.cluster.redis and here is not None:
            logger.warning("this %s runs here, not on the cluster's workers: %s", kind, here)
        if config.cluster.redis and here is None:      # on `memoryhole worker`s (archive.cluster)
            from archive.cluster.owner import run_owner

            returncode, stats = run_owner(home, config, job, run_id, on_progress=on_progress)
        else:
            job_file = Path(tmp) / "job.json"
            job_file.write_text(json.dumps(job), encoding="utf-8")
            returncode = _run_process(job_file, on_progress)
            stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    result = CrawlResult(run_id=run_id, returncode=returncode,
                         seconds=time.monotonic() - began, stats=stats, log_path=log_path)
    with catalogue.immediate(db):
        db["runs"].update(run_id, {
            "finished_at": iso(utcnow()),
            "status": "failed" if result.failed else "finished",
            "stats": json.dumps(stats, sort_keys=True),
            "detail": result.check_summary() if kind == "recheck" else result.summary(),
            "degraded": int(bool(stats.get("archive/degraded"))),
        })
    db.conn.close()
    return result


def local_reason(config: Config, browser: dict[str, Any]) -> str | None:
    """Why a run stays here though ``[cluster] redis`` is set (None: it goes to the workers):
    workers have no browser and no vantage proxies, and a run without them misses evidence."""
    if browser:
        return "a source renders its pages in the browser"
    if config.vantages:
        return "[[vantage]]s are configured (their checks go out from here)"
    return None


def _source_job(source: Source) -> dict[str, Any]:
    return {"name": source.name, "kind": source.kind, "urls": list(source.urls),
            "platform": source.platform, "render": source.render,
            "max_items": source.max_items, "max_pages": source.max_pages,
            "comment_pages": source.comment_pages}


def _run_process(job_file: Path, on_progress: ProgressCallback | None) -> int:
    command = [sys.executable, "-P", "-m", "crawlers.runner", str(job_file)]
    env = dict(os.environ)
    env["MEMORYHOLE_PARENT_PID"] = str(os.getpid())
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH")) if p)
    # the crawl process keeps the run lock held until it is gone (archive.lock)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               env=env, text=True, pass_fds=run_lock_fds())
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if on_progress is None or not line.startswith("{"):
                continue
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if "progress" in data:
                on_progress(data["progress"])
        return process.wait()
    except BaseException:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        raise


def run_recheck(
    home: Home,
    config: Config,
    selection: dict[str, Any],
    sources: list[Source] | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    extra_settings: dict[str, Any] | None = None,
) -> CrawlResult:
    """Re-check watched URLs (``selection``: archive.catalogue.due.Selection fields) in a process of
    its own; the result's stats carry ``archive/checks/*`` and ``archive/deletions``."""
    offsets = {s.name: list(s.recheck_offsets) for s in (sources or []) if s.recheck_offsets}
    watch_canaries(home, config.recheck.canaries)
    # pages a browser rendered are re-checked in it when their HTTP answer cannot decide
    browser = rendering_settings(config, sources or [], needed=_has_browser_captures(home))
    control = config.control_vantage
    # through a control vantage, every check goes through Scrapy (and its proxy): the fast
    # path's conditional GETs would go out directly
    through_control = {"ARCHIVE_CONTROL_NAME": config.control_name} | (
        {"RECHECK_FAST_304": False} if control is not None else {})
    return run_crawl(home, config, [], [], on_progress=on_progress, kind="recheck",
                     extra_settings={**browser, **through_control, **(extra_settings or {})},
                     job_extra={"spider": "recheck", "selection": selection,
                                "source_offsets": offsets,
                                # proxy URLs with their credentials: in the job file only,
                                # never in the settings (Scrapy logs those)
                                "control_vantage": {"name": control.name, "proxy": control.proxy}
                                if control is not None else None,
                                "vantages": {v.name: v.proxy for v in config.vantages
                                             if not v.control},
                                "source_vantages": {s.name: list(s.vantages)
                                                    for s in sources or [] if s.vantages}})


def _has_browser_captures(home: Home) -> bool:
    if not home.db_path.exists():
        return False
    db = catalogue.open_existing(home.db_path)
    try:
        # the sources table is small; a browser source's pages are its browser captures
        return db.execute("SELECT 1 FROM sources WHERE render = 'browser' LIMIT 1").fetchone() \
            is not None
    finally:
        db.conn.close()


def watch_canaries(home: Home, urls: tuple[str, ...]) -> None:
    """The config's canaries as watched URLs of the source ``canaries``, due at once when new:
    every re-check run checks them as controls (archive.catalogue.due)."""
    if not urls or not home.db_path.exists():
        return
    db = catalogue.open_catalogue(home.db_path)
    now = iso(utcnow())
    try:
        with catalogue.immediate(db):
            for url in urls:
                key = canonical_url(url)
                db.execute("INSERT OR IGNORE INTO urls (url, domain, source, first_seen_at,"
                           " next_check_at, state) VALUES (?, ?, ?, ?, ?, 'pending')",
                           (key, domain_of(key), CANARIES, now, now))
    finally:
        db.conn.close()


def run_worker(home: Home, config: Config, name: str) -> int:
    """``memoryhole worker``: a crawl process serving the cluster's jobs until stopped (SIGTERM
    or Ctrl-C); returns its exit status. The Redis URL goes in the job file (mode 0600), never in
    the settings, which Scrapy logs."""
    from archive.cluster.keys import config_version, lease_seconds

    home.ensure(config.collection)
    logs = home.root / "logs"
    logs.mkdir(exist_ok=True)
    # the fast path would go around the cluster's per-host slots; one filter for run after run
    settings = {**crawl_settings(home, config), "CLUSTER_WORKER_NAME": name,
                "FASTPATH_PAGES": False, "DUPEFILTER_CLASS": "crawlers.dupefilter.RunDupeFilter",
                "LOG_FILE": str(logs / f"worker-{name}.log"), "LOG_LEVEL": "INFO"}
    cluster = {"redis": config.cluster.redis, "home_id": config.cluster.home_id, "name": name,
               "lease": lease_seconds(config), "max_deliveries": config.cluster.max_deliveries,
               "version": config_version(config)}
    with tempfile.TemporaryDirectory(prefix="memoryhole-worker-") as tmp:
        job_file = Path(tmp) / "job.json"
        job_file.touch(mode=0o600)
        job_file.write_text(json.dumps({"settings": settings, "spider": "worker",
                                        "cluster": cluster}), encoding="utf-8")
        return _run_process(job_file, None)
