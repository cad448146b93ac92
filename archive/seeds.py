"""Load and validate seed files (``[[source]]`` tables) into :class:`Source` objects.

Like the config (archive.config), a seed file is validated once, at load: a problem raises
:class:`~archive.config_file.ConfigError` naming the file, the source, the key and the fix. A
source's URLs are checked by its kind's platform (archive.platforms.registry).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archive.config import NAME_RE, RENDER_MODES, Config
from archive.config_file import ConfigError, Section, read_toml
from archive.platforms.registry import SOURCE_KINDS, SourceUrlError, check_source_url
from archive.timeutil import parse_age
from archive.urlnorm import is_http_url


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    urls: tuple[str, ...]
    schedule: str | None = None
    platform: str | None = None
    render: str = "http"
    tags: tuple[str, ...] = ()
    recheck_offsets: tuple[str, ...] | None = None
    max_items: int | None = None
    max_pages: int | None = None     # list kinds (telegram...): pages of older items to follow
    comment_pages: int | None = None  # weibo: pages of each post's newest comments (0: none)
    vantages: tuple[str, ...] = ()   # also re-checked from these [[vantage]]s of the config
    origin: str = ""                 # "file.toml" where it was defined

    @property
    def url(self) -> str:
        return self.urls[0]


def load_seeds(path: Path) -> list[Source]:
    """Every ``[[source]]`` of one seed file, validated."""
    data = read_toml(path)
    top = Section(path, "", data)
    top.check_keys({"source"})
    raw = data.get("source", [])
    if not isinstance(raw, list) or not raw:
        top.fail("source", "no [[source]] entries", "add at least one [[source]] table")
    sources: list[Source] = []
    names: set[str] = set()
    for index, entry in enumerate(raw):
        sources.append(_load_source(path, index, entry, names))
    return sources


def _load_source(path: Path, index: int, entry: Any, names: set[str]) -> Source:
    label = entry.get("name") if isinstance(entry, dict) else None
    sec = Section(path, f"source[{index}]{f' ({label})' if label else ''}.", entry)
    sec.check_keys({"name", "kind", "url", "urls", "schedule", "platform", "render", "tags",
                    "recheck_offsets", "max_items", "max_pages", "comment_pages", "vantages"})
    name = sec.get("name", str, None)
    if name is None:
        sec.fail("name", "missing", 'give every source a unique name = "..."')
    if not NAME_RE.match(name):
        sec.fail("name", f"{name!r} is not a valid name", "use letters, digits, '-', '_' or '.'")
    if name in names:
        sec.fail("name", f"{name!r} is used twice", "give each source its own name")
    names.add(name)
    kind = sec.get("kind", str, "page")
    if kind not in SOURCE_KINDS:
        sec.fail("kind", f"unknown kind {kind!r}", f"use one of: {', '.join(SOURCE_KINDS)}")
    urls = list(sec.strings("urls"))
    single = sec.get("url", str, None)
    if single:
        urls.insert(0, single)
    if not urls:
        sec.fail("url", "missing", 'add url = "https://..." (or urls = [...] for kind "page")')
    for url in urls:
        if not is_http_url(url):
            sec.fail("url", f"{url!r} is not an http(s) URL", "use a full http:// or https:// URL")
    for url in urls:
        try:
            check_source_url(kind, url)
        except SourceUrlError as exc:
            sec.fail("url", exc.problem, exc.fix)
    render = sec.choice("render", RENDER_MODES, "http")
    schedule = sec.get("schedule", str, None)
    if schedule is not None:
        _validate_schedule(sec, schedule)
    max_items = sec.get("max_items", int, None)
    if max_items is not None and max_items <= 0:
        sec.fail("max_items", "must be greater than 0", "use a positive number or remove it")
    max_pages = sec.get("max_pages", int, None)
    if max_pages is not None and max_pages <= 0:
        sec.fail("max_pages", "must be greater than 0", "use a positive number or remove it")
    comment_pages = sec.get("comment_pages", int, None)
    if comment_pages is not None and comment_pages < 0:
        sec.fail("comment_pages", "must not be negative", "use 0 (no comments) or more")
    return Source(
        name=name, kind=kind, urls=tuple(urls), schedule=schedule,
        platform=sec.get("platform", str, None), render=render, tags=sec.strings("tags"),
        recheck_offsets=sec.durations("recheck_offsets", None), max_items=max_items,
        max_pages=max_pages, comment_pages=comment_pages, vantages=sec.strings("vantages"),
        origin=str(path),
    )


def _validate_schedule(sec: Section, schedule: str) -> None:
    text = schedule.strip()
    if text.lower().startswith("every "):
        try:
            parse_age(text[6:])
        except ValueError:
            sec.fail("schedule", f"{schedule!r} is not a valid interval",
                     'write it like "every 30m" or a crontab line "*/30 * * * *"')
        return
    # imported here: APScheduler (and asyncio with it) is slow to import and only a crontab
    # schedule needs it
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        sec.fail("schedule", f"{schedule!r} is neither \"every N\" nor a crontab line ({exc})",
                 'write it like "every 30m" or "*/30 * * * *"')


def check_vantages(sources: list[Source], config: Config) -> None:
    """Every vantage a source names is a ``[[vantage]]`` of ``config`` (ConfigError naming the
    seed file, the source and the fix otherwise)."""
    known = {v.name for v in config.vantages}
    control = config.control_vantage
    for source in sources:
        for name in source.vantages:
            if control is not None and name == control.name:
                raise ConfigError(
                    f"{source.origin}: source {source.name!r}: vantages: {name!r} is the control "
                    f"(control = true in {config.path or 'memoryhole.toml'}): every re-check is "
                    "made from it already; list only the other vantages")
            if name not in known:
                raise ConfigError(
                    f"{source.origin}: source {source.name!r}: vantages: no vantage {name!r}; "
                    f"define it in {config.path or 'memoryhole.toml'} as [[vantage]] name = "
                    f"{name!r} (known: {', '.join(sorted(known)) or 'none'})")
