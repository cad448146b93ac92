"""archive.export.notify: one apprise message per deletion and restore, sent to a real local
endpoint;
rows are stamped only after a send, failures are retried, URLs with secrets never logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archive.catalogue import db as catalogue
from archive.catalogue.deletions import DeletionFilter, query_deletions
from archive.export.notify import notify_deletions, pending_messages, redact
from tests.support.endpoint import SLOW_SECONDS, Endpoint

REPLAY = "http://127.0.0.1:8765"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.close()


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = catalogue.open_catalogue(tmp_path / "memoryhole.db")
    database["captures"].insert_all([
        {"id": 1, "url": "https://news.example/a", "captured_at": "2026-11-01T08:00:00Z",
         "collection": "main", "warc_filename": "a.warc.gz", "warc_record_id": "<urn:1>"},
        {"id": 2, "url": "https://mp.example/s/x", "captured_at": "2026-11-02T09:30:15.5Z",
         "collection": "main", "warc_filename": "a.warc.gz", "warc_record_id": "<urn:2>"},
        {"id": 3, "url": "https://mp.example/s/x", "captured_at": "2026-11-05T10:00:00Z",
         "collection": "main", "warc_filename": "b.warc.gz", "warc_record_id": "<urn:3>"},
    ])
    database["deletions"].insert_all([
        {"id": 1, "url": "https://news.example/a", "reason": "gone", "http_status": 404,
         "detected_at": "2026-11-03T00:00:00Z", "last_good_capture_id": 1, "source": "news"},
        {"id": 2, "url": "https://mp.example/s/x", "reason": "censored",
         "rule": "wechat.violation", "detected_at": "2026-11-04T00:00:00Z",
         "last_good_capture_id": 2, "notified_at": "2026-11-04T00:01:00Z",
         "restored_at": "2026-11-05T10:00:00Z", "restored_capture_id": 3},
        {"id": 3, "url": "https://other.example/b", "reason": "unknown",
         "detected_at": "2026-11-04T12:00:00Z"},
    ])
    yield database
    database.conn.close()


def _stamps(db: Any) -> dict[int, tuple[Any, Any]]:
    return {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT id, notified_at, restore_notified_at FROM deletions ORDER BY id").fetchall()}


def _closed_port() -> int:
    server = Endpoint()
    port = server.port
    server.close()
    return port


def test_one_message_per_deletion_and_restore(db, endpoint):
    result = notify_deletions(db, [endpoint.url()], replay_base=REPLAY + "/")
    assert (result.sent, result.pending, result.failed, result.error) == (3, 0, [], None)
    titles = [m["title"] for m in endpoint.received]
    assert titles == ["Deleted (gone): https://news.example/a",
                      "Deleted (unknown): https://other.example/b",
                      "Restored: https://mp.example/s/x"]
    gone, unknown, restored = (m["message"] for m in endpoint.received)
    assert "Reason: gone" in gone and "HTTP status: 404" in gone
    assert "Detected: 2026-11-03T00:00:00Z" in gone
    assert f"{REPLAY}/replay/main/20261101080000/https://news.example/a" in gone
    assert "Archived copy: none" in unknown
    assert "Was deleted: censored" in restored
    assert f"{REPLAY}/replay/main/20261102093015/https://mp.example/s/x" in restored
    assert f"{REPLAY}/replay/main/20261105100000/https://mp.example/s/x" in restored
    stamps = _stamps(db)
    assert stamps[1][0] and stamps[3][0] and stamps[2][1]
    # nothing left: a second call sends nothing
    assert notify_deletions(db, [endpoint.url()], replay_base=REPLAY).sent == 0
    assert len(endpoint.received) == 3


def test_every_target_gets_each_message(db, endpoint):
    second = Endpoint()
    try:
        result = notify_deletions(db, [endpoint.url("/a"), second.url("/b")], replay_base=REPLAY)
    finally:
        second.close()
    assert result.sent == 3
    assert len(endpoint.received) == len(second.received) == 3


def test_down_endpoint_is_logged_not_marked_and_retried(db, caplog):
    port = _closed_port()
    url = f"json://user:secret@127.0.0.1:{port}/hook"
    caplog.set_level(logging.DEBUG)
    result = notify_deletions(db, [url], replay_base=REPLAY, timeout=2)
    assert result.sent == 0 and result.pending == 3
    assert result.failed == ["notify.urls[0] (json://127.0.0.1)"]
    assert _stamps(db) == {1: (None, None), 2: ("2026-11-04T00:01:00Z", None), 3: (None, None)}
    assert "could not notify notify.urls[0] (json://127.0.0.1)" in caplog.text
    # the endpoint comes back on the same address: the same call now delivers everything
    server = Endpoint(port)
    try:
        again = notify_deletions(db, [url], replay_base=REPLAY)
    finally:
        server.close()
    assert again.sent == 3 and again.pending == 0
    assert len(server.received) == 3 and server.received[0]["auth"].startswith("Basic ")
    assert "secret" not in caplog.text
    assert "user:secret" not in repr([r.args for r in caplog.records])


def test_a_failure_stops_the_call_and_keeps_the_rest(db, endpoint):
    dead = f"json://127.0.0.1:{_closed_port()}/"
    result = notify_deletions(db, [endpoint.url(), dead], replay_base=REPLAY, timeout=2)
    assert result.sent == 0 and result.pending == 3
    assert len(endpoint.received) == 1  # the healthy target may see that one again later
    assert notify_deletions(db, [endpoint.url()], replay_base=REPLAY).sent == 3


def test_slow_endpoint_is_bounded_by_the_timeout(db, endpoint):
    started = time.monotonic()
    result = notify_deletions(db, [endpoint.url("/slow")], replay_base=REPLAY, timeout=0.5)
    # bounded by the timeout, not by the endpoint (which answers after SLOW_SECONDS)
    assert time.monotonic() - started < SLOW_SECONDS / 2
    assert result.sent == 0 and result.pending == 3


def test_time_budget_leaves_the_rest_for_next_call(db, endpoint):
    result = notify_deletions(db, [endpoint.url()], replay_base=REPLAY, budget=0)
    assert result.sent == 0 and result.pending == 3 and not endpoint.received


def test_bad_url_and_broken_catalogue_never_raise(db, caplog, tmp_path):
    result = notify_deletions(db, ["nonsense://user:secret@host/"], replay_base=REPLAY)
    assert result.sent == 0 and result.pending == 3
    assert "notify.urls[0] (nonsense://…) is not a notification URL" in caplog.text
    assert "secret" not in caplog.text
    empty = catalogue.connect(tmp_path / "empty.db")  # no deletions table
    broken = notify_deletions(empty, ["json://127.0.0.1:9/"], replay_base=REPLAY)
    assert broken.error and "no such table" in broken.error


def test_no_urls_sends_nothing_and_marks_nothing(db):
    assert notify_deletions(db, [], replay_base=REPLAY).sent == 0
    assert len(pending_messages(db, REPLAY)) == 3


@pytest.mark.parametrize("url,shown", [
    ("json://user:pw@hooks.example.org:8443/x?token=abc", "json://hooks.example.org"),
    ("tgram://123456789:AAbbCC/12345", "tgram://…"),
    ("slack://TokenA/TokenB/TokenC/", "slack://…"),
    ("mailto://user:pw@gmail.com", "mailto://gmail.com"),
])
def test_redact_keeps_only_plain_host_names(url, shown):
    assert redact(url, 2) == f"notify.urls[2] ({shown})"


def test_notification_links_are_the_deletion_objects_replay_urls(db, endpoint):
    """A deletion of a Chinese URL: the link a notification carries is the ``replay_url`` of
    ``deletions --format json`` (one builder, archive.urlnorm.replay_url, percent-encodes both)."""
    url = "https://news.example/新闻/哈萨克斯坦?标题=回归 中国"
    db["captures"].insert({"id": 4, "url": url, "captured_at": "2026-11-06T01:02:03Z",
                           "collection": "main", "warc_filename": "c.warc.gz",
                           "warc_record_id": "<urn:4>"})
    db["deletions"].insert({"id": 4, "url": url, "reason": "censored",
                            "detected_at": "2026-11-07T00:00:00Z", "last_good_capture_id": 4})
    notify_deletions(db, [endpoint.url()], replay_base=REPLAY)
    [message] = [m["message"] for m in endpoint.received if url in m["title"]]
    [deletion] = [d for d in query_deletions(db, DeletionFilter(), replay_base=REPLAY)
                  if d["url"] == url]
    assert deletion["replay_url"] == (
        f"{REPLAY}/replay/main/20261106010203/https://news.example/%E6%96%B0%E9%97%BB/"
        "%E5%93%88%E8%90%A8%E5%85%8B%E6%96%AF%E5%9D%A6?%E6%A0%87%E9%A2%98="
        "%E5%9B%9E%E5%BD%92%20%E4%B8%AD%E5%9B%BD")
    assert f"Archived copy: {deletion['replay_url']}\n" in message + "\n"


def test_new_blocks_are_announced_only_when_asked(db: Any, endpoint: Endpoint) -> None:
    """``[notify] blocks``: a block still in force is announced once, with what the vantage
    was answered; a lifted one never; without the switch none."""
    db["captures"].insert({"id": 9, "url": "https://news.example/a", "collection": "main",
                           "captured_at": "2026-11-06T01:02:03Z", "warc_filename": "c.warc.gz",
                           "warc_record_id": "<urn:9>", "vantage": "kz"})
    db["blocks"].insert_all([
        {"id": 1, "url": "https://news.example/a", "vantage": "kz", "reason": "geo_blocked",
         "first_blocked_at": "2026-11-06T01:02:03Z", "last_blocked_at": "2026-11-06T01:02:03Z",
         "http_status": 451, "capture_id": 9, "detail": "alive at the control"},
        {"id": 2, "url": "https://news.example/b", "vantage": "kz", "reason": "reset",
         "first_blocked_at": "2026-11-06T01:00:00Z", "last_blocked_at": "2026-11-06T01:00:00Z",
         "unblocked_at": "2026-11-06T02:00:00Z"},
    ])
    db.execute("UPDATE deletions SET notified_at = 'x', restore_notified_at = 'x'")
    assert notify_deletions(db, [endpoint.url()], replay_base=REPLAY).sent == 0
    assert notify_deletions(db, [endpoint.url()], replay_base=REPLAY, blocks=True).sent == 1
    [message] = endpoint.received
    assert message["title"] == "Blocked at kz (geo_blocked): https://news.example/a"
    assert f"{REPLAY}/replay/main@kz/20261106010203/https://news.example/a" in message["message"]
    assert db.execute("SELECT notified_at IS NOT NULL FROM blocks ORDER BY id").fetchall() == [
        (1,), (0,)]
    assert notify_deletions(db, [endpoint.url()], replay_base=REPLAY, blocks=True).sent == 0
