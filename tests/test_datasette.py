"""The catalogue opens in Datasette with memoryhole's metadata
(archive/catalogue/datasette_metadata.json):
each canned query runs in a real ``datasette`` process on a real catalogue and answers what
SQL on the same file answers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from archive.catalogue.db import open_catalogue
from tests.support.helpers import free_port

METADATA = (Path(__file__).resolve().parent.parent / "archive" / "catalogue"
            / "datasette_metadata.json")
DELETIONS = [
    ("http://a.cn/1", "a.cn", "wechat-kz", "censored", "2026-11-01T10:00:00Z", None),
    ("http://a.cn/2", "a.cn", "wechat-kz", "censored", "2026-11-01T12:00:00Z", None),
    ("http://a.cn/3", "a.cn", "wechat-kz", "author_deleted", "2026-11-02T09:00:00Z", None),
    ("http://b.org/1", "b.org", "news", "gone", "2026-11-03T08:00:00Z", "2026-11-04T00:00:00Z"),
]


def _catalogue(path: Path) -> None:
    db = open_catalogue(path)
    for url, domain, source, reason, detected, restored in DELETIONS:
        capture = db["captures"].insert({
            "url": url, "captured_at": "2026-10-30T00:00:00Z", "warc_filename": "x.warc.gz",
            "warc_offset": 0, "status": 200, "title": f"title of {url}"}).last_pk
        db["deletions"].insert({
            "url": url, "domain": domain, "source": source, "reason": reason,
            "detected_at": detected, "restored_at": restored, "last_good_capture_id": capture})
    db["deletions"].insert({
        "url": "https://t.me/kzreport/7?embed=1", "domain": "t.me", "source": "tg",
        "reason": "gone", "detected_at": "2026-11-05T00:00:00Z", "item_id": "kzreport/7",
        "parent_url": "https://t.me/s/kzreport", "item_text": "Сообщение 7"})
    db.conn.close()


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return json.loads(response.read())


def test_canned_queries_in_datasette(tmp_path: Path) -> None:
    db_path = tmp_path / "memoryhole.db"
    _catalogue(db_path)
    port = free_port()
    datasette = Path(sys.executable).parent / "datasette"
    assert datasette.exists(), "datasette missing: make venv installs the test extras"
    process = subprocess.Popen(
        [str(datasette), "serve", str(db_path), "--metadata", str(METADATA), "--host",
         "127.0.0.1", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(base, "/-/versions.json")
                break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "datasette did not start"
                time.sleep(0.2)
        by_reason = _get(base, "/memoryhole/deletions_by_reason.json?_shape=objects")["rows"]
        assert [(r["reason"], r["deletions"], r["restored"]) for r in by_reason] == [
            ("censored", 2, 0), ("gone", 2, 1), ("author_deleted", 1, 0)]
        by_day = _get(base, "/memoryhole/deletions_by_day.json?_shape=objects&since=")["rows"]
        assert [(r["day"], r["deletions"], r["censored"]) for r in by_day] == [
            ("2026-11-01", 2, 2), ("2026-11-02", 1, 0), ("2026-11-03", 1, 0),
            ("2026-11-05", 1, 0)]
        later = _get(base, "/memoryhole/deletions_by_day.json?_shape=objects&since=2026-11-02")
        assert [r["day"] for r in later["rows"]] == ["2026-11-02", "2026-11-03", "2026-11-05"]
        by_source = _get(base, "/memoryhole/deletions_by_source.json?_shape=objects")["rows"]
        assert [(r["source"], r["reason"], r["deletions"]) for r in by_source] == [
            ("news", "gone", 1), ("tg", "gone", 1), ("wechat-kz", "censored", 2),
            ("wechat-kz", "author_deleted", 1)]
        items = _get(base, "/memoryhole/item_deletions.json?_shape=objects&parent="
                           "https%3A%2F%2Ft.me%2Fs%2Fkzreport")["rows"]
        assert [(r["item_id"], r["item_text"]) for r in items] == [("kzreport/7", "Сообщение 7")]
        none = _get(base, "/memoryhole/item_deletions.json?_shape=objects&parent=https%3A%2F%2Fx")
        assert none["rows"] == []
        recent = _get(base, "/memoryhole/recent_deletions.json?_shape=objects&reason=censored")
        assert [r["url"] for r in recent["rows"]] == ["http://a.cn/2", "http://a.cn/1"]
        assert recent["rows"][0]["last_good_title"] == "title of http://a.cn/2"
        tables = {t["name"]: t for t in _get(base, "/memoryhole.json")["tables"]}
        assert tables["fts_pending"]["hidden"] is True and not tables["deletions"]["hidden"]
        assert tables["deletions"]["count"] == 5
    finally:
        process.terminate()
        process.wait(timeout=20)
