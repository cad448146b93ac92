"""Weibo through the mobile site's JSON endpoints (m.weibo.cn), as public scrapers and
Weiboscope use them: a user's timeline, single posts, and a post's comments.

A source of kind ``weibo`` names a user (``https://m.weibo.cn/u/<uid>``, ``/profile/<uid>``,
``https://weibo.com/u/<uid>``) or one post (``https://m.weibo.cn/detail/<id>``,
``/status/<id>``). Every endpoint is made from the source URL's scheme and host, so a mirror or
a local test server works the same; weibo.com URLs are read through m.weibo.cn.

- timeline: ``/api/container/getIndex?type=uid&value=<uid>&containerid=107603<uid>``, older
  pages with ``&since_id=`` (``data.cardlistInfo.since_id``); posts are the cards with
  ``card_type`` 9, their ``mblog``. A pinned post (``isTop``) is shown out of order: it is an
  item, but it does not set the range of ids the page covers.
- a post: ``/statuses/show?id=<id>``: ``{"ok": 1, "data": {...}}``, or ``{"ok": 0, "msg": ...}``
  with the reason (archive/detect/rules/weibo.toml): the Weiboscope check of a post gone from the
  timeline.
- a long post (``isLongText``): the timeline gives its first lines only; its whole text is
  ``/statuses/extend?id=<id>`` (``data.longTextContent``), fetched before the timeline page's
  items are stored, so an item's text is the post's whole text (:func:`with_long_texts`).
- comments, newest first: ``/api/comments/show?id=<id>&page=N`` (they have no URL of their own:
  a comment gone from the list is confirmed by the list itself, archive.writer.lists); hottest
  first:
  ``/comments/hotflow?id=<id>&mid=<id>&max_id_type=0``, ordered by likes, so it covers no
  range: it is archived and its comments recorded, never suspected from it.

Mblog ids and comment ids grow with time, so they are the items' order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from archive.jobs import ListedItem, ListJob

_USER_RE = re.compile(r"^/(?:u|profile)/(\d{5,12})/?$")
_POST_RE = re.compile(r"^/(?:detail|status)/(\d{10,20})/?$")
_TIMELINE_PREFIX = "107603"
_WEIBO_HOSTS = {"weibo.com", "www.weibo.com", "weibo.cn", "www.weibo.cn"}


class NotAWeiboSource(ValueError):
    """A URL that names no Weibo user or post."""


@dataclass(frozen=True)
class WeiboTarget:
    base: str                      # scheme://host of the mobile API
    uid: str | None = None         # a user's timeline...
    post_id: str | None = None     # ...or one post

    @classmethod
    def from_url(cls, url: str) -> WeiboTarget:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise NotAWeiboSource(f"{url!r} is not a Weibo URL; write it as "
                                  "https://m.weibo.cn/u/<uid> or https://m.weibo.cn/detail/<id>")
        base = "https://m.weibo.cn" if host in _WEIBO_HOSTS else f"{parts.scheme}://{parts.netloc}"
        if found := _USER_RE.match(parts.path):
            return cls(base, uid=found.group(1))
        if found := _POST_RE.match(parts.path):
            return cls(base, post_id=found.group(1))
        raise NotAWeiboSource(f"{url!r} names no Weibo user or post; write it as "
                              "https://m.weibo.cn/u/<uid> or https://m.weibo.cn/detail/<id>")

    def timeline_url(self, since_id: str | None = None) -> str:
        url = (f"{self.base}/api/container/getIndex?type=uid&value={self.uid}"
               f"&containerid={_TIMELINE_PREFIX}{self.uid}")
        return url if since_id is None else f"{url}&since_id={since_id}"

    def post_url(self, post_id: str) -> str:
        """The post's page, for people."""
        return f"{self.base}/detail/{post_id}"

    def status_url(self, post_id: str) -> str:
        """The post through the API: where a deletion is confirmed, with its reason."""
        return f"{self.base}/statuses/show?id={post_id}"

    def extend_url(self, post_id: str) -> str:
        """The whole text of a long post (``isLongText``)."""
        return f"{self.base}/statuses/extend?id={post_id}"

    def comments_url(self, post_id: str, page: int = 1) -> str:
        url = f"{self.base}/api/comments/show?id={post_id}"
        return url if page == 1 else f"{url}&page={page}"

    def hot_comments_url(self, post_id: str) -> str:
        return f"{self.base}/comments/hotflow?id={post_id}&mid={post_id}&max_id_type=0"


def loads(body: bytes) -> dict[str, Any] | None:
    """The API's answer when it is a JSON object with ``"ok": 1``; None for a wall, a rate
    limit, an error (``"ok": 0``) or anything that is not JSON."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("ok") != 1 or not isinstance(data.get("data"), dict):
        return None
    return data["data"]


@dataclass(frozen=True)
class TimelinePage:
    job: ListJob
    post_ids: tuple[str, ...]       # every post on the page, pinned ones too
    since_id: str | None            # the next older page
    long_text_ids: tuple[str, ...] = ()    # posts whose text here is cut (``isLongText``)


TRUNCATED = "text_truncated"       # an item's meta key: its whole text could not be read


def long_text(data: dict[str, Any]) -> str | None:
    """The whole text of a long post from ``statuses/extend``'s ``data`` (None when absent)."""
    content = data.get("longTextContent")
    return html_text(content) if isinstance(content, str) and content.strip() else None


def with_long_texts(job: ListJob, texts: dict[str, str | None]) -> ListJob:
    """The timeline page's items with the whole texts of its long posts; a post whose whole
    text was not read keeps its first lines, marked ``text_truncated`` in its meta."""
    items = []
    for item in job.items:
        if item.item_id in texts:
            whole = texts[item.item_id]
            item = replace(item, text=whole) if whole is not None else replace(
                item, meta={**item.meta, TRUNCATED: True})
        items.append(item)
    return replace(job, items=tuple(items))


def timeline_page(data: dict[str, Any], target: WeiboTarget, record_id: str, *,
                  source: str | None, platform: str = "weibo",
                  since_id: str | None = None) -> TimelinePage:
    """One timeline page; ``since_id``: the one it was asked for. Such a page shows the newest
    posts up to that id, and the ``since_id`` it gives is where the next page starts: it covers
    from there to the one asked for, so a post between two pages is covered too. A page that
    gives none is the timeline's end: it covers every older post as well (each suspected post
    is confirmed at its own URL, so a wrong guess costs a check, never a deletion)."""
    items: list[ListedItem] = []
    ranged: list[int] = []
    long_ids: list[str] = []
    for card in data.get("cards") or ():
        mblog = card.get("mblog") if isinstance(card, dict) else None
        if not isinstance(mblog, dict) or card.get("card_type") != 9:
            continue
        post_id = str(mblog.get("id") or mblog.get("mid") or "")
        if not post_id.isdigit():
            continue
        pinned = bool(mblog.get("isTop")) or mblog.get("mblogtype") == 2
        if not pinned:
            ranged.append(int(post_id))
        if mblog.get("isLongText") is True:
            long_ids.append(post_id)
        user = mblog.get("user") if isinstance(mblog.get("user"), dict) else {}
        meta = {"bid": mblog.get("bid"), "user": user.get("screen_name"),
                "reposts": mblog.get("reposts_count"), "comments": mblog.get("comments_count"),
                "likes": mblog.get("attitudes_count"), "pinned": pinned or None,
                "pics": [p.get("large", {}).get("url") or p.get("url")
                         for p in mblog.get("pics") or () if isinstance(p, dict)] or None,
                "repost_of": (mblog.get("retweeted_status") or {}).get("id")}
        items.append(ListedItem(
            item_id=post_id, seq=int(post_id), url=target.post_url(post_id),
            check_url=target.status_url(post_id), posted_at=weibo_time(mblog.get("created_at")),
            text=html_text(mblog.get("text") or ""),
            meta={k: v for k, v in meta.items() if v is not None}))
    info = data.get("cardlistInfo") if isinstance(data.get("cardlistInfo"), dict) else {}
    since = info.get("since_id")
    covers = None
    if ranged:
        low, high = min(ranged), max(ranged)
        if since_id and since_id.isdigit():
            high = max(high, int(since_id))
        if since and str(since).isdigit() and int(since) < low:
            low = int(since) + 1
        elif not since:
            low = 0          # the timeline's end: nothing older is listed any more
        covers = (low, high)
    job = ListJob(record_id=record_id, parent_url=target.timeline_url(), items=tuple(items),
                  covers=covers,
                  seen_seqs=frozenset(i.seq for i in items), platform=platform, source=source)
    return TimelinePage(job, tuple(i.item_id for i in items), str(since) if since else None,
                        tuple(long_ids))


def comments_page(data: dict[str, Any], target: WeiboTarget, post_id: str, record_id: str, *,
                  hot: bool, source: str | None, platform: str = "weibo") -> ListJob:
    """A comment list: newest first (covers the range of its ids) or hottest (covers none)."""
    items = []
    for comment in data.get("data") or ():
        if not isinstance(comment, dict) or not str(comment.get("id", "")).isdigit():
            continue
        user = comment.get("user") if isinstance(comment.get("user"), dict) else {}
        meta = {"user": user.get("screen_name"), "likes": comment.get("like_count"),
                "post_id": post_id}
        items.append(ListedItem(
            item_id=str(comment["id"]), seq=int(comment["id"]),
            posted_at=weibo_time(comment.get("created_at")),
            text=html_text(comment.get("text") or ""),
            meta={k: v for k, v in meta.items() if v is not None}))
    seqs = [i.seq for i in items]
    parent = target.hot_comments_url(post_id) if hot else target.comments_url(post_id)
    return ListJob(record_id=record_id, parent_url=parent, items=tuple(items),
                   covers=None if hot or not seqs else (min(seqs), max(seqs)),
                   seen_seqs=frozenset(seqs), platform=platform, source=source)


def weibo_time(value: Any) -> str | None:
    """``Sat Jun 20 10:00:00 +0800 2020`` as ISO-8601 UTC (None when it does not parse)."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.strptime(value.strip(), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def html_text(fragment: str) -> str:
    """A post's or comment's HTML as text: line breaks kept, emoji images as their alt text."""
    from lxml import html as lxml_html

    if "<" not in fragment:
        return fragment.strip()
    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for img in root.iter("img"):
        img.tail = (img.get("alt") or "") + (img.tail or "")
    lines = ("".join(root.itertext())).split("\n")
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())
