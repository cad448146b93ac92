"""WeChat articles as a source kind: the article's own metadata (title, account, publish time,
images), its images archived, and every deletion reason and wall of the WeChat rules end to end
(crawl, then re-checks) with no deletion logged for a wall or a transient answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive.config_file import ConfigError
from archive.platforms.wechat import NotAnArticle, article_meta, check_article_url
from archive.seeds import load_seeds
from demosite.pages import wechat_tombstone
from tests.support.helpers import rows, run_cli, write_config
from tests.support.scriptserver import ScriptServer

DATA = Path(__file__).parent / "data" / "tombstones"
PIXEL = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                      "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


def modern_article(title: str, account: str, images: list[str]) -> str:
    """An article as WeChat serves it today: #publish_time empty (filled from ``ct`` by the
    page's script), images lazily loaded from data-src."""
    imgs = "".join(f'<p><img class="rich_pages wxw-img" data-src="{src}" data-type="png" '
                   f'src="data:image/svg+xml,%3Csvg%3E"></p>' for src in images)
    paras = "".join(f"<p>哈萨克斯坦与中国的边境贸易，第{n}段。</p>" for n in range(30))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f'<meta property="og:title" content="{title}"><meta name="author" content="王记者">'
        f"<title>{title}</title></head><body id='activity-detail' class='zh_CN wx_wap_page'>"
        '<div id="js_article" class="rich_media"><div id="page-content">'
        f'<h1 class="rich_media_title" id="activity-name">\n  {title}\n</h1>'
        '<div id="meta_content" class="rich_media_meta_list">'
        '<span class="rich_media_meta rich_media_meta_nickname" id="profileBt">'
        f'<a href="javascript:void(0);" id="js_name">\n {account} </a></span>'
        '<em id="publish_time" class="rich_media_meta rich_media_meta_text"></em></div>'
        f'<div class="rich_media_content js_underline_content" id="js_content">{paras}{imgs}</div>'
        "</div></div><script>var biz = \"MzA5NzQ4NjQ0MQ==\"; var ct = \"1586871000\";"
        f" var nickname = htmlDecode(\"{account}\"); var msg_title = '{title}'.html(false);"
        "</script></body></html>")


def test_article_metadata_from_the_page() -> None:
    url = "https://mp.weixin.qq.com/s/AbCdEfGh12345"
    meta = article_meta(modern_article("哈萨克斯坦“渴望回归中国”？", "中亚观察",
                                       ["/mmbiz/1.png", "https://mmbiz.qpic.cn/2.png"]).encode(),
                        "text/html; charset=utf-8", url)
    assert meta == {
        "title": "哈萨克斯坦“渴望回归中国”？", "account": "中亚观察", "author": "王记者",
        "published_at": "2020-04-14T13:30:00Z", "biz": "MzA5NzQ4NjQ0MQ==",
        "images": ["https://mp.weixin.qq.com/mmbiz/1.png", "https://mmbiz.qpic.cn/2.png"]}
    older = article_meta((DATA / "wechat_article.html").read_bytes(), "text/html",
                         "https://mp.weixin.qq.com/s?__biz=MzI1&mid=2&idx=1&sn=abc")
    assert older["account"] == "中亚观察" and older["biz"] == "MzI1"
    assert older["published_at"] == "2020-04-14T13:30:00Z"     # #publish_time, China time
    assert older["title"] == "被删除的文章去了哪里：微信公众号审查笔记"


@pytest.mark.parametrize("url", ["https://mp.weixin.qq.com/s/AbCdEfGh12345",
                                 "https://mp.weixin.qq.com/s?__biz=MzI1&mid=2&idx=1&sn=abc",
                                 "http://127.0.0.1:8080/s/abc"])
def test_article_urls(url: str) -> None:
    check_article_url(url)


@pytest.mark.parametrize("url", ["https://mp.weixin.qq.com/", "https://mp.weixin.qq.com/s",
                                 "https://mp.weixin.qq.com/mp/profile_ext?action=home"])
def test_urls_that_name_no_article(url: str) -> None:
    with pytest.raises(NotAnArticle):
        check_article_url(url)


def test_a_wechat_seed_that_is_no_article_is_refused(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.toml"
    seeds.write_text('[[source]]\nname = "wx"\nkind = "wechat"\n'
                     'urls = ["https://mp.weixin.qq.com/mp/profile_ext?action=home"]\n',
                     encoding="utf-8")
    with pytest.raises(ConfigError, match=r"source\[0\] \(wx\)\.url: .* is not a WeChat article"):
        load_seeds(seeds)


# what each article's URL answers at its re-checks, and what the log must then say
CASES = {
    "/s/violation": ("此内容因违规无法查看", "censored"),
    "/s/publisher": ("该内容已被发布者删除", "author_deleted"),
    "/s/privacy": ("根据作者隐私设置，无法查看该内容", "restricted"),
    "/s/banned": ("该公众号已被封禁", "account_gone"),
    "/s/closed": ("此帐号已注销", "account_gone"),
    "/s/expired": ("链接已过期", "unknown"),
    "/s/captcha": ("环境异常，完成验证后即可继续访问", None),
    "/s/busy": ("访问过于频繁，请稍后再试", None),
    "/s/error": ("系统出错", None),
    "/s/client": ("请在微信客户端打开链接", None),
    "/s/migrated": ("该公众号已迁移", None),
}


def test_wechat_articles_end_to_end(tmp_home: Path) -> None:
    write_config(tmp_home, obey_robots=False, timeout=5)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')
    with ScriptServer() as server:
        for path in CASES:
            server.script(path, [{"status": 200, "body": modern_article(
                f"文章 {path}", "中亚观察", ["/mmbiz/1.png"])}])
        server.script("/mmbiz/1.png", [{"status": 200, "body": PIXEL.decode("latin-1"),
                                        "encoding": "latin-1", "content_type": "image/png"}])
        urls = [server.url(path) for path in CASES]
        seeds = tmp_home / "seeds.toml"
        seeds.write_text('[[source]]\nname = "wx"\nkind = "wechat"\nurls = ' + json.dumps(urls)
                         + "\n", encoding="utf-8")
        first = run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        assert f"pages {len(CASES)}," in first.output, first.output
        (capture,) = rows(tmp_home, "SELECT meta FROM captures WHERE url = ?",
                          (server.url("/s/violation"),))
        meta = json.loads(capture["meta"])
        assert meta["account"] == "中亚观察" and meta["published_at"] == "2020-04-14T13:30:00Z"
        assert meta["images"] == [server.url("/mmbiz/1.png")]
        image = rows(tmp_home, "SELECT status, mime FROM captures WHERE url = ?",
                     (server.url("/mmbiz/1.png"),))
        assert image == [{"status": 200, "mime": "image/png"}]     # fetched once, as requisite
        history = json.loads(run_cli(tmp_home, "history", server.url("/s/privacy"),
                                     "--format", "json").output)
        assert history["captures"][0]["meta"]["account"] == "中亚观察"
        assert "account 中亚观察" in run_cli(tmp_home, "history", server.url("/s/privacy")).output

        for path, (notice, _reason) in CASES.items():
            server.script(path, [{"status": 200, "body": wechat_tombstone(notice)}])
        run_cli(tmp_home, "recheck", "--all")
        run_cli(tmp_home, "recheck", "--all")
        deletions = json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)
        outcomes = {r["url"]: r["outcome"] for r in rows(
            tmp_home, "SELECT url, outcome FROM checks GROUP BY url")}
    found = {d["url"]: d["reason"] for d in deletions}
    assert found == {server.url(p): reason for p, (_n, reason) in CASES.items() if reason}
    assert outcomes[server.url("/s/captcha")] == "blocked"
    assert outcomes[server.url("/s/busy")] == outcomes[server.url("/s/error")] == "transient"
    assert outcomes[server.url("/s/client")] == outcomes[server.url("/s/migrated")] == "blocked"
    tombstones = rows(tmp_home, "SELECT meta FROM captures WHERE url = ? ORDER BY id",
                      (server.url("/s/violation"),))
    assert tombstones[-1]["meta"] is None             # a tombstone is no article


@pytest.mark.parametrize(("fixture", "outcome", "reason"), [
    ("wechat_verify_written.html", "blocked", "captcha"),
    ("wechat_rate_limited_written.html", "transient", "rate_limited"),
    ("news_empty_replacement.html", "transient", "empty_replacement"),
])
def test_a_wall_written_by_script_never_replaces_the_article(tmp_home: Path, fixture: str,
                                                              outcome: str, reason: str) -> None:
    """A 200 page with no article and no visible text (its words written by a script, or none)
    is never alive: not at a re-check, not at a crawl. It never becomes the last good capture
    and no diff from the article to nothing is stored; its capture is kept as evidence."""
    write_config(tmp_home, obey_robots=False, timeout=5)
    with ScriptServer() as server:
        server.script("/s/article", [{"status": 200, "body": modern_article(
            "文章", "中亚观察", [])}])
        url = server.url("/s/article")
        seeds = tmp_home / "seeds.toml"
        seeds.write_text('[[source]]\nname = "wx"\nkind = "wechat"\nurls = ["' + url + '"]\n',
                         encoding="utf-8")
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        [good] = rows(tmp_home, "SELECT last_capture_id, last_text_digest FROM urls")
        server.script("/s/article", [{"status": 200, "body": (DATA / fixture).read_text()}])
        run_cli(tmp_home, "recheck", "--all")
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
    [check] = rows(tmp_home, "SELECT outcome, reason FROM checks")
    assert (check["outcome"], check["reason"]) == (outcome, reason)
    assert rows(tmp_home, "SELECT last_capture_id, last_text_digest FROM urls") == [good]
    assert rows(tmp_home, "SELECT * FROM diffs") == []
    assert len(rows(tmp_home, "SELECT id FROM captures WHERE url = ?", (url,))) == 3
