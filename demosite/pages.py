"""HTML templates: a small news portal page and WeChat-like article and tombstone pages.

The news page has site chrome (header with nav and a dateline, footer) around one
``<article>``. The WeChat pages imitate mp.weixin.qq.com: ``#activity-name`` title,
``#js_name`` / ``.rich_media_meta_nickname`` account, ``#publish_time``, ``#js_content`` body;
a removed article becomes a ``weui-msg`` page with the reason in ``.global_error_msg``.
Used by the demo site and by the tests' mock server.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

# site name, nav labels, rights line, "updated" label
CHROME = {
    "en": ("The Steppe Herald", ("Home", "World", "Business", "Opinion"), "All rights reserved",
           "Updated"),
    "zh": ("草原新闻网", ("首页", "国际", "财经", "评论"), "版权所有", "更新时间"),
    "zh-Hant": ("草原新聞網", ("首頁", "國際", "財經", "評論"), "版權所有", "更新時間"),
}
DEFAULT_CHROME_DATE = "14 April 2020"


def news_page(title: str, paragraphs: Sequence[str], *, lang: str = "en", meta: str = "",
              chrome_date: str = DEFAULT_CHROME_DATE, byline: str = "", extra_html: str = "",
              loose: bool = False) -> str:
    """A news article page. Text is escaped; ``meta`` and ``extra_html`` are raw markup.

    ``loose=True`` lays out the same text with different whitespace (re-indented, one sentence
    per line for Latin text), so only whitespace differs from the default layout.
    """
    site, nav, rights, updated = CHROME.get(lang, CHROME["en"])
    nav_items = "".join(f'<li><a href="/#s{i}">{escape(x)}</a></li>' for i, x in enumerate(nav))
    if loose:
        sep, indent = "\n\n", "\n      "
        body = sep.join(
            f"    <p>{indent}{escape(p, quote=False).replace('. ', '.' + indent)}"
            "\n    </p>" for p in paragraphs)
    else:
        sep = "\n"
        body = sep.join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)
    byline_html = f'<p class="byline">{escape(byline)}</p>{sep}' if byline else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n{meta}{chr(10) if meta else ""}'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n"
        f'<header class="site-header">\n<div class="brand"><a href="/">{escape(site)}</a></div>\n'
        f'<nav class="site-nav"><ul>{nav_items}</ul></nav>\n'
        f'<div class="dateline">{updated}: {chrome_date}</div>\n</header>\n'
        f"<main>\n<article>{sep}<h1>{escape(title)}</h1>{sep}{byline_html}{body}{sep}</article>\n"
        f"{extra_html}</main>\n"
        f'<footer class="site-footer"><p>{rights} 2020 {escape(site)}. '
        f"{updated}: {chrome_date}</p></footer>\n</body>\n</html>\n"
    )


def wechat_page(title: str, account: str, published: str, paragraphs: Sequence[str],
                author: str = "") -> str:
    """An mp.weixin.qq.com-like article page."""
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1.0">\n'
        f'<meta property="og:title" content="{escape(title)}">\n'
        f"<title>{escape(title)}</title>\n</head>\n"
        '<body id="activity-detail" class="zh_CN wx_wap_page">\n'
        '<div id="js_article" class="rich_media">\n<div class="rich_media_inner">\n'
        '<div id="page-content" class="rich_media_area_primary">\n'
        '<div class="rich_media_area_primary_inner">\n'
        f'<h1 class="rich_media_title" id="activity-name">\n{escape(title)}\n</h1>\n'
        '<div id="meta_content" class="rich_media_meta_list">\n'
        f'<span class="rich_media_meta rich_media_meta_text">{escape(author)}</span>\n'
        '<span class="rich_media_meta rich_media_meta_nickname" id="profileBt">'
        f'<a href="javascript:void(0);" id="js_name">{escape(account)}</a></span>\n'
        f'<em id="publish_time" class="rich_media_meta rich_media_meta_text">{published}</em>\n'
        "</div>\n"
        '<div class="rich_media_content js_underline_content" id="js_content">\n'
        f"<section>\n{body}\n</section>\n</div>\n"
        "</div>\n</div>\n</div>\n</div>\n"
        f"<script>var msg_title = '{escape(title)}'; var nickname = '{escape(account)}';</script>\n"
        "</body>\n</html>\n"
    )


def wechat_tombstone(message: str) -> str:
    """The page WeChat serves (status 200) in place of a removed article."""
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1.0">\n'
        "<title></title>\n</head>\n"
        '<body id="activity-detail" class="zh_CN">\n'
        '<div class="weui-msg">\n'
        '<div class="weui-msg__icon-area"><i class="weui-icon-warn weui-icon_msg"></i></div>\n'
        '<div class="weui-msg__text-area">\n'
        f'<h2 class="weui-msg__title"><div class="global_error_msg warn">{escape(message)}'
        "</div></h2>\n"
        '<p class="weui-msg__desc"></p>\n'
        "</div>\n</div>\n</body>\n</html>\n"
    )
