"""Load and validate ``memoryhole.toml`` into dataclasses (seed files: archive.seeds).

Validation happens once, at load. A problem raises :class:`archive.config_file.ConfigError` whose
message is one line naming the file, the key (and the line where TOML gives one) and the fix, so the
CLI can print it and exit 2.
"""

from __future__ import annotations

import glob
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archive.config_file import ConfigError, Section, read_toml
from archive.detect.state import DEFAULT_CONFIRM_AFTER, DEFAULT_CONFIRM_CHECKS, DEFAULT_OFFSETS
from archive.jobs import CONTROL, DEFAULT_STORY_THRESHOLD
from archive.urlnorm import is_http_url, without_credentials
from archive.warc.records import COMPRESSIONS

RENDER_MODES = ("http", "browser")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class CrawlConfig:
    user_agent: str = "memoryhole/0.1 (+https://github.com/memoryhole/memoryhole)"
    concurrency: int = 16
    per_domain: int = 4
    max_response_mb: float = 50
    warc_max_mb: float = 1024
    obey_robots: bool = True
    allow_private_addresses: bool = False
    timeout: float = 60
    autothrottle: bool = False
    delay: float = 0.0
    extract: str = "fast"          # fast | trafilatura: which text every capture stores
    warc_compression: str = "fast"   # fast | balanced | small (archive.warc.writer.COMPRESSIONS)
    fast_pages: bool = True        # pages first as fast-path GETs; only plain 200s skip Scrapy
    requisites: bool = True        # fetch each captured page's images, stylesheets, scripts
    requisites_max: int = 50       # at most this many per page (and per stylesheet)
    requisites_refresh: str = "7d"   # a requisite archived more recently is not fetched again
    ca_file: str = ""              # extra trust anchors (PEM); certificates are always verified
    writer_queue_mb: float = 256   # the archive writer reads ahead at most this much; the crawl
                                   # waits beyond (archive.writer.inbox)
    feed_max_items: int = 1000     # entries taken from one feed (a source's max_items overrides)
    sitemap_max_items: int = 1000  # URLs taken from one sitemap (a source's max_items overrides)
    sitemap_max_followed: int = 50   # sitemaps fetched for one source in a run (its indexes)
    sitemap_max_depth: int = 3     # sitemap indexes nested this deep are not followed


@dataclass(frozen=True)
class RecheckConfig:
    offsets: tuple[str, ...] = DEFAULT_OFFSETS
    confirm_checks: int = DEFAULT_CONFIRM_CHECKS
    confirm_after: str = DEFAULT_CONFIRM_AFTER
    domain_budget: int = 1000        # at most this many re-checks of one domain per run
    fast_304: bool = True            # conditional GETs outside Scrapy; only 304s stay there
    canaries: tuple[str, ...] = ()   # URLs that always answer as before: control checks


@dataclass(frozen=True)
class BrowserConfig:
    """Sources with ``render = "browser"`` (crawlers.browser.recorder)."""

    executable: str = ""             # Chromium; default $MEMORYHOLE_CHROMIUM, else the PATH
    timeout: float = 30              # seconds a page may take to load
    concurrency: int = 2             # pages rendered at once (one browser per crawl)
    wait_until: str = "networkidle"  # load | domcontentloaded | networkidle


WAIT_UNTIL = ("load", "domcontentloaded", "networkidle")


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


@dataclass(frozen=True)
class Vantage:
    """A place to re-check from: ``[[vantage]] name, proxy``. The proxy URL may carry
    credentials: show it only as :attr:`shown`."""

    name: str
    proxy: str
    control: bool = False

    @property
    def shown(self) -> str:
        return without_credentials(self.proxy)


@dataclass(frozen=True)
class ClusterConfig:
    """``[cluster]``: Redis Streams workers (archive.cluster); ``redis`` may hold a password."""
    redis: str = ""                  # redis://[:password@]host:port/db; "": no cluster
    home_id: str = "main"            # this home's keys on the server: memoryhole:<home_id>:...
    lease: str = "60s"               # a job a worker holds this long unfinished is another's
    max_deliveries: int = 3          # a job delivered this often unfinished is dead-lettered


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    seeds: tuple[str, ...] = ()
    collection: str = "main"
    operator: str = ""
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    recheck: RecheckConfig = field(default_factory=RecheckConfig)
    browser: BrowserConfig = field(default_factory=BrowserConfig)
    notify_urls: tuple[str, ...] = ()
    notify_blocks: bool = False       # [notify] blocks: announce new blocks at vantage points
    replay_base: str = "http://127.0.0.1:8765"   # where `memoryhole serve` is reached
    vantages: tuple[Vantage, ...] = ()
    story_threshold: float = DEFAULT_STORY_THRESHOLD   # [stories] threshold: copies' similarity
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def vantage(self, name: str) -> Vantage | None:
        return next((v for v in self.vantages if v.name == name), None)

    @property
    def control_vantage(self) -> Vantage | None:
        """The vantage marked ``control = true`` (None: the direct egress is the control)."""
        return next((v for v in self.vantages if v.control), None)

    @property
    def control_name(self) -> str:
        """The control's name in check rows: its vantage's, else ``default``."""
        control = self.control_vantage
        return control.name if control is not None else CONTROL

    def seed_files(self) -> list[Path]:
        """The seed files the ``seeds`` globs name, relative to the config file's folder."""
        base = self.path.parent if self.path else Path.cwd()
        found: list[Path] = []
        for pattern in self.seeds:
            full = pattern if Path(pattern).is_absolute() else str(base / pattern)
            matches = sorted(glob.glob(full))
            if not matches:
                raise ConfigError(f"{self.path}: seeds: {pattern!r} matches no file; fix the "
                                  "glob or remove it")
            found.extend(Path(m) for m in matches)
        return found


def load_config(path: Path | None, *, required: bool = False) -> Config:
    """Load a config file; a missing optional file gives the defaults."""
    if path is None or (not required and not path.exists()):
        return Config(path=path)
    top = Section(path, "", read_toml(path))
    top.check_keys({"seeds", "collection", "operator", "crawl", "recheck", "browser", "notify",
                    "serve", "vantage", "stories", "cluster"})
    seeds = [seeds] if isinstance(seeds := top.get("seeds", (list, str), []), str) else seeds
    collection = top.get("collection", str, "main")
    if not NAME_RE.match(collection):
        top.fail("collection", f"{collection!r} is not a valid name",
                 "use letters, digits, '-', '_' or '.'")
    crawl = Section(path, "crawl.", top.data.get("crawl", {}))
    crawl.check_keys(set(CrawlConfig.__dataclass_fields__))
    d = CrawlConfig()
    values: dict[str, Any] = {
        "user_agent": crawl.get("user_agent", str, d.user_agent),
        "delay": crawl.get("delay", float, d.delay),
        "requisites_refresh": crawl.duration("requisites_refresh", d.requisites_refresh),
        "extract": crawl.choice("extract", ("fast", "trafilatura"), d.extract),
        "warc_compression": crawl.choice("warc_compression", tuple(COMPRESSIONS),
                                         d.warc_compression),
        "ca_file": _ca_file(crawl, path)}
    for name, spec in CrawlConfig.__dataclass_fields__.items():   # the others: by their type
        if name not in values:
            kind = {"bool": bool, "int": int, "float": float}[str(spec.type)]
            default = getattr(d, name)
            values[name] = crawl.get(name, bool, default) if kind is bool else \
                crawl.positive(name, kind, default)
    crawl_cfg = CrawlConfig(**values)
    recheck = Section(path, "recheck.", top.data.get("recheck", {}))
    recheck.check_keys(set(RecheckConfig.__dataclass_fields__))
    r = RecheckConfig()
    recheck_cfg = RecheckConfig(
        offsets=recheck.durations("offsets", r.offsets) or r.offsets,
        confirm_checks=recheck.positive("confirm_checks", int, r.confirm_checks),
        confirm_after=recheck.duration("confirm_after", r.confirm_after),
        domain_budget=recheck.positive("domain_budget", int, r.domain_budget),
        fast_304=recheck.get("fast_304", bool, r.fast_304),
        canaries=_canaries(recheck),
    )
    browser = Section(path, "browser.", top.data.get("browser", {}))
    browser.check_keys(set(BrowserConfig.__dataclass_fields__))
    b = BrowserConfig()
    wait_until = browser.choice("wait_until", WAIT_UNTIL, b.wait_until)
    browser_cfg = BrowserConfig(
        executable=browser.get("executable", str, b.executable),
        timeout=browser.positive("timeout", float, b.timeout),
        concurrency=browser.positive("concurrency", int, b.concurrency), wait_until=wait_until)
    notify = Section(path, "notify.", top.data.get("notify", {}))
    notify.check_keys({"urls", "blocks"})
    serve = Section(path, "serve.", top.data.get("serve", {}))
    serve.check_keys({"base_url"})
    replay_base = serve.get("base_url", str, Config.replay_base).rstrip("/")
    if not is_http_url(replay_base):
        serve.fail("base_url", f"{replay_base!r} is not an http(s) URL",
                   'use the address users open, e.g. "http://127.0.0.1:8765"')
    stories = Section(path, "stories.", top.data.get("stories", {}))
    stories.check_keys({"threshold"})
    story_threshold = stories.positive("threshold", float, Config.story_threshold)
    if story_threshold > 1:
        stories.fail("threshold", f"must be at most 1, got {story_threshold}", "use e.g. 0.5")
    return Config(
        path=path, seeds=tuple(seeds), collection=collection,
        operator=top.get("operator", str, ""), crawl=crawl_cfg, recheck=recheck_cfg,
        browser=browser_cfg, notify_urls=notify.strings("urls"),
        notify_blocks=notify.get("blocks", bool, False), replay_base=replay_base,
        vantages=_vantages(path, top.data.get("vantage", [])), story_threshold=story_threshold,
        cluster=_cluster(Section(path, "cluster.", top.data.get("cluster", {}))),
    )


def _cluster(sec: Section) -> ClusterConfig:
    c = ClusterConfig
    sec.check_keys(set(c.__dataclass_fields__))
    if (redis := sec.get("redis", str, c.redis)) and \
            urlsplit(redis).scheme not in ("redis", "rediss", "unix"):
        sec.fail("redis", "not a Redis URL", 'write it like "redis://:password@host:6379/0"')
    if not NAME_RE.match(home_id := sec.get("home_id", str, c.home_id)):
        sec.fail("home_id", f"{home_id!r} is not a valid name", "use letters, digits, '-', '_'")
    return c(redis=redis, home_id=home_id, lease=sec.duration("lease", c.lease),
             max_deliveries=sec.positive("max_deliveries", int, c.max_deliveries))


def _vantages(path: Path, raw: Any) -> tuple[Vantage, ...]:
    """The ``[[vantage]]`` tables: unique names, an http(s) or socks5 proxy each (its
    credentials never in an error), at most one control (an http(s) proxy)."""
    if not isinstance(raw, list):
        Section(path, "", {}).fail("vantage", "must be an array of tables",
                                   "write each as [[vantage]]")
    found: list[Vantage] = []
    for index, entry in enumerate(raw):
        sec = Section(path, f"vantage[{index}].", entry)
        sec.check_keys({"name", "proxy", "control"})
        name = sec.get("name", str, "")
        if not NAME_RE.match(name) or name == CONTROL:
            sec.fail("name", f"{name!r} is not a valid vantage name",
                     f"use letters, digits, '-', '_' or '.' (not {CONTROL!r})")
        if any(v.name == name for v in found):
            sec.fail("name", f"{name!r} is used twice", "give each vantage its own name")
        proxy = sec.get("proxy", str, "")
        parts = urlsplit(proxy)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname or port is None:
            sec.fail("proxy", f"{without_credentials(proxy) or 'nothing'} is not a proxy URL "
                     "with a port", 'write it like "socks5://user:pass@host:1080" or '
                     '"http://host:3128"')
        control = sec.get("control", bool, False)
        if control and any(v.control for v in found):
            sec.fail("control", "a second vantage marked control = true",
                     "mark one vantage as the control")
        if control and parts.scheme.lower() not in ("http", "https"):
            sec.fail("control", f"the control's proxy must be an http(s) proxy, not "
                     f"{parts.scheme}:// (the re-check's Scrapy requests go through it, and "
                     "Scrapy speaks to HTTP proxies only)",
                     "use an HTTP proxy at that place, or leave control out")
        found.append(Vantage(name, proxy, control))
    return tuple(found)


def _canaries(recheck: Section) -> tuple[str, ...]:
    urls = recheck.strings("canaries")
    for url in urls:
        if not is_http_url(url):
            recheck.fail("canaries", f"{url!r} is not an http(s) URL",
                         "list full http:// or https:// URLs of pages that do not change")
    return urls


def _ca_file(crawl: Section, config_path: Path) -> str:
    """``[crawl] ca_file``: a PEM file of trust anchors (relative to the config file's folder),
    as an absolute path; "" when not set."""
    value = crawl.get("ca_file", str, "")
    if not value:
        return ""
    found = (config_path.parent / value).resolve()
    if not found.is_file():
        crawl.fail("ca_file", f"{value!r}: no such file", "give the path of a PEM file of CA "
                   "certificates (relative to this file), or remove the key")
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(found))
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
        crawl.fail("ca_file", f"{value!r} holds no PEM certificate ({exc})",
                   "give a file of -----BEGIN CERTIFICATE----- blocks")
    return str(found)
