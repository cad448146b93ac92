"""Tell people about confirmed deletions and restores, through apprise (``[notify] urls``), and
with ``[notify] blocks = true`` about new blocks at vantage points.

The ``deletions`` table is the outbox: a deletion row whose ``notified_at`` is NULL has not been
announced yet, nor a restore whose ``restored_at`` is set and ``restore_notified_at`` is NULL;
so is ``blocks``: a block still in force whose ``notified_at`` is NULL (a block lifted before it
was announced is not announced).
:func:`notify_deletions` sends one message per such row to every configured target and stamps
the row only after every target took it, so a deletion is never lost while a notifier is down:
the next call (the next run) sends it again. The price is that a healthy target may get a message
twice when another target failed on it. A call stops at the first failure (the rest wait for the
next call) and never runs longer than its time budget.

Notification URLs hold secrets (tokens, passwords, and for some services the host part itself),
so they are never logged: a target is named by its place in the config and, when its host is a
plain host name, by ``scheme://host``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import apprise
import sqlite_utils

from archive.catalogue.db import dict_rows
from archive.timeutil import iso, parse_iso, timestamp14, utcnow
from archive.urlnorm import replay_url
from archive.warc.cdxj_lookup import view_name

DEFAULT_TIMEOUT = 10.0   # seconds to connect, and again to read, per message per target
DEFAULT_BUDGET = 60.0    # seconds for one call; what is left waits for the next call
_HOSTNAME_RE = re.compile(r"^(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|\[[0-9A-Fa-f:.]+\])$")

logger = logging.getLogger(__name__)


@dataclass
class NotifyResult:
    """What one call did. ``failed`` names targets in redacted form only."""

    sent: int = 0
    pending: int = 0
    failed: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class Message:
    row_id: int
    column: str          # the column stamped once every target took it
    title: str
    body: str
    table: str = "deletions"     # the outbox it came from


def notify_deletions(db: sqlite_utils.Database, urls: Sequence[str], *, replay_base: str,
                     timeout: float = DEFAULT_TIMEOUT, budget: float = DEFAULT_BUDGET,
                     blocks: bool = False) -> NotifyResult:
    """Send the pending deletion and restore messages (and with ``blocks`` those of new
    blocks) to every apprise URL in ``urls``.

    Never raises: problems are logged (without the URLs) and reported in the result.
    Call it outside any open transaction on ``db``.
    """
    result = NotifyResult()
    if not urls:
        return result
    try:
        messages = pending_messages(db, replay_base, blocks=blocks)
        if messages:
            _send_all(db, messages, _targets(urls, timeout), result, budget)
    except Exception as exc:  # the caller's run must not fail because a message did not go
        result.error = f"{type(exc).__name__}: {exc}"
        logger.error("notifications not sent: %s; they will be tried again", result.error)
    return result


def pending_messages(db: sqlite_utils.Database, replay_base: str, *,
                     blocks: bool = False) -> list[Message]:
    """The messages still to send, deletions (oldest first), then restores, then (with
    ``blocks``) blocks still in force."""
    base = replay_base.rstrip("/")
    good = ("LEFT JOIN captures g ON g.id = d.last_good_capture_id "
            "LEFT JOIN captures r ON r.id = d.restored_capture_id")
    cols = ("d.*, g.collection AS good_collection, g.captured_at AS good_captured_at, "
            "coalesce(g.fetched_url, g.url) AS good_url, "
            "r.collection AS restored_collection, r.captured_at AS restored_captured_at")
    messages = [
        _deletion_message(row, base) for row in dict_rows(
            db, f"SELECT {cols} FROM deletions d {good} WHERE d.notified_at IS NULL "
                "ORDER BY d.detected_at, d.id")
    ]
    messages += [
        _restore_message(row, base) for row in dict_rows(
            db, f"SELECT {cols} FROM deletions d {good} WHERE d.restored_at IS NOT NULL "
                "AND d.restore_notified_at IS NULL ORDER BY d.restored_at, d.id")
    ]
    if blocks:
        messages += [_block_message(row, base) for row in dict_rows(
            db, "SELECT b.*, c.collection, c.captured_at, coalesce(c.fetched_url, c.url) AS"
                " captured_url FROM blocks b LEFT JOIN captures c ON c.id = b.capture_id"
                " WHERE b.notified_at IS NULL AND b.unblocked_at IS NULL"
                " ORDER BY b.first_blocked_at, b.id")]
    return messages


def _replay(base: str, collection: str | None, captured_at: str | None,
            url: str) -> str | None:
    """The replay URL of a capture, as the deletion objects write it (archive.urlnorm)."""
    stamp = timestamp14(parse_iso(captured_at)) if captured_at else None
    return replay_url(f"{base.rstrip('/')}/replay", collection, stamp, url)


def redact(url: str, index: int) -> str:
    """How a target is named in logs: ``notify.urls[1] (json://example.org)``, the host only when
    it looks like a host name (some services put a token there)."""
    scheme, _, rest = url.partition("://")
    try:
        host = urlsplit(f"x://{rest}").hostname or ""
    except ValueError:
        host = ""
    shown = f"{scheme}://{host}" if host and _HOSTNAME_RE.match(host) else f"{scheme}://…"
    return f"notify.urls[{index}] ({shown})"


def _deletion_message(row: dict[str, Any], base: str) -> Message:
    # the last good capture's own URL: for an item, the list page it was last seen on
    replay = _replay(base, row["good_collection"], row["good_captured_at"],
                        row.get("good_url") or row["url"])
    reason = row["reason"]
    lines = [f"Deleted: {row['url']}", f"Reason: {reason}"
             + (f" (rule {row['rule']})" if row.get("rule") else "")]
    if row.get("item_id"):
        lines.append(f"Item: {row['item_id']} of {row.get('parent_url') or '?'}")
        if row.get("item_text"):
            text = row["item_text"]
            lines.append("Last archived text: " + (text if len(text) <= 500 else
                                                   text[:500] + "…"))
    if row.get("http_status"):
        lines.append(f"HTTP status: {row['http_status']}")
    lines.append(f"Detected: {row['detected_at']}")
    if row.get("last_seen_alive_at"):
        lines.append(f"Last seen alive: {row['last_seen_alive_at']}")
    if row.get("source"):
        lines.append(f"Source: {row['source']}")
    lines.append(f"Archived copy: {replay or 'none'}")
    return Message(row["id"], "notified_at", f"Deleted ({reason}): {row['url']}",
                   "\n".join(lines))


def _restore_message(row: dict[str, Any], base: str) -> Message:
    before = _replay(base, row["good_collection"], row["good_captured_at"], row["url"])
    after = _replay(base, row["restored_collection"], row["restored_captured_at"], row["url"])
    lines = [f"Restored: {row['url']}", f"Restored at: {row['restored_at']}",
             f"Was deleted: {row['reason']}, detected {row['detected_at']}",
             f"Archived copy before the deletion: {before or 'none'}"]
    if after:
        lines.append(f"Archived copy after the restore: {after}")
    return Message(row["id"], "restore_notified_at", f"Restored: {row['url']}", "\n".join(lines))


def _block_message(row: dict[str, Any], base: str) -> Message:
    view = view_name(row["collection"], row["vantage"]) if row.get("collection") else None
    seen = _replay(base, view, row["captured_at"], row.get("captured_url") or row["url"])
    lines = [f"Blocked at {row['vantage']}: {row['url']}", f"Reason: {row['reason']}"
             + (f" (rule {row['rule']})" if row.get("rule") else ""),
             f"First blocked: {row['first_blocked_at']}"]
    if row.get("http_status"):
        lines.append(f"HTTP status at {row['vantage']}: {row['http_status']}")
    if row.get("detail"):
        lines.append(f"Detail: {row['detail']}")
    lines.append(f"What {row['vantage']} was answered: {seen or 'nothing to replay'}")
    return Message(row["id"], "notified_at", f"Blocked at {row['vantage']} ({row['reason']}): "
                   f"{row['url']}", "\n".join(lines), table="blocks")


def _targets(urls: Sequence[str], timeout: float) -> list[tuple[str, Any]]:
    asset = apprise.AppriseAsset(storage_mode="memory")  # write nothing outside the home
    targets: list[tuple[str, Any]] = []
    for index, url in enumerate(urls):
        label = redact(url, index)
        plugin = apprise.Apprise.instantiate(url, asset=asset)
        if plugin is None:
            logger.error("%s is not a notification URL apprise understands; fix it in the "
                         "config's [notify] urls", label)
            continue
        plugin.socket_connect_timeout = timeout
        plugin.socket_read_timeout = timeout
        targets.append((label, plugin))
    return targets


def _send_all(db: sqlite_utils.Database, messages: list[Message],
              targets: list[tuple[str, Any]], result: NotifyResult, budget: float) -> None:
    if not targets:
        result.pending = len(messages)
        logger.error("%d notification(s) waiting: no usable notification URL", len(messages))
        return
    deadline = time.monotonic() + budget
    for done, message in enumerate(messages):
        if time.monotonic() >= deadline:
            result.pending = len(messages) - done
            logger.warning("%d notification(s) left for the next run (time budget of %.0f s "
                           "spent)", result.pending, budget)
            return
        for label, plugin in targets:
            if not _send(plugin, message):
                result.failed.append(label)
                result.pending = len(messages) - done
                logger.warning("could not notify %s; %d notification(s) will be tried again "
                               "on the next run", label, result.pending)
                return
        with db.conn:
            db.execute(f"UPDATE {message.table} SET {message.column} = ? "
                       f"WHERE id = ? AND {message.column} IS NULL",
                       [iso(utcnow()), message.row_id])
        result.sent += 1


def _send(plugin: Any, message: Message) -> bool:
    try:
        return bool(plugin.notify(body=message.body, title=message.title,
                                  body_format=apprise.NotifyFormat.TEXT))
    except Exception as exc:  # a plugin bug must not lose the message: it is retried
        logger.warning("notifier raised %s", type(exc).__name__)
        return False
