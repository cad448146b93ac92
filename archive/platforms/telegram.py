"""Telegram channels: the URLs of a channel's card, preview pages and messages.

A source of kind ``telegram`` names a channel by ``https://t.me/<channel>`` or
``https://t.me/s/<channel>``; every other URL is made from its scheme and host, so a mirror or
a local test server works the same as t.me. Reading the preview pages is
archive.platforms.telegram_page's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

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
