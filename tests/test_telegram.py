"""Telegram channels: messages as items, item deletions confirmed through the embed page, and
no false deletions from albums, service messages, gaps or a channel that went away."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive.config_file import ConfigError
from archive.platforms.telegram import Channel, NotAChannel, list_job, parse_channel_page
from archive.seeds import load_seeds
from tests.support.helpers import all_records, rows, run_cli, write_config
from tests.support.telegramsite import TelegramSite, preview_page

BASE = "http://127.0.0.1:9"


def _messages() -> list[dict]:
    """Ids 1-14: an album at 5 (with 6 and 7), a service message at 10, and no 12 (a gap)."""
    messages = [{"id": i, "text": f"Сообщение {i}: новости Казахстана\nline two of {i}",
                 "date": f"2026-11-30T{i:02d}:00:00+00:00", "views": f"{i}K"}
                for i in (1, 2, 3, 4, 8, 9, 11, 13, 14)]
    messages.append({"id": 5, "text": "An album of three photos", "album": [6, 7],
                     "date": "2026-11-30T05:00:00+00:00"})
    messages.append({"id": 10, "text": "KZ Report pinned «Сообщение 9»", "service": True,
                     "date": "2026-11-30T10:00:00+00:00"})
    return sorted(messages, key=lambda m: m["id"])


def test_preview_page_parses_messages_albums_and_service_messages() -> None:
    channel = Channel.from_url(f"{BASE}/s/kzreport")
    page = parse_channel_page(
        preview_page(BASE, {"name": "kzreport", "title": "KZ Report", "per_page": 6,
                            "messages": _messages()}, None).encode(),
        "text/html; charset=utf-8", channel)
    assert page.title == "KZ Report"
    assert [m.seq for m in page.messages] == [8, 9, 10, 11, 13, 14]
    assert page.covers == (8, 14) and page.before == 8
    first = page.messages[0]
    assert first.item_id == "kzreport/8" and first.url == f"{BASE}/kzreport/8"
    assert first.check_url == f"{BASE}/kzreport/8?embed=1"
    assert first.text == "Сообщение 8: новости Казахстана\nline two of 8"
    assert first.posted_at == "2026-11-30T08:00:00+00:00" and first.views == "8K"
    assert [m.service for m in page.messages] == [False, False, True, False, False, False]
    older = parse_channel_page(
        preview_page(BASE, {"name": "kzreport", "per_page": 6, "messages": _messages()},
                     8).encode(), "text/html", channel)
    album = next(m for m in older.messages if m.seq == 5)
    assert album.album_ids == (6, 7) and {5, 6, 7} <= older.ids_seen
    assert album.media == tuple(f"{BASE}/file/{i}.jpg" for i in (5, 6, 7))
    assert older.covers == (0, 5) and older.before is None     # the channel's first page
    asked = parse_channel_page(
        preview_page(BASE, {"name": "kzreport", "per_page": 6, "messages": _messages()},
                     8).encode(), "text/html", channel, before=8)
    assert asked.covers == (0, 7)                 # up to the ?before= it was asked with
    job = list_job(page, channel, "<urn:uuid:x>", source="kz")
    assert job.parent_url == f"{BASE}/s/kzreport"
    service = next(i for i in job.items if i.service)
    assert service.check_url is None                 # a service message is never confirmed


@pytest.mark.parametrize("url", ["https://t.me/", "https://t.me/s/", "https://t.me/a/b/c",
                                 "ftp://t.me/durov"])
def test_a_url_that_names_no_channel_is_refused(url: str) -> None:
    with pytest.raises(NotAChannel):
        Channel.from_url(url)


def test_bad_telegram_seed_names_the_key_and_the_fix(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.toml"
    seeds.write_text('[[source]]\nname = "tg"\nkind = "telegram"\n'
                     'url = "https://t.me/s/"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_seeds(seeds)
    message = str(caught.value)
    assert "source[0] (tg).url" in message and "https://t.me/<channel>" in message
    result = run_cli(tmp_path / "home", "crawl", "--seeds", str(seeds), expect=2)
    assert result.output.count("\n") == 1


def _seeds(home: Path, site: TelegramSite, **extra: object) -> Path:
    seeds = home / "seeds.toml"
    lines = ['[[source]]', 'name = "kz-channel"', 'kind = "telegram"',
             f'url = "{site.url("/s/kzreport")}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    seeds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return seeds


def _configure(home: Path) -> None:
    write_config(home, obey_robots=False, timeout=5)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')


def test_a_deleted_message_is_logged_with_its_channel_id_and_text(tmp_home: Path) -> None:
    _configure(tmp_home)
    with TelegramSite() as site:
        messages = _messages()
        site.channel("kzreport", messages, title="KZ Report", per_page=4)
        seeds = _seeds(tmp_home, site, max_pages=4)
        first = run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        assert "errors 0" in first.output, first.output
        items = rows(tmp_home, "SELECT item_id, seq, service, state, text, meta FROM items"
                               " ORDER BY seq")
        assert [i["seq"] for i in items] == [1, 2, 3, 4, 5, 8, 9, 10, 11, 13, 14]
        assert {i["state"] for i in items} == {"present"}
        assert json.loads(items[4]["meta"])["album_ids"] == [6, 7]
        # the card is a watched page; the preview pages are archived but not watched
        watched = [r["url"] for r in rows(tmp_home, "SELECT url FROM urls")]
        assert watched == [site.url("/kzreport")]
        previews = [r for r in all_records(tmp_home)
                    if r["type"] == "response" and "/s/kzreport" in r["uri"]]
        assert len(previews) == 3

        # 13 (newest page) and 3 (oldest page) are deleted, 11 removed for breaking the Terms of
        # Service; 9 is only left out of the list
        for m in messages:
            m["deleted"] = m["id"] in (3, 13)
            m["tos"] = m["id"] == 11
            m["hidden"] = m["id"] == 9
        site.channel("kzreport", messages, title="KZ Report", per_page=4)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        suspected = rows(tmp_home, "SELECT item_id FROM items WHERE state = 'suspected'"
                                   " ORDER BY seq")
        assert [s["item_id"] for s in suspected] == ["kzreport/3", "kzreport/9", "kzreport/11",
                                                     "kzreport/13"]
        item_urls = rows(tmp_home, "SELECT url, item_id, parent_url, next_check_at FROM urls"
                                   " WHERE item_id IS NOT NULL ORDER BY url")
        assert {u["url"] for u in item_urls} == {
            site.url(f"/kzreport/{i}?embed=1") for i in (3, 9, 11, 13)}
        assert {u["parent_url"] for u in item_urls} == {site.url("/s/kzreport")}

        run_cli(tmp_home, "recheck", "--due")
        run_cli(tmp_home, "recheck", "--due")
        deletions = json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)
        _notified_with_the_item(tmp_home, site.url("/s/kzreport"))
        _evidence_has_the_item(tmp_home, site.url("/kzreport/3?embed=1"))

        # 13 comes back: listed again, its own URL is re-checked at once and the deletion restored
        for m in messages:
            m["deleted"] = m["id"] == 3
            m["tos"] = m["id"] == 11
        site.channel("kzreport", messages, title="KZ Report", per_page=4)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        run_cli(tmp_home, "recheck", "--due")
        restored = json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)
    assert {d["item_id"]: bool(d["restored_at"]) for d in restored} == {
        "kzreport/13": True, "kzreport/3": False, "kzreport/11": False}
    by_item = {d["item_id"]: d for d in deletions}
    assert sorted(by_item) == ["kzreport/11", "kzreport/13", "kzreport/3"]
    tos = by_item.pop("kzreport/11")
    assert tos["reason"] == "censored" and tos["evidence"]["rule"] == "telegram/terms-of-service@1"
    for deletion in by_item.values():
        number = deletion["item_id"].split("/")[1]
        assert deletion["parent_url"] == site.url("/s/kzreport")
        assert deletion["url"] == site.url(f"/kzreport/{number}?embed=1")
        assert deletion["reason"] == "gone"
        assert deletion["evidence"]["rule"] == "telegram/post-not-found@1"
        assert deletion["item_text"] == (f"Сообщение {number}: новости Казахстана\n"
                                         f"line two of {number}")
        assert deletion["last_good_capture"]["warc_filename"]     # the page it was last seen on
    assert rows(tmp_home, "SELECT url FROM diffs") == []     # the card's count is no edit
    states = {r["item_id"]: r["state"] for r in rows(tmp_home, "SELECT item_id, state FROM items")}
    assert states["kzreport/3"] == "deleted" and states["kzreport/13"] == "present"
    assert states["kzreport/9"] == "present"            # its embed page still shows it
    table = run_cli(tmp_home, "deletions").output
    assert "kzreport/13" in table and "of " + site.url("/s/kzreport") in table
    _shown_in_the_web_ui(tmp_home, site.url("/kzreport/3?embed=1"))


def _evidence_has_the_item(home: Path, url: str) -> None:
    """The evidence bundle of an item deletion: the list page it was last seen on, and the
    deletion with the item's id and text."""
    import zipfile

    out = home.parent / "evidence.wacz"
    run_cli(home, "export", "evidence", url, str(out))
    with zipfile.ZipFile(out) as wacz:
        deletion = json.loads(wacz.read("evidence/deletion.json"))
        pages = wacz.read("pages/pages.jsonl").decode()
    assert deletion["deletion"]["item_id"] == "kzreport/3"
    assert deletion["deletion"]["item_text"].startswith("Сообщение 3")
    assert "/s/kzreport" in pages


def _notified_with_the_item(home: Path, parent: str) -> None:
    """The message a notification would carry: the item, its text, and a replay link to the
    list page it was last seen on (not to the item's own URL, never captured alive)."""
    from archive.catalogue.db import connect
    from archive.export.notify import pending_messages

    db = connect(home / "memoryhole.db")
    messages = {m.title: m.body for m in pending_messages(db, "http://ui.example")}
    db.conn.close()
    body = next(b for t, b in messages.items() if t.endswith("/kzreport/3?embed=1"))
    assert f"Item: kzreport/3 of {parent}" in body
    assert "Last archived text: Сообщение 3: новости Казахстана" in body
    assert f"/{parent}?before=" in body.split("Archived copy: ")[1]


def _shown_in_the_web_ui(home: Path, url: str) -> None:
    import html
    from urllib.parse import quote
    from urllib.request import urlopen

    from tests.support.webhome import ServeProcess

    with ServeProcess(home) as served:
        with urlopen(f"{served.ui}/", timeout=30) as answer:
            log = answer.read().decode()
        with urlopen(f"{served.ui}/url?u={quote(url, safe='')}", timeout=30) as answer:
            page = html.unescape(answer.read().decode())
    assert "item kzreport/3 of" in log
    assert "Item <code>kzreport/3</code> of" in page
    assert "Сообщение 3: новости Казахстана\nline two of 3</blockquote>" in page


def test_a_channel_that_went_away_is_account_gone_and_its_messages_are_not_suspected(
        tmp_home: Path) -> None:
    _configure(tmp_home)
    with TelegramSite() as site:
        site.channel("kzreport", _messages(), title="KZ Report", per_page=20)
        seeds = _seeds(tmp_home, site)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        assert len(rows(tmp_home, "SELECT id FROM items")) == 11
        site.channel("kzreport", _messages(), title="KZ Report", gone=True)
        second = run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        assert "errors 0" in second.output
        assert rows(tmp_home, "SELECT id FROM items WHERE state != 'present'") == []
        run_cli(tmp_home, "recheck", "--all")
        run_cli(tmp_home, "recheck", "--all")
        deletions = json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)
    assert [(d["url"], d["reason"], d["item_id"]) for d in deletions] == [
        (site.url("/kzreport"), "account_gone", None)]


def test_messages_older_than_the_pages_fetched_are_not_suspected(tmp_home: Path) -> None:
    """Only the range a page shows counts: a later crawl that reads fewer pages suspects
    nothing on the pages it did not read."""
    _configure(tmp_home)
    with TelegramSite() as site:
        site.channel("kzreport", _messages(), per_page=3)
        run_cli(tmp_home, "crawl", "--seeds", str(_seeds(tmp_home, site, max_pages=4)))
        assert len(rows(tmp_home, "SELECT id FROM items")) == 11
        run_cli(tmp_home, "crawl", "--seeds", str(_seeds(tmp_home, site, max_pages=1)))
        assert rows(tmp_home, "SELECT item_id FROM items WHERE state != 'present'") == []
        assert rows(tmp_home, "SELECT url FROM urls WHERE item_id IS NOT NULL") == []


def test_a_channel_withheld_in_one_country_is_blocked_not_deleted(tmp_home: Path) -> None:
    """The "violated local laws" notice (Kazakhstan, Russia...): the channel exists elsewhere, so
    its card's re-checks are blocked, and its messages, gone from the preview, are not
    suspected."""
    _configure(tmp_home)
    with TelegramSite() as site:
        site.channel("kzreport", _messages(), title="KZ Report")
        seeds = _seeds(tmp_home, site)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        run_cli(tmp_home, "recheck", "--all")       # the card's subscriber count has grown
        assert [c["outcome"] for c in rows(tmp_home, "SELECT outcome FROM checks")] == ["alive"]
        site.channel("kzreport", _messages(), title="KZ Report", withheld=True)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        run_cli(tmp_home, "recheck", "--all")
        run_cli(tmp_home, "recheck", "--all")
        assert json.loads(run_cli(tmp_home, "deletions", "--format", "json").output) == []
        assert rows(tmp_home, "SELECT id FROM items WHERE state != 'present'") == []
        checks = rows(tmp_home, "SELECT outcome, reason FROM checks ORDER BY id")[1:]
    assert {(c["outcome"], c["reason"]) for c in checks} == {("blocked", "geo_blocked")}


def test_a_down_preview_or_embed_page_is_never_a_deletion(tmp_home: Path) -> None:
    """502s: a preview that does not load suspects nothing; an embed page that does not load
    is a transient check; once it loads again, the deletion is confirmed."""
    _configure(tmp_home)
    with TelegramSite() as site:
        messages = _messages()
        site.channel("kzreport", messages)
        seeds = _seeds(tmp_home, site)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        for m in messages:
            m["deleted"] = m["id"] == 13
        site.channel("kzreport", messages, down=["preview"])
        down = run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        assert "errors 1" in down.output, down.output        # reported, not a deletion
        assert rows(tmp_home, "SELECT id FROM items WHERE state != 'present'") == []
        site.channel("kzreport", messages, down=["embed"])
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        assert [r["item_id"] for r in rows(tmp_home, "SELECT item_id FROM items WHERE state ="
                                                     " 'suspected'")] == ["kzreport/13"]
        run_cli(tmp_home, "recheck", "--due")
        checks = rows(tmp_home, "SELECT outcome, reason FROM checks")
        assert checks == [{"outcome": "transient", "reason": "http_5xx"}]
        assert json.loads(run_cli(tmp_home, "deletions", "--format", "json").output) == []
        site.channel("kzreport", messages)
        run_cli(tmp_home, "recheck", "--url", site.url("/kzreport/13?embed=1"))
        run_cli(tmp_home, "recheck", "--url", site.url("/kzreport/13?embed=1"))
        deletions = json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)
    assert [(d["item_id"], d["reason"]) for d in deletions] == [("kzreport/13", "gone")]


def test_an_edited_message_keeps_every_version(tmp_home: Path) -> None:
    """A message edited between two crawls keeps both texts, oldest first, in `history` (the
    channel's, and the message's own when it is watched) and on the web UI's timeline page,
    escaped; an unedited message keeps one version."""
    from tests.support.helpers import http_get
    from tests.support.webhome import ServeProcess

    _configure(tmp_home)
    with TelegramSite() as site:
        messages = _messages()
        site.channel("kzreport", messages, title="KZ Report", per_page=20)
        seeds = _seeds(tmp_home, site)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        edited = next(m for m in messages if m["id"] == 8)
        edited["text"] = "Сообщение 8 (исправлено): <b>новости</b>"
        site.channel("kzreport", messages, title="KZ Report", per_page=20)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))       # listed again, unchanged
        channel = site.url("/s/kzreport")
    versions = rows(tmp_home, "SELECT i.item_id, v.text FROM item_versions AS v JOIN items AS i"
                              " ON i.id = v.item_row_id ORDER BY i.seq, v.seen_at, v.id")
    assert [v["text"] for v in versions if v["item_id"] == "kzreport/8"] == [
        "Сообщение 8: новости Казахстана\nline two of 8",
        "Сообщение 8 (исправлено): <b>новости</b>"]
    assert [v["item_id"] for v in versions].count("kzreport/9") == 1
    # the channel's history lists its edited messages (the list is a capture, not watched)
    history = json.loads(run_cli(tmp_home, "history", channel, "--format", "json").output)
    (item,) = history["items"]
    assert item["item_id"] == "kzreport/8" and len(item["versions"]) == 2
    assert item["versions"][0]["seen_at"] < item["versions"][1]["seen_at"]
    table = run_cli(tmp_home, "history", channel).output
    assert "item kzreport/8" in table and "исправлено" in table
    with ServeProcess(tmp_home) as served:
        status, _, body = http_get(served.ui, "/url?u=" + channel)
    page = body.decode()
    assert status == 200 and "Item versions" in page and "исправлено" in page
    assert "line two of 8" in page
    assert "&lt;b&gt;новости" in page and "<b>новости" not in page     # the text is escaped
