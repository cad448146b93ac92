"""Telegram channels: the URLs of a channel's card, preview pages and messages, and the
messages read from its public web preview (``t.me/s/<channel>`` pages).

A source of kind ``telegram`` names a channel by ``https://t.me/<channel>`` or
``https://t.me/s/<channel>``; every other URL is made from its scheme and host, so a mirror or
a local test server works the same as t.me.

Usable without Scrapy (the crawler's telegram pages and any re-reading of archived pages use
it). The page structure (NOTES.md, public scrapers): every message is a
``.tgme_widget_message[data-post="<channel>/<id>"]`` in the channel history, its text in
``.tgme_widget_message_text``, its time in ``.tgme_widget_message_date time[datetime]``, its
views in ``.tgme_widget_message_views``; older messages are one ``?before=<id>`` page further
(``.tme_messages_more[data-before]``).

What a page *covers* is the range of ids of its ordinary messages, oldest to newest, stretched
up to the ``?before=`` it was asked with (nothing lies between two pages) and, on the channel's
first page (no older one), down to 0: a message seen before with an id in that range and
missing now is a suspected deletion (archive.writer.lists), confirmed at its own embed page. Two
things must never widen that range or count as a message that went away:

- an album is one block with several ids (its photos link to ``<channel>/<id>?single``): the
  block's ids are kept with it, so ids never seen as blocks of their own are expected gaps;
- a service message (``.service_message``: "pinned ...", "channel photo updated") is kept as an
  item for the record but is not an ordinary message: it does not set the range.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from lxml import etree

from archive.jobs import ListedItem, ListJob
from archive.text.extract import parse_html

_CHANNEL_RE = re.compile(r"^/(?:s/)?([A-Za-z0-9_]{3,64})/?$")


class NotAChannel(ValueError):
    """A URL that names no Telegram channel."""


@dataclass(frozen=True)
class Channel:
    """A channel and the site that serves its preview (t.me, or a mirror / test server)."""

    base: str            # scheme://host[:port]
    name: str

    @classmethod
    def from_url(cls, url: str) -> Channel:
        """``https://t.me/<channel>`` or ``https://t.me/s/<channel>``."""
        parts = urlsplit(url)
        found = _CHANNEL_RE.match(parts.path or "")
        if parts.scheme not in ("http", "https") or not parts.netloc or found is None:
            raise NotAChannel(f"{url!r} is not a Telegram channel URL; write it as "
                              "https://t.me/<channel> or https://t.me/s/<channel>")
        return cls(f"{parts.scheme}://{parts.netloc}", found.group(1))

    @property
    def card_url(self) -> str:
        """The channel's card: a name nobody holds any more shows the generic page here."""
        return f"{self.base}/{self.name}"

    @property
    def preview_url(self) -> str:
        """The first page of the channel's messages; also the parent URL of every message."""
        return f"{self.base}/s/{self.name}"

    def page_url(self, before: int | None = None) -> str:
        return self.preview_url if before is None else f"{self.preview_url}?before={before}"

    def message_url(self, message_id: int) -> str:
        return f"{self.base}/{self.name}/{message_id}"

    def embed_url(self, message_id: int) -> str:
        """The message's own page: a deleted message shows ``.tgme_widget_message_error``."""
        return f"{self.message_url(message_id)}?embed=1"

_POST_RE = re.compile(r"^([A-Za-z0-9_]{3,64})/(\d+)$")
_SINGLE_RE = re.compile(r"/([A-Za-z0-9_]{3,64})/(\d+)\?single")
_BG_URL_RE = re.compile(r"background-image\s*:\s*url\(\s*['\"]?([^'\")]+)")


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


_MESSAGES = etree.XPath(f"//div[{_has_class('tgme_widget_message')}][@data-post]")
_TEXT = etree.XPath(f".//div[{_has_class('tgme_widget_message_text')}]")
_DATE = etree.XPath(f".//*[{_has_class('tgme_widget_message_date')}]//time[@datetime]")
_VIEWS = etree.XPath(f".//*[{_has_class('tgme_widget_message_views')}]")
_SINGLES = etree.XPath(".//a[contains(@href, '?single')]/@href")
_MEDIA = etree.XPath(
    f".//a[{_has_class('tgme_widget_message_photo_wrap')}]/@style"
    " | .//video/@src | .//img/@src"
    f" | .//a[{_has_class('tgme_widget_message_document_wrap')}]/@href")
_MORE = etree.XPath(f"//*[{_has_class('tme_messages_more')}][@data-before]/@data-before")
_TITLE = etree.XPath(f"//*[{_has_class('tgme_channel_info_header_title')}]")


@dataclass(frozen=True)
class Message:
    item_id: str                   # "<channel>/<id>", as data-post says
    seq: int                       # the message id: the order of the channel
    url: str                       # https://t.me/<channel>/<id>
    check_url: str                 # its embed page, where a deletion is confirmed
    posted_at: str | None
    text: str
    views: str | None
    media: tuple[str, ...] = ()
    album_ids: tuple[int, ...] = ()   # the other ids of an album block
    service: bool = False


@dataclass(frozen=True)
class ChannelPage:
    title: str | None
    messages: tuple[Message, ...]
    covers: tuple[int, int] | None     # (oldest, newest) ordinary message id; None: none
    before: int | None                 # the next older page's ?before=, if there is one
    ids_seen: frozenset[int] = field(default_factory=frozenset)   # every id, album ids too


def parse_channel_page(body: bytes, content_type: str | None, channel: Channel,
                       before: int | None = None) -> ChannelPage:
    """The messages of one ``t.me/s/<channel>`` page (empty for anything else); ``before``: the
    ``?before=`` it was asked with. Such a page shows the newest messages below that id, so it
    covers up to it: a message between two pages is covered too."""
    root = parse_html(body, content_type)
    if root is None:
        return ChannelPage(None, (), None, None)
    messages = [m for element in _MESSAGES(root)
                if (m := _message(element, channel)) is not None]
    ordinary = [m.seq for m in messages if not m.service]
    more = [int(v) for v in _MORE(root) if v.strip().isdigit()]
    older = min(more) if more else None
    covers = None
    if ordinary:
        # up to the page asked for (?before=), and, at the channel's start (no older page),
        # down to its first message: each suspected message is confirmed at its own page
        covers = (min(ordinary) if older is not None else 0,
                  max(max(ordinary), before - 1 if before else 0))
    before = older
    titles = [" ".join("".join(t.itertext()).split()) for t in _TITLE(root)]
    seen = frozenset(i for m in messages for i in (m.seq, *m.album_ids))
    return ChannelPage(next((t for t in titles if t), None), tuple(messages), covers, before,
                       seen)


def _message(element: etree._Element, channel: Channel) -> Message | None:
    found = _POST_RE.match(element.get("data-post", "").strip())
    if found is None or found.group(1).lower() != channel.name.lower():
        return None           # a forwarded or quoted message of another channel
    seq = int(found.group(2))
    text_nodes = _TEXT(element)
    text = "\n".join(" ".join(line.split()) for node in text_nodes[:1]
                     for line in _lines(node)).strip()
    dates = _DATE(element)
    views = _VIEWS(element)
    album = sorted({int(m.group(2)) for href in _SINGLES(element)
                    if (m := _SINGLE_RE.search(href)) and int(m.group(2)) != seq})
    return Message(
        item_id=f"{channel.name}/{seq}", seq=seq, url=channel.message_url(seq),
        check_url=channel.embed_url(seq),
        posted_at=dates[0].get("datetime") if dates else None,
        text=text, views=" ".join("".join(views[0].itertext()).split()) if views else None,
        media=tuple(dict.fromkeys(_media(element, channel))), album_ids=tuple(album),
        service="service_message" in (element.get("class") or "").split())


def _lines(node: etree._Element) -> list[str]:
    """The message text, one line per <br> line (the tree is the caller's own parse)."""
    for br in node.iter("br"):
        br.tail = "\n" + (br.tail or "")
    return [line for line in "".join(node.itertext()).split("\n") if line.strip()]


def _media(element: etree._Element, channel: Channel) -> Iterator[str]:
    for value in _MEDIA(element):
        found = _BG_URL_RE.search(value)
        url = found.group(1) if found else value
        if url and not url.startswith("data:"):
            yield urljoin(channel.base + "/", url.strip())


def list_job(page: ChannelPage, channel: Channel, record_id: str, *, source: str | None,
             platform: str = "telegram") -> ListJob:
    """The page's messages as items of the channel (archive.writer.lists)."""
    items = tuple(
        ListedItem(item_id=m.item_id, seq=m.seq, url=m.url,
                   check_url=None if m.service else m.check_url, posted_at=m.posted_at,
                   text=m.text, service=m.service,
                   meta={key: value for key, value in (("views", m.views),
                                                      ("media", list(m.media)),
                                                      ("album_ids", list(m.album_ids)))
                         if value})
        for m in page.messages)
    return ListJob(record_id=record_id, parent_url=channel.preview_url, items=items,
                   covers=page.covers, seen_seqs=page.ids_seen, platform=platform,
                   source=source)
