"""Copies of one story across sites, end to end: real crawls of a scripted loopback server, real
re-check runs, the ``copies`` and ``deletions`` commands (archive.writer.stories,
archive.catalogue.stories)."""

from __future__ import annotations

import json
import re

from archive.timeutil import iso, utcnow
from demosite.content import BORDER_MARKET, KHORGOS, MFA_PROTEST, PIPELINE, WECHAT_RETURN
from demosite.pages import wechat_tombstone
from demosite.reprints import (
    KHORGOS_REPRINT,
    KHORGOS_SHORT,
    KHORGOS_ZH,
    RETURN_ACCOUNT,
    RETURN_ACCOUNT2,
    RETURN_EN,
    RETURN_PORTAL,
)
from demosite.site import render_article, render_wechat
from tests.support.helpers import http_get, rows, run_cli, write_config
from tests.support.webhome import ServeProcess

ORIGINALS = {a.path: render_article(a).decode(a.encoding) for a in
             (KHORGOS, MFA_PROTEST, BORDER_MARKET, PIPELINE)}
ORIGINALS[WECHAT_RETURN.path] = render_wechat(WECHAT_RETURN).decode()


def page(path: str) -> dict:
    if path in ORIGINALS:
        return {"status": 200, "body": ORIGINALS[path]}
    reprint = next(r for r in (KHORGOS_REPRINT, KHORGOS_SHORT, KHORGOS_ZH, RETURN_PORTAL,
                               RETURN_ACCOUNT, RETURN_ACCOUNT2, RETURN_EN) if r.path == path)
    return {"status": 200, "body": reprint.html()}


def configure(home, server, paths, extra: str = "") -> None:
    write_config(home, obey_robots=False, timeout=5, requisites=False)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n' + extra)
    seeds = "".join(
        f'[[source]]\nname = "site{i}"\nkind = "page"\nurl = "{server.url(path)}"\n'
        f'platform = "{"wechat" if path.startswith("/s/") else "news"}"\n'
        for i, path in enumerate(paths))
    (home / "seeds.toml").write_text(seeds, encoding="utf-8")


def crawl(home, server, paths) -> None:
    for path in paths:
        server.script(path, [page(path)])
    configure(home, server, paths)
    run_cli(home, "crawl", "--seeds", str(home / "seeds.toml"))


def copies(home, server, path) -> dict:
    return json.loads(run_cli(home, "copies", server.url(path), "--format", "json").output)


def copy_paths(server, data) -> set[str]:
    return {c["url"].removeprefix(server.base) for c in data["copies"]}


def test_reprints_join_and_translations_do_not(tmp_home, server):
    latin = [KHORGOS.path, KHORGOS_REPRINT.path, KHORGOS_SHORT.path, KHORGOS_ZH.path,
             BORDER_MARKET.path]
    cjk = [WECHAT_RETURN.path, RETURN_PORTAL.path, RETURN_ACCOUNT.path, RETURN_ACCOUNT2.path,
           RETURN_EN.path, MFA_PROTEST.path]
    crawl(tmp_home, server, latin + cjk)
    khorgos = copies(tmp_home, server, KHORGOS.path)
    # other chrome, title and a credit line: a copy; the first three of five paragraphs
    # (similarity about 0.6): a copy at the default threshold (0.5); the Chinese translation
    # and another article on Khorgos: not copies
    assert copy_paths(server, khorgos) == {KHORGOS.path, KHORGOS_REPRINT.path,
                                           KHORGOS_SHORT.path}
    assert khorgos["story_id"] is not None and khorgos["copies_deleted"] == 0
    by_path = {c["url"].removeprefix(server.base): c for c in khorgos["copies"]}
    assert by_path[KHORGOS.path]["similarity"] == 1.0
    assert 0.75 < by_path[KHORGOS_REPRINT.path]["similarity"] < 1.0
    assert 0.5 <= by_path[KHORGOS_SHORT.path]["similarity"] < 0.75
    assert {c["state"] for c in khorgos["copies"]} == {"alive"}
    assert {c["source"] for c in khorgos["copies"]} == {"site0", "site1", "site2"}
    # CJK: the portal reprint, a shortened reprint and a third account; not the English
    # translation, nor the ministry's protest that names the article
    wechat = copies(tmp_home, server, WECHAT_RETURN.path)
    assert copy_paths(server, wechat) == {WECHAT_RETURN.path, RETURN_PORTAL.path,
                                          RETURN_ACCOUNT.path, RETURN_ACCOUNT2.path}
    assert wechat["story_id"] != khorgos["story_id"]
    for alone in (KHORGOS_ZH.path, RETURN_EN.path, MFA_PROTEST.path, BORDER_MARKET.path):
        data = copies(tmp_home, server, alone)
        assert data["story_id"] is None and len(data["copies"]) == 1, alone
    table = run_cli(tmp_home, "copies", server.url(KHORGOS_SHORT.path)).output
    assert f"story {khorgos['story_id']}: 3 copies, 0 deleted" in table
    assert "site1" in table and "alive" in table
    # a second crawl of unchanged pages keeps every story as it was, with no new MinHash work
    before = rows(tmp_home, "SELECT url_id, signed_at FROM story_signatures ORDER BY url_id")
    run_cli(tmp_home, "crawl", "--seeds", str(tmp_home / "seeds.toml"))
    assert rows(tmp_home, "SELECT url_id, signed_at FROM story_signatures ORDER BY url_id") \
        == before
    again = copies(tmp_home, server, KHORGOS.path)
    assert again["story_id"] == khorgos["story_id"]
    assert [(c["url"], c["similarity"]) for c in again["copies"]] == \
        [(c["url"], c["similarity"]) for c in khorgos["copies"]]


def test_copies_deleted_one_after_another(tmp_home, server):
    story = [WECHAT_RETURN.path, RETURN_PORTAL.path, RETURN_ACCOUNT2.path]
    others = [KHORGOS.path, PIPELINE.path, BORDER_MARKET.path]       # alive all along
    crawl(tmp_home, server, story + others)
    story_id = copies(tmp_home, server, WECHAT_RETURN.path)["story_id"]
    assert story_id is not None

    def delete(path, response, expected_deleted):
        server.script(path, [response])
        started = iso(utcnow())
        run_cli(tmp_home, "recheck", "--all")
        run_cli(tmp_home, "recheck", "--all")
        ended = iso(utcnow())
        found = json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)
        mine = next(d for d in found if d["url"] == server.url(path))
        assert (mine["story_id"], mine["copies"], mine["copies_deleted"]) == \
            (story_id, len(story), expected_deleted)
        # the other copies still watched were made due when it was confirmed, in that run
        alive = rows(tmp_home, "SELECT url, next_check_at FROM urls WHERE story_id = ? AND"
                     " state != 'deleted'", (story_id,))
        assert len(alive) == len(story) - expected_deleted
        for row in alive:
            assert started <= row["next_check_at"] <= ended, row
        unrelated = rows(tmp_home, "SELECT next_check_at FROM urls WHERE story_id IS NULL")
        assert all(row["next_check_at"] > ended for row in unrelated)
        return found

    delete(RETURN_PORTAL.path, {"status": 404, "body": "<h1>页面不存在</h1>"}, 1)
    # `recheck --due` picks the two copies now due (with the run's control checks: stable
    # URLs of its own choosing, archive.catalogue.due), not the deleted copy
    checked = len(rows(tmp_home, "SELECT id FROM checks"))
    run_cli(tmp_home, "recheck")
    due = {r["url"] for r in rows(tmp_home, "SELECT url FROM checks WHERE id > ?", (checked,))}
    assert {server.url(WECHAT_RETURN.path), server.url(RETURN_ACCOUNT2.path)} <= due
    assert server.url(RETURN_PORTAL.path) not in due
    found = delete(WECHAT_RETURN.path,
                   {"status": 200, "body": wechat_tombstone("此内容因违规无法查看")}, 2)
    found = delete(RETURN_ACCOUNT2.path, {"status": 410, "body": "<h1>Gone</h1>"}, 3)
    counts = {d["url"].removeprefix(server.base): (d["reason"], d["copies_deleted"])
              for d in found}
    # each deletion object counts the story's copies deleted now: 3 of 3
    assert counts == {RETURN_PORTAL.path: ("gone", 3), WECHAT_RETURN.path: ("censored", 3),
                      RETURN_ACCOUNT2.path: ("gone", 3)}
    csv_text = run_cli(tmp_home, "deletions", "--format", "csv").output
    assert csv_text.splitlines()[0].endswith(",story_id,copies,copies_deleted")
    assert "3 of 3 copies deleted" in run_cli(tmp_home, "deletions").output
    assert "3 of 3 copies deleted" in run_cli(tmp_home, "deletions", "--format", "atom").output
    data = copies(tmp_home, server, WECHAT_RETURN.path)
    assert data["copies_deleted"] == 3
    reasons = {c["url"].removeprefix(server.base): c["deleted"]["reason"]
               for c in data["copies"]}
    assert reasons == {RETURN_PORTAL.path: "gone", WECHAT_RETURN.path: "censored",
                       RETURN_ACCOUNT2.path: "gone"}
    with ServeProcess(tmp_home) as web:
        status, _, body = http_get(web.ui, "/")
        log = body.decode()
        assert status == 200 and log.count(f'href="/story?id={story_id}"') == 3
        assert "3 of 3 copies deleted" in log
        status, headers, body = http_get(web.ui, f"/story?id={story_id}")
        page_html = body.decode()
        assert status == 200 and "script-src 'none'" in headers["content-security-policy"]
        assert "<script" not in page_html and "<svg" in page_html
        assert "3 copies of one text, 3 of 3 deleted" in page_html
        # which went first: the portal's reprint, then the WeChat original, then the account
        went = dict((url, int(rank)) for rank, url in re.findall(
            r'<td>(\d+)</td>\s*<td class="url"><a href="[^"]*">([^<]*)</a>', page_html))
        assert went == {server.url(RETURN_PORTAL.path): 1, server.url(WECHAT_RETURN.path): 2,
                        server.url(RETURN_ACCOUNT2.path): 3}
        assert page_html.count('<circle class="deleted"') == 3
        assert ">deleted: censored</span>" in page_html
        assert http_get(web.ui, "/story?id=999")[0] == 404
        assert http_get(web.ui, "/story?id=x")[0] == 400
    # a new copy found by a later crawl joins the story
    server.script(RETURN_ACCOUNT.path, [page(RETURN_ACCOUNT.path)])
    run_cli(tmp_home, "crawl", server.url(RETURN_ACCOUNT.path))
    data = copies(tmp_home, server, RETURN_ACCOUNT.path)
    assert (data["story_id"], len(data["copies"]), data["copies_deleted"]) == (story_id, 4, 3)


def test_bad_threshold_exits_2_naming_file_key_and_fix(tmp_home):
    write_config(tmp_home)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write("[stories]\nthreshold = 1.5\n")
    result = run_cli(tmp_home, "crawl", "https://example.org/", expect=2)
    assert "memoryhole.toml: stories.threshold: must be at most 1, got 1.5; use e.g. 0.5" \
        in result.output
