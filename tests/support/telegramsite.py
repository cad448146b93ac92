"""A local replica of Telegram's public web preview, for the telegram source tests.

``python -m tests.support.telegramsite`` listens on 127.0.0.1 port 0 and prints its URL. The markup
follows t.me's (NOTES.md "Platform markers", public scrapers): channel cards at ``/<channel>``,
preview pages at ``/s/<channel>`` paged with ``?before=<id>``, each message's embed page at
``/<channel>/<id>?embed=1``. Every link points back at this server, so nothing is fetched
from the internet.

The test sets a channel with ``POST /_channel`` (see :class:`TelegramSite.channel`):
messages ``{"id", "text", "date", "views", "album": [ids], "service": bool, "hidden": bool,
"deleted": bool}``; ``hidden`` leaves a message out of the preview but not its embed page,
``deleted`` takes it out of both, ``tos`` too with the Terms of Service notice on its embed page.
``gone`` turns the card into the generic page t.me shows for a name nobody holds; ``gone`` and
``no_preview`` make ``/s/<channel>`` redirect to the card. ``withheld`` shows the "violated local
laws" notice instead of the channel on its card and its preview (one country's block). The
card's subscriber count grows with every request, as a real one does. ``down`` ("preview",
"embed" or both in a list) answers those pages with 502 Bad Gateway.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

from demosite.httpkit import QuietServer, RawHandler, ServerProcess, serve_main

HEAD = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
        '<meta property="og:title" content="{title}"></head>')


def _message_html(base: str, name: str, title: str, m: dict[str, Any]) -> str:
    text = "<br/>".join(html.escape(line) for line in m.get("text", "").split("\n"))
    date = m.get("date", "2026-11-30T10:00:00+00:00")
    footer = (f'<div class="tgme_widget_message_footer compact js-message_footer">'
              f'<div class="tgme_widget_message_info short js-message_info">'
              f'<span class="tgme_widget_message_views">{m.get("views", "1.2K")}</span>'
              f'<span class="copyonly"> views</span><span class="tgme_widget_message_meta">'
              f'<a class="tgme_widget_message_date" href="{base}/{name}/{m["id"]}">'
              f'<time datetime="{date}" class="time">{date[11:16]}</time></a></span></div></div>')
    if m.get("service"):
        return (f'<div class="tgme_widget_message_wrap js-widget_message_wrap">'
                f'<div class="tgme_widget_message service_message js-widget_message" '
                f'data-post="{name}/{m["id"]}"><div class="tgme_widget_message_bubble">'
                f'<div class="tgme_widget_message_text js-message_text" dir="auto">{text}</div>'
                f'{footer}</div></div></div>')
    album = ""
    if m.get("album"):
        photos = "".join(
            f'<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo"'
            f' style="left:0px;top:0px;width:200px;height:200px;background-image:url('
            f"'{base}/file/{pid}.jpg')\" href=\"{base}/{name}/{pid}?single\"></a>"
            for pid in [m["id"], *m["album"]])
        album = (f'<div class="tgme_widget_message_grouped_wrap js-message_grouped_wrap">'
                 f'<div class="tgme_widget_message_grouped js-message_grouped">'
                 f'<div class="tgme_widget_message_grouped_layer">{photos}</div></div></div>')
    return (f'<div class="tgme_widget_message_wrap js-widget_message_wrap">'
            f'<div class="tgme_widget_message text_not_supported_wrap js-widget_message" '
            f'data-post="{name}/{m["id"]}" data-view="eyJjIjotMTAwfQ">'
            f'<div class="tgme_widget_message_user"><a href="{base}/{name}">'
            f'<i class="tgme_widget_message_user_photo bgcolor1"></i></a></div>'
            f'<div class="tgme_widget_message_bubble">'
            f'<div class="tgme_widget_message_author accent_color">'
            f'<a class="tgme_widget_message_owner_name" href="{base}/{name}">'
            f'<span dir="auto">{html.escape(title)}</span></a></div>{album}'
            f'<div class="tgme_widget_message_text js-message_text" dir="auto">{text}</div>'
            f'{footer}</div></div></div>')


WITHHELD = "This channel can't be displayed because it violated local laws."


def preview_page(base: str, channel: dict[str, Any], before: int | None) -> str:
    """``/s/<channel>[?before=N]``: the newest ``per_page`` listed messages older than N."""
    name, title = channel["name"], channel.get("title", channel["name"])
    listed = sorted((m for m in channel["messages"] if not m.get("hidden")
                     and not m.get("deleted") and not m.get("tos")), key=lambda m: m["id"])
    if channel.get("withheld"):
        listed = []
    if before is not None:
        listed = [m for m in listed if m["id"] < before]
    shown = listed[-channel.get("per_page", 20):]
    more = ""
    if shown and len(listed) > len(shown):
        oldest = shown[0]["id"]
        more = (f'<a class="tme_messages_more js-messages_more" data-before="{oldest}" '
                f'href="/s/{name}?before={oldest}"></a>')
    body = "".join(_message_html(base, name, title, m) for m in shown)
    return (HEAD.format(title=html.escape(f"{title} – Telegram")) +
            '<body class="widget_frame_base tgme_webpreview"><header class="tgme_header">'
            '<div class="tgme_header_search"><form class="tgme_header_search_form">'
            '<input class="tgme_header_search_form_input" name="q"></form></div></header>'
            '<main class="tgme_main"><div class="tgme_container">'
            '<section class="tgme_right_column"><div class="tgme_channel_info">'
            '<div class="tgme_channel_info_header"><div class="tgme_channel_info_header_title">'
            f'<span dir="auto">{html.escape(title)}</span></div>'
            f'<div class="tgme_channel_info_header_username"><a href="{base}/{name}">@{name}</a>'
            '</div></div>' + (f'<div class="tgme_channel_info_description">{WITHHELD}</div>'
                              if channel.get("withheld") else "") +
            '<div class="tgme_channel_info_counters">'
            '<div class="tgme_channel_info_counter"><span class="counter_value">12.3K</span> '
            '<span class="counter_type">subscribers</span></div></div></div></section>'
            f'<section class="tgme_channel_history js-message_history">{more}{body}</section>'
            '</div></main></body></html>')


def card_page(base: str, channel: dict[str, Any]) -> str:
    name, title = channel["name"], channel.get("title", channel["name"])
    if channel.get("gone"):
        inner = ('<div class="tgme_page_description">If you have <strong>Telegram</strong>, '
                 f'you can contact <a class="tgme_username_link" href="tg://resolve?domain={name}"'
                 f'>@{name}</a> right away.</div>')
        page_title = f"Telegram: Contact @{name}"
    elif channel.get("withheld"):
        inner = (f'<div class="tgme_page_title"><span dir="auto">{html.escape(title)}</span></div>'
                 f'<div class="tgme_page_description">{WITHHELD}</div>')
        page_title = f"Telegram: Contact @{name}"
    else:
        inner = (f'<div class="tgme_page_title"><span dir="auto">{html.escape(title)}</span></div>'
                 f'<div class="tgme_page_extra">{channel.get("subscribers", 12345):,} '
                 'subscribers</div>'
                 f'<div class="tgme_page_description">{html.escape(channel.get("about", ""))}'
                 '</div><div class="tgme_page_context_link_wrap">'
                 f'<a href="{base}/s/{name}" class="tgme_page_context_link">Preview channel</a>'
                 '</div>')
        page_title = f"Telegram: Contact @{name}"
    return (HEAD.format(title=page_title) + '<body><div class="tgme_page_wrap">'
            '<div class="tgme_body_wrap"><div class="tgme_page"><div class="tgme_page_photo">'
            f'</div>{inner}<div class="tgme_page_action"><a class="tgme_action_button_new" '
            f'href="tg://resolve?domain={name}">View in Telegram</a></div></div></div></div>'
            '</body></html>')


def embed_page(base: str, channel: dict[str, Any], message_id: int) -> str:
    name, title = channel["name"], channel.get("title", channel["name"])
    found = next((m for m in channel["messages"] if m["id"] == message_id
                  and not m.get("deleted")), None)
    if found is None or found.get("tos") or channel.get("gone"):
        error = ("This message couldn't be displayed because it violated Telegram's Terms of "
                 "Service." if found is not None and found.get("tos") else "Post not found")
        inner = (f'<div class="tgme_widget_message_wrap js-widget_message_wrap">'
                 f'<div class="tgme_widget_message js-widget_message" data-post="{name}/'
                 f'{message_id}"><div class="tgme_widget_message_bubble">'
                 f'<div class="tgme_widget_message_error">{error}</div></div></div></div>')
    else:
        inner = _message_html(base, name, title, found)
    return (HEAD.format(title=html.escape(title)) +
            f'<body class="body_widget_post emoji_image nodark">{inner}</body></html>')


class TelegramHTTPServer(QuietServer):
    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        super().__init__(address, TelegramHandler)
        self.lock = threading.Lock()
        self.channels: dict[str, dict[str, Any]] = {}


class TelegramHandler(RawHandler):
    server: TelegramHTTPServer

    def route(self, path: str, query: dict[str, str]) -> None:
        server = self.server
        base = f"http://{self.headers.get('Host')}"
        if path == "/_channel" and self.command == "POST":
            data = self.read_json()
            with server.lock:
                server.channels[data["name"].lower()] = data
            return self.send_json({"ok": True})
        parts = [p for p in path.split("/") if p]
        with server.lock:
            if len(parts) == 2 and parts[0] == "s" and parts[1].lower() in server.channels:
                channel = server.channels[parts[1].lower()]
                if "preview" in channel.get("down", ()):
                    return self.send_raw(502, b"<html><body>502 Bad Gateway</body></html>")
                if channel.get("gone") or channel.get("no_preview"):
                    return self.send_raw(302, b"", [("Location", f"{base}/{channel['name']}")])
                before = query.get("before")
                page = preview_page(base, channel, int(before) if before else None)
                return self.send_raw(200, page.encode(), ctype="text/html; charset=utf-8")
            if len(parts) == 1 and parts[0].lower() in server.channels:
                channel = server.channels[parts[0].lower()]
                channel["subscribers"] = channel.get("subscribers", 12345) + 17   # it grows
                page = card_page(base, channel)
                return self.send_raw(200, page.encode(), ctype="text/html; charset=utf-8")
            if len(parts) == 2 and parts[0].lower() in server.channels and parts[1].isdigit():
                if "embed" in server.channels[parts[0].lower()].get("down", ()):
                    return self.send_raw(502, b"<html><body>502 Bad Gateway</body></html>")
                page = embed_page(base, server.channels[parts[0].lower()], int(parts[1]))
                return self.send_raw(200, page.encode(), ctype="text/html; charset=utf-8")
        return self.send_raw(404, b"<html><body><h1>Not Found</h1></body></html>",
                             ctype="text/html; charset=utf-8")


class TelegramSite(ServerProcess):
    """``with TelegramSite() as site: site.channel("kzreport", messages=[...])``"""

    module = "tests.support.telegramsite"
    root = Path(__file__).resolve().parents[2]

    def channel(self, name: str, messages: list[dict[str, Any]], **options: Any) -> None:
        """Set (replace) a channel: options ``title``, ``per_page`` (20), ``gone``,
        ``no_preview``, ``about``."""
        self.request("/_channel", {"name": name, "messages": messages, **options})


def main() -> None:
    serve_main(TelegramHTTPServer(("127.0.0.1", 0)), "telegramsite")


if __name__ == "__main__":
    main()
