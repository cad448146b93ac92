"""The platforms memoryhole knows, in one table: the hosts that pick each one's rules, the seed
kind of its sources and how their URLs are checked, its per-kind defaults, and what reads a
capture's own metadata.

Everything else asks this module: the config (source kinds, URL checks, defaults), the
classifier (which rules a URL gets), the archive writer (a capture's metadata) and the news
spider (which platform a source's pages are read with). Adding a platform means a module in
``archive/platforms/`` with its URLs and parsers, one :class:`Platform` entry in
:data:`PLATFORMS`, its rules file in ``archive/detect/rules/``, and, when its pages need a crawl
of their own (paging, an API), a spider mixin in ``crawlers/spiders/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from archive.platforms.telegram import Channel
from archive.platforms.wechat import article_meta, check_article_url
from archive.platforms.weibo import WeiboTarget
from archive.urlnorm import domain_of

GENERIC_PLATFORM = "news"                     # the rules of every other site
GENERIC_KINDS = ("feed", "sitemap", "page")   # seed kinds of any site

MetaReader = Callable[[bytes, str | None, str], dict[str, Any]]


class SourceUrlError(ValueError):
    """A source URL its kind cannot read: ``problem`` and ``fix`` for the config error."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}; {fix}")
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class Platform:
    name: str                                   # its rules: archive/detect/rules/<name>.toml
    hosts: tuple[str, ...] = ()                 # hosts (www. removed) that pick its rules
    domains: tuple[str, ...] = ()               # ...and these with every subdomain
    source_kind: str | None = None              # the seed kind of its own sources
    check_url: Callable[[str], Any] | None = None   # raises ValueError("problem; fix")
    defaults: Mapping[str, int] = field(default_factory=dict)   # per-source keys left out
    capture_meta: MetaReader | None = None      # a 2xx capture's own metadata (captures.meta)
    article_css: str | None = None              # what holds the article on a live page


PLATFORMS: Mapping[str, Platform] = MappingProxyType({platform.name: platform for platform in (
    Platform(GENERIC_PLATFORM),
    Platform("telegram", hosts=("t.me", "telegram.me"), source_kind="telegram",
             check_url=Channel.from_url, defaults=MappingProxyType({"max_pages": 3}),
             article_css=".tgme_widget_message, .tgme_page"),
    Platform("weibo", domains=("weibo.com", "weibo.cn"), source_kind="weibo",
             check_url=WeiboTarget.from_url,
             defaults=MappingProxyType({"max_pages": 3, "comment_pages": 1})),
    Platform("wechat", hosts=("mp.weixin.qq.com",), source_kind="wechat",
             check_url=check_article_url, capture_meta=article_meta,
             article_css="#js_content, .rich_media_content"),
)})

SOURCE_KINDS = GENERIC_KINDS + tuple(p.source_kind for p in PLATFORMS.values() if p.source_kind)
# hosts of the platforms whose captures carry metadata: a cheap test before a URL is parsed
_META_HOSTS = tuple(host for p in PLATFORMS.values() if p.capture_meta
                    for host in p.hosts + p.domains)


def platform_for(url: str, declared: str | None = None) -> str:
    """The rules platform for ``url``: ``declared`` when given, else by host name (a platform's
    hosts, or its domains and their subdomains), else ``news``."""
    if declared and declared.strip():
        return declared.strip().lower()
    host = domain_of(url)
    for platform in PLATFORMS.values():
        if host in platform.hosts or host in platform.domains or host.endswith(
                tuple(f".{domain}" for domain in platform.domains)):
            return platform.name
    return GENERIC_PLATFORM


def platform_of_kind(kind: str) -> Platform | None:
    """The platform whose sources have seed kind ``kind`` (None for feed, sitemap, page)."""
    return next((p for p in PLATFORMS.values() if p.source_kind == kind), None)


def check_source_url(kind: str, url: str) -> None:
    """Raise :class:`SourceUrlError` unless a source of ``kind`` can read ``url``."""
    platform = platform_of_kind(kind)
    if platform is None or platform.check_url is None:
        return
    try:
        platform.check_url(url)
    except ValueError as exc:
        problem, _, fix = str(exc).partition("; ")
        raise SourceUrlError(problem, fix or "check the URL") from None


def source_default(kind: str, key: str) -> int | None:
    """The default of a per-source key (``max_pages``, ``comment_pages``) for ``kind``."""
    platform = platform_of_kind(kind)
    return platform.defaults.get(key) if platform is not None else None


def source_setting(source: Mapping[str, Any], key: str) -> int | None:
    """A per-source key of ``source`` (as a crawl's job carries it, with its ``kind``): its own
    value, else its kind's default. 0 is a value (``comment_pages = 0``: no comments)."""
    value = source.get(key)
    return value if value is not None else source_default(source.get("kind") or "", key)


def meta_reader(url: str, declared: str | None = None) -> MetaReader | None:
    """What reads the metadata of a capture of ``url`` (a WeChat article's), or None. Cheap for
    every page: a URL is parsed only when it names a host of a platform that has metadata."""
    if declared and declared.strip():
        platform = PLATFORMS.get(declared.strip().lower())
    elif any(host in url for host in _META_HOSTS):
        platform = PLATFORMS.get(platform_for(url))
    else:
        return None
    return platform.capture_meta if platform is not None else None
