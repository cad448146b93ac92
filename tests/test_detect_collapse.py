"""Tombstones served with 200 on sites that answer a hard 404 elsewhere (archive.detect.collapse
and the news rules): a portal article replaced by a short notice is a deletion, in a wording the
rules know or not; a real edit that shortens an article stays an edit."""

from __future__ import annotations

import json

from archive.detect.collapse import collapse_of
from tests.support.helpers import rows, run_cli, write_config

PARAGRAPHS = [f"第{n}段：哈萨克斯坦与中国的边境贸易在霍尔果斯口岸继续增长，{n}家企业参与。"
              for n in range(1, 31)]
CHROME = ("<div class='nav'><a href='/'>首页</a> <a href='/world/'>国际</a> "
          "<a href='/china/'>国内</a></div>")
FOOTER = "<div class='footer'>版权所有 新闻网 京ICP证040089号</div>"


def portal_page(title: str, paragraphs: list[str]) -> dict:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return {"status": 200, "body": f"<html><head><meta charset='utf-8'><title>{title}</title>"
            f"</head><body>{CHROME}<div class='article'><h1>{title}</h1>{body}</div>{FOOTER}"
            "</body></html>"}


def notice_page(text: str) -> dict:
    return {"status": 200, "body": f"<html><head><meta charset='utf-8'><title>新闻网</title>"
            f"</head><body>{CHROME}<div class='main'><p>{text}</p>"
            f"<p><a href='/'>返回首页</a></p></div>{FOOTER}</body></html>"}


def test_collapse_of() -> None:
    article = "\n".join(PARAGRAPHS)
    assert collapse_of(article, "抱歉，该稿件暂时无法访问\n返回首页")
    assert collapse_of(article, "\n".join(PARAGRAPHS[:12])) is None     # shortened: an edit
    assert collapse_of(article, article.replace("增长", "下降")) is None  # reworded: an edit
    assert collapse_of("短文。", "通知") is None                          # no article before
    assert collapse_of(None, "通知") is None


def configure(home) -> None:
    write_config(home, obey_robots=False, timeout=2)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')


def test_portal_tombstones_with_200_are_deletions_and_short_edits_are_edits(tmp_home, server):
    configure(tmp_home)
    stories = {
        "/world/2020/04/14/known.shtml": notice_page("您访问的页面已被删除或不存在"),
        "/world/2020/04/14/unknown.shtml": notice_page("抱歉，该稿件暂时无法访问"),
        "/world/2020/04/14/edited.shtml": portal_page("边境贸易", PARAGRAPHS[:12]),
    }
    for path in stories:
        server.script(path, [portal_page("边境贸易", PARAGRAPHS)])
    run_cli(tmp_home, "crawl", *[server.url(p) for p in stories])
    for path, answer in stories.items():       # every other URL of the site answers 404
        server.script(path, [answer])
    # a crawl meanwhile keeps the article as the last good capture of the collapsed pages
    run_cli(tmp_home, "crawl", *[server.url(p) for p in stories])
    run_cli(tmp_home, "recheck", "--all")
    run_cli(tmp_home, "recheck", "--all")
    found = {d["url"]: (d["reason"], d["evidence"]["rule"])
             for d in json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)}
    assert found == {
        server.url("/world/2020/04/14/known.shtml"): ("unknown", "news/deleted-notice@2"),
        server.url("/world/2020/04/14/unknown.shtml"): ("unknown", "page/collapse@1"),
    }
    edited = server.url("/world/2020/04/14/edited.shtml")
    checks = rows(tmp_home, "SELECT outcome FROM checks WHERE url = ? ORDER BY id", (edited,))
    assert [c["outcome"] for c in checks] == ["alive", "alive"]    # the crawl saw the edit
    [diff] = rows(tmp_home, "SELECT url FROM diffs")
    assert diff["url"] == edited                  # the edit has its diff; the notices none
