"""WeChat public-account articles (mp.weixin.qq.com): which URLs name one, and what an
archived article says about itself.

A source of kind ``wechat`` lists article URLs, ``/s/<token>`` or ``/s?__biz=...&mid=...``, on
mp.weixin.qq.com or a mirror. Each capture of an article (not of a tombstone) gets its
metadata as the ``captures.meta`` JSON:

- ``title``: ``#activity-name``, else ``og:title``, else the page script's ``msg_title``;
- ``account``: ``#js_name``, else the script's ``nickname``;
- ``published_at``: the script's ``ct`` (Unix time; WeChat fills ``#publish_time`` from it in
  the browser), else ``#publish_time`` as China time;
- ``author``: ``meta[name=author]``;
- ``biz``: the account's ``__biz`` id (URL or script);
- ``images``: the article's images (``#js_content img``, ``data-src`` first: WeChat loads them
  lazily), which the crawl fetches as the page's requisites.

The deletion and wall rules are archive/detect/rules/wechat.toml's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

_ARTICLE_PATH = re.compile(r"^/s(?:/[A-Za-z0-9_-]+|)/?$")
_CHINA = timezone(timedelta(hours=8))
_SCRIPT_VARS = {
    name: re.compile(rf"""\b(?:var\s+)?{name}\s*=\s*(?:htmlDecode\()?\s*(["'])(.*?)\1""")
    for name in ("msg_title", "nickname", "ct", "biz")
}
_PUBLISH_TIME = re.compile(r"(\d{4})[-年/](\d{1,2})[-月/](\d{1,2})日?(?:\s+(\d{1,2}):(\d{2}))?")


class NotAnArticle(ValueError):
    """A URL that names no WeChat article."""


def check_article_url(url: str) -> None:
    """Raise NotAnArticle unless ``url`` is ``/s/<token>`` or ``/s?__biz=...``."""
    parts = urlsplit(url)
    if not _ARTICLE_PATH.match(parts.path or "") or (
            parts.path.rstrip("/") == "/s" and "__biz" not in parse_qs(parts.query)):
        raise NotAnArticle(f"{url!r} is not a WeChat article URL; write it as "
                           "https://mp.weixin.qq.com/s/<token> or "
                           "https://mp.weixin.qq.com/s?__biz=...&mid=...&idx=...&sn=...")


def article_meta(body: bytes, content_type: str | None, url: str) -> dict[str, Any]:
    """What an article page says about itself (keys with no value left out)."""
    from archive.text.charset import decode_html
    from archive.text.extract import parse_html

    root = parse_html(body, content_type)
    if root is None:
        return {}
    script = decode_html(body, content_type)[0]
    found: dict[str, Any] = {
        "title": _text(root, "//*[@id='activity-name']") or _meta(root, "og:title")
        or _var(script, "msg_title"),
        "account": _text(root, "//*[@id='js_name']") or _var(script, "nickname"),
        "author": _meta(root, "author"),
        "published_at": _unix(_var(script, "ct"))
        or _china_time(_text(root, "//*[@id='publish_time']")),
        "biz": (parse_qs(urlsplit(url).query).get("__biz") or [None])[0] or _var(script, "biz"),
        "images": list(dict.fromkeys(
            urljoin(url, src.strip())
            for img in root.xpath("//*[@id='js_content']//img")
            if (src := img.get("data-src") or img.get("src"))
            and not src.strip().startswith("data:"))),
    }
    return {key: value for key, value in found.items() if value}


def _text(root: Any, xpath: str) -> str | None:
    for element in root.xpath(xpath):
        text = " ".join("".join(element.itertext()).split())
        if text:
            return text
    return None


def _meta(root: Any, name: str) -> str | None:
    for element in root.xpath("//meta[@property=$n or @name=$n]", n=name):
        if (content := (element.get("content") or "").strip()):
            return content
    return None


def _var(script: str, name: str) -> str | None:
    found = _SCRIPT_VARS[name].search(script)
    return found.group(2).strip() or None if found else None


def _unix(value: str | None) -> str | None:
    if not value or not value.isdigit():
        return None
    return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _china_time(text: str | None) -> str | None:
    found = _PUBLISH_TIME.search(text or "")
    if found is None:
        return None
    year, month, day, hour, minute = (int(v) if v else 0 for v in found.groups())
    try:
        local = datetime(year, month, day, hour, minute, tzinfo=_CHINA)
    except ValueError:
        return None
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
