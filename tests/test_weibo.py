"""Weibo through the mobile JSON API: posts and comments as items, a post gone from the
timeline confirmed at statuses/show with the API's reason, a comment gone from the newest list
confirmed by the list, and no false deletions from pinned posts, hot lists, walls or pages not
read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive.config_file import ConfigError
from archive.platforms.weibo import WeiboTarget, html_text, timeline_page, weibo_time
from archive.seeds import load_seeds
from tests.support.helpers import all_records, rows, run_cli, write_config
from tests.support.weibosite import WeiboSite, timeline

UID = "1234567"
P = 4900000000000000          # post ids: P + n, growing with time


def _posts() -> list[dict]:
    posts = [{"id": P + n, "text": f"关于哈萨克斯坦的第{n}条微博<br />第二行",
              "created_at": f"Mon Nov 30 {n:02d}:00:00 +0800 2026"} for n in range(1, 9)]
    posts.append({"id": P, "text": "置顶微博", "pinned": True})
    return posts


def test_timeline_json_gives_posts_and_a_range_without_the_pinned_post() -> None:
    target = WeiboTarget.from_url(f"http://127.0.0.1:9/u/{UID}")
    user = {"uid": UID, "screen_name": "记者", "per_page": 3, "posts": _posts()}
    user["posts"][7]["retweet_of"] = 42
    page = timeline_page(timeline(user, None)["data"], target, "<urn:uuid:x>", source="w")
    assert [i.seq - P for i in page.job.items] == [0, 8, 7, 6]
    assert page.job.covers == (P + 6, P + 8)            # the pinned post sets no range
    user["posts"] = [p for p in user["posts"] if p["id"] != P + 5]     # the next page's first
    assert timeline_page(timeline(user, None)["data"], target, "x", source="w").job.covers == (
        P + 5, P + 8)                                    # starts at 4: down to 5 is covered
    assert page.since_id == str(P + 5)
    newest = page.job.items[1]
    assert newest.check_url == f"http://127.0.0.1:9/statuses/show?id={P + 8}"
    assert newest.url == f"http://127.0.0.1:9/detail/{P + 8}"
    assert newest.text == "关于哈萨克斯坦的第8条微博\n第二行"
    assert newest.posted_at == "2026-11-30T00:00:00Z"
    assert newest.meta["repost_of"] == "42" and newest.meta["user"] == "记者"
    assert page.job.items[0].meta["pinned"] is True
    assert page.job.parent_url == target.timeline_url()
    assert WeiboTarget.from_url("https://weibo.com/u/1234567").base == "https://m.weibo.cn"


def test_post_html_becomes_text() -> None:
    fragment = ('<a href="/search?q=%23新疆%23">#新疆#</a> 文字<br />第二行'
                '<span class="url-icon"><img alt="[doge]" src="x.png"></span>')
    assert html_text(fragment) == "#新疆# 文字\n第二行[doge]"
    assert weibo_time("Sat Jun 20 10:00:00 +0800 2020") == "2020-06-20T02:00:00Z"
    assert weibo_time("刚刚") is None


def test_bad_weibo_seed_is_refused_with_the_fix(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.toml"
    seeds.write_text('[[source]]\nname = "wb"\nkind = "weibo"\n'
                     'url = "https://m.weibo.cn/search?q=x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"source\[0\] \(wb\)\.url.*m\.weibo\.cn/u/<uid>"):
        load_seeds(seeds)


def _configure(home: Path) -> None:
    write_config(home, obey_robots=False, timeout=5)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')


def _seeds(home: Path, url: str, **extra: object) -> Path:
    seeds = home / "seeds.toml"
    lines = ['[[source]]', 'name = "wb"', 'kind = "weibo"', f'url = "{url}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    seeds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return seeds


def _deletions(home: Path) -> list[dict]:
    return json.loads(run_cli(home, "deletions", "--format", "json").output)


def test_posts_gone_from_the_timeline_get_the_reason_statuses_show_gives(tmp_home: Path) -> None:
    _configure(tmp_home)
    with WeiboSite() as site:
        posts = _posts()
        site.user(UID, posts, screen_name="记者", per_page=3)
        seeds = _seeds(tmp_home, site.url(f"/u/{UID}"), max_pages=3, comment_pages=0)
        first = run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        assert "errors 0" in first.output, first.output
        assert len(rows(tmp_home, "SELECT id FROM items")) == 9
        timelines = [r for r in all_records(tmp_home)
                     if r["type"] == "response" and "getIndex" in r["uri"]]
        assert len(timelines) == 3                         # the JSON, as the API sent it
        assert all(json.loads(t["raw"])["ok"] == 1 for t in timelines)
        # comment_pages = 0: no comment list is fetched (0 is a value, not "the default")
        assert not [r for r in all_records(tmp_home) if "comments" in (r["uri"] or "")]

        # a later crawl that reads only the first page (pinned post on top) suspects nothing
        run_cli(tmp_home, "crawl", "--seeds", str(_seeds(tmp_home, site.url(f"/u/{UID}"),
                                                          max_pages=1, comment_pages=0)))
        assert rows(tmp_home, "SELECT item_id FROM items WHERE state != 'present'") == []

        states = {P + 1: "rate_limited", P + 2: "censored", P + 3: "login", P + 4: "author",
                  P + 5: "missing", P + 6: "restricted"}
        for post in posts:
            post["state"] = states.get(post["id"], "ok")
            post["hidden"] = post["id"] == P + 7          # out of the timeline, still there
        site.user(UID, posts, screen_name="记者", per_page=3)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        suspected = rows(tmp_home, "SELECT seq FROM items WHERE state = 'suspected' ORDER BY seq")
        assert [s["seq"] - P for s in suspected] == [1, 2, 3, 4, 5, 6, 7]
        run_cli(tmp_home, "recheck", "--due")
        run_cli(tmp_home, "recheck", "--due")
        deletions = _deletions(tmp_home)
    reasons = {int(d["item_id"]) - P: d["reason"] for d in deletions}
    assert reasons == {2: "censored", 4: "author_deleted", 5: "unknown", 6: "restricted"}
    for deletion in deletions:
        n = int(deletion["item_id"]) - P
        assert deletion["url"] == site.url(f"/statuses/show?id={P + n}")
        assert deletion["parent_url"] == WeiboTarget.from_url(site.url(f"/u/{UID}")).timeline_url()
        assert deletion["item_text"] == f"关于哈萨克斯坦的第{n}条微博\n第二行"
        assert deletion["evidence"]["http_status"] == 200
    assert rows(tmp_home, "SELECT state FROM items WHERE seq = ?", (P + 7,)) == [
        {"state": "present"}]
    walls = {r["url"]: (r["outcome"], r["reason"]) for r in rows(
        tmp_home, "SELECT url, outcome, reason FROM checks")}
    assert walls[site.url(f"/statuses/show?id={P + 1}")] == ("transient", "rate_limited")
    assert walls[site.url(f"/statuses/show?id={P + 3}")] == ("blocked", "login_wall")


def test_a_comment_gone_from_the_newest_list_is_confirmed_by_the_list(tmp_home: Path) -> None:
    _configure(tmp_home)
    post = {"id": P + 1, "text": "新闻", "comments": [
        {"id": 5000 + n, "text": f"评论{n}", "like_count": 100 - n} for n in range(1, 16)]}
    with WeiboSite() as site:
        site.user(UID, [post])
        seeds = _seeds(tmp_home, site.url(f"/detail/{P + 1}"), comment_pages=2)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        target = WeiboTarget.from_url(site.url(f"/detail/{P + 1}"))
        newest, hot = target.comments_url(str(P + 1)), target.hot_comments_url(str(P + 1))
        counted = {r["parent_url"]: r["n"] for r in rows(
            tmp_home, "SELECT parent_url, count(*) AS n FROM items GROUP BY parent_url")}
        assert counted == {newest: 15, hot: 10}
        assert [r["url"] for r in rows(tmp_home, "SELECT url FROM urls")] == [
            target.status_url(str(P + 1))]                 # the post itself is watched

        # 5012 on page 1, 5003 on page 2; 5001, the hottest and the oldest, leaves the hot list
        # (ordered by likes: it covers nothing) and the old end of the newest list (which only
        # covers the ids between the ones it shows): it is never suspected
        for comment in post["comments"]:
            comment["deleted"] = comment["id"] in (5001, 5003, 5012)
        site.user(UID, [post])
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        assert _deletions(tmp_home) == []                  # one capture is no proof
        suspected = rows(tmp_home, "SELECT item_id, parent_url FROM items WHERE state ="
                                   " 'suspected' ORDER BY item_id")
        assert [(s["item_id"], s["parent_url"]) for s in suspected] == [
            ("5003", newest), ("5012", newest)]

        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        deletions = _deletions(tmp_home)
        assert sorted(d["item_id"] for d in deletions) == ["5003", "5012"]
        for deletion in deletions:
            assert deletion["reason"] == "unknown" and deletion["parent_url"] == newest
            assert deletion["url"] == newest and deletion["confirmed_checks"] == 2
            assert deletion["evidence"]["rule"] == "items/missing-from-list"
            assert deletion["item_text"] == f"评论{int(deletion['item_id']) - 5000}"

        post["comments"][2]["deleted"] = False              # 5003 comes back
        site.user(UID, [post])
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        restored = {d["item_id"]: d["restored_at"] is not None for d in _deletions(tmp_home)}
    assert restored == {"5003": True, "5012": False}


def test_a_wall_suspects_nothing_and_a_gone_account_is_account_gone(tmp_home: Path) -> None:
    _configure(tmp_home)
    with WeiboSite() as site:
        site.user(UID, _posts(), per_page=20)
        seeds = _seeds(tmp_home, site.url(f"/u/{UID}"), comment_pages=0)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        site.user(UID, _posts(), per_page=20, wall=True)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        run_cli(tmp_home, "recheck", "--all")
        run_cli(tmp_home, "recheck", "--all")
        assert _deletions(tmp_home) == []
        assert rows(tmp_home, "SELECT id FROM items WHERE state != 'present'") == []
        walled = rows(tmp_home, "SELECT outcome, reason FROM checks")
        assert {(c["outcome"], c["reason"]) for c in walled} == {("blocked", "challenge")}

        site.user(UID, _posts(), per_page=20, gone=True)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        assert rows(tmp_home, "SELECT id FROM items WHERE state != 'present'") == []
        run_cli(tmp_home, "recheck", "--all")
        run_cli(tmp_home, "recheck", "--all")
        deletions = _deletions(tmp_home)
    timeline_url = WeiboTarget.from_url(site.url(f"/u/{UID}")).timeline_url()
    assert [(d["url"], d["reason"], d["item_id"]) for d in deletions] == [
        (timeline_url, "account_gone", None)]


def test_a_long_post_is_stored_with_its_whole_text(tmp_home: Path) -> None:
    """A post the timeline cuts (``isLongText``) gets its whole text from statuses/extend,
    archived, before the items are stored; when that fails, the first lines are kept and marked
    ``text_truncated``, and a later crawl that reads the whole text adds it as a version."""
    _configure(tmp_home)
    whole = "哈萨克斯坦渴望回归中国？" + "这篇长微博的全文有很多段落。" * 30 + "结尾"
    with WeiboSite() as site:
        posts = _posts()
        posts[0]["long_text"] = whole
        posts[1]["long_text"] = whole + "（第二篇）"
        posts[1]["extend_fails"] = True
        site.user(UID, posts, screen_name="记者", per_page=10)
        seeds = _seeds(tmp_home, site.url(f"/u/{UID}"), comment_pages=0)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        items = {r["item_id"]: r for r in rows(tmp_home, "SELECT item_id, text, meta FROM items")}
        long, failed = items[str(P + 1)], items[str(P + 2)]
        assert long["text"] == whole and "text_truncated" not in json.loads(long["meta"])
        assert failed["text"].startswith(whole[:20]) and failed["text"].endswith("全文")
        assert json.loads(failed["meta"])["text_truncated"] is True
        extends = [r for r in all_records(tmp_home)
                   if r["type"] == "response" and "/statuses/extend" in r["uri"]]
        assert {r["uri"].rsplit("=", 1)[1] for r in extends} == {str(P + 1), str(P + 2)}
        posts[1]["extend_fails"] = False
        site.user(UID, posts, screen_name="记者", per_page=10)
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
    versions = [r["text"] for r in rows(
        tmp_home, "SELECT v.text FROM item_versions AS v JOIN items AS i ON i.id = v.item_row_id"
                  " WHERE i.item_id = ? ORDER BY v.id", (str(P + 2),))]
    assert versions[-1] == whole + "（第二篇）" and len(versions) == 2
    assert len(rows(tmp_home, "SELECT v.id FROM item_versions AS v JOIN items AS i ON"
                              " i.id = v.item_row_id WHERE i.item_id = ?", (str(P + 1),))) == 1
