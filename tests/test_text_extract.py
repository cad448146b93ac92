"""Tests for archive.text.extract: decoding, titles, fast text and its fingerprint, trafilatura
text."""

from __future__ import annotations

import random
import re
import time
import unicodedata
from pathlib import Path

import pytest

from archive.jobs import PageText
from archive.text import extract as text_module
from archive.text.charset import decode_html
from archive.text.extract import fast_page_text, main_text, text_digest

DATA = Path(__file__).parent / "data" / "text"

GBK_SENTENCE = "霍尔果斯口岸的过货量持续上升"
GBK_LAST = "强调哈萨克斯坦的主权和领土完整不容置疑。"
BIG5_SENTENCE = "不少香港物流公司亦開始拓展中亞航線。"
CANTONESE = "「呢幾年生意確實多咗，不過當地嘅法規改得好快。」"
ARTICLE_SENTENCE = "asked Beijing to prevent such publications."


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def news_page() -> str:
    return load("news_article.html").decode("utf-8")


# --- decoding --------------------------------------------------------------------------------


def test_gbk_declared_only_in_the_header() -> None:
    body = load("gbk_header_only.html")
    assert b"charset" not in body.lower()
    page = fast_page_text(body, "text/html; charset=GBK")
    assert page.encoding == "gb18030"
    assert page.title == "哈萨克斯坦重视对华合作"
    assert GBK_SENTENCE in page.text
    assert GBK_LAST in page.text
    assert GBK_SENTENCE in main_text(body, "text/html; charset=gbk")


def test_gb2312_meta_http_equiv_decodes_gbk_only_characters() -> None:
    body = load("gb2312_meta_http_equiv.html")
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb2312")  # the page uses 镕, which only GBK/GB18030 have
    page = fast_page_text(body, "text/html")
    assert page.encoding == "gb18030"
    assert page.title == "哈中贸易额前三季度增长"
    assert "（本报记者 李镕 阿拉木图报道）" in page.text.splitlines()
    assert "哈中双边贸易额同比增长百分之十二" in main_text(body, "text/html")


@pytest.mark.parametrize("content_type", [None, "text/html", "text/html; charset=utf-8"])
def test_undeclared_or_wrongly_declared_gbk_is_detected(content_type: str | None) -> None:
    body = load("gbk_undeclared.html")
    assert b"charset" not in body.lower()
    text, encoding = decode_html(body, content_type)
    assert encoding == "gb18030"
    assert "<title>哈萨克斯坦外交部就不实文章提出交涉</title>" in text
    page = fast_page_text(body, content_type)
    assert page.title == "哈萨克斯坦外交部就不实文章提出交涉"
    assert GBK_SENTENCE in page.text
    assert GBK_LAST in main_text(body, content_type)


def test_big5_meta_charset_decodes_hkscs_characters() -> None:
    body = load("big5_meta_charset.html")
    with pytest.raises(UnicodeDecodeError):
        body.decode("big5")  # 咗 and 嘅 are Big5-HKSCS only
    page = fast_page_text(body, "text/html")
    assert page.encoding == "big5hkscs"
    assert page.title == "港商看好中亞物流"
    assert CANTONESE in page.text
    assert CANTONESE in main_text(body, "text/html")


def test_undeclared_big5_is_detected() -> None:
    body = load("big5_undeclared.html")
    assert b"charset" not in body.lower()
    page = fast_page_text(body, None)
    assert page.encoding == "big5hkscs"
    assert page.title == "哈薩克重視對華關係"
    assert BIG5_SENTENCE in page.text


def test_utf8_bom_wins_over_a_contradicting_meta() -> None:
    body = load("utf8_bom.html")
    assert b'charset="windows-1251"' in body
    text, encoding = decode_html(body, "text/html")
    assert encoding == "utf-8"
    assert not text.startswith("\ufeff")
    page = fast_page_text(body, "text/html")
    assert page.title == "Қазақстан мен Қытай: сауда өсті"
    assert "территориальная целостность страны не подлежат сомнению" in page.text


def test_unknown_declared_charset_falls_through_to_detection() -> None:
    body = load("unknown_charset_gbk.html")
    assert b'charset="x-klingon-2020"' in body
    page = fast_page_text(body, "text/html; charset=x-klingon-2020")
    assert page.encoding == "gb18030"
    assert page.title == "哈萨克斯坦议员呼吁重视中小企业"
    assert GBK_SENTENCE in page.text


def test_latin1_declaration_means_windows_1252() -> None:
    page = fast_page_text(load("latin1_declared_cp1252.html"), "text/html")
    assert page.encoding == "cp1252"
    assert page.title == "Café owners “cautiously optimistic”"
    assert "The café’s owner said" in page.text


def test_latin1_declaration_on_a_utf8_body_decodes_utf8() -> None:
    page = fast_page_text(load("latin1_declared_utf8.html"), "text/html; charset=ISO-8859-1")
    assert page.encoding == "utf-8"
    assert page.title == "Алматы: цены на жильё выросли"


def test_header_charset_beats_meta_and_utf16_bom() -> None:
    body = '<meta charset="big5"><title>哈萨克斯坦</title>'.encode("gbk")
    assert decode_html(body, "text/html; charset=gb2312") == (
        '<meta charset="big5"><title>哈萨克斯坦</title>',
        "gb18030",
    )
    utf16 = "\ufeff<title>Алматы</title>".encode("utf-16-le")
    assert decode_html(utf16, None) == ("<title>Алматы</title>", "utf-16-le")
    assert fast_page_text(utf16, None).title == "Алматы"


def test_utf7_is_never_honoured() -> None:
    body = b'<meta charset="utf-7"><title>+ADw-script+AD4-</title>'
    text, encoding = decode_html(body, None)
    assert encoding != "utf-7"
    assert "+ADw-script+AD4-" in text


# --- robustness ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"<!-- only a comment -->",
        b"<html>",
        b"\x00\x00\x00<p>nul</p>",
        b"<?xml version='1.0' encoding='utf-8'?><html><body><p>xhtml</p></body></html>",
        b"\xff\xfe\x00",
        b"<p>\xe4\xb8\xad\xff\xfe broken utf-8</p>",
        "<p>\ue000private use</p>".encode(),
    ],
)
def test_odd_bodies_do_not_raise(body: bytes) -> None:
    for content_type in ("text/html", None, "text/html; charset=nonsense"):
        page = fast_page_text(body, content_type)
        assert isinstance(page, PageText)
        assert page.text_digest.startswith("sha256:")
        assert isinstance(main_text(body, content_type), str)


def test_random_garbage_does_not_raise() -> None:
    rng = random.Random(20200414)
    for size in (1, 7, 100, 5000, 60000):
        body = bytes(rng.getrandbits(8) for _ in range(size))
        for content_type in ("text/html", None, "text/html; charset=gbk"):
            assert isinstance(fast_page_text(body, content_type).text, str)
        assert isinstance(decode_html(body, None)[0], str)


def test_non_html_gives_empty_text() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    page = fast_page_text(png, "image/png")
    assert page == PageText(title=None, text="", text_digest=text_digest(""), encoding="")
    assert main_text(png, "image/png") == ""
    assert fast_page_text(b"%PDF-1.7 <p>x</p>", "application/pdf").text == ""
    assert fast_page_text(b"<!DOCTYPE html><p>sniffed</p>", None).text == "sniffed"


# --- title and fast text ---------------------------------------------------------------------


def test_title_and_og_title_fallback() -> None:
    page = fast_page_text(load("news_article.html"), "text/html")
    assert page.title == (
        'Kazakhstan summons Chinese ambassador over "return to China" article | Steppe Daily'
    )
    no_title = re.sub(r"<title>.*?</title>", "", news_page()).encode()
    assert fast_page_text(no_title, "text/html").title == "Kazakhstan summons Chinese ambassador"
    spaced = b"<title>\n  Two\n\t words  </title><p>x</p>"
    assert fast_page_text(spaced, "text/html").title == "Two words"
    assert fast_page_text(b"<p>no title</p>", "text/html").title is None


def test_fast_text_keeps_the_article_and_drops_the_chrome() -> None:
    page = fast_page_text(load("news_article.html"), "text/html")
    lines = page.text.splitlines()
    assert lines[0] == 'Kazakhstan summons Chinese ambassador over "return to China" article'
    assert (
        '"Kazakhstan\'s sovereignty and territorial integrity are not up for discussion," '
        "a ministry spokesman told reporters in Nur-Sultan." in lines
    )
    assert ["2018", "19.9", "2019", "21.9"] == lines[-4:]
    for chrome in (
        "We use cookies", "Steppe Daily", "Tuesday, 14 April 2020", "Politics", "Home",
        "Share on Facebook", "Related:", "Comments (12)", "Good article", "Most read",
        "Tenge falls", "Page generated", "Contact", "window.dataLayer", "font-family",
    ):
        assert chrome not in page.text, chrome


def test_block_elements_become_paragraphs() -> None:
    body = (
        b"<body><div>one <b>bold</b>\n  word</div>two<br>three<ul><li>a</li><li> b </li></ul>"
        b"<p>  </p><table><tr><td>c1</td><td>c2</td></tr></table>tail</body>"
    )
    assert fast_page_text(body, "text/html").text == "one bold word\ntwo\nthree\na\nb\nc1\nc2\ntail"


def test_page_wide_form_and_layout_modifiers_are_not_chrome() -> None:
    paragraphs = "".join(f"<p>Paragraph {i} of the story.</p>" for i in range(8))
    body = (
        '<html><body class="has-sidebar"><form id="aspnetForm" action="/Default.aspx">'
        '<div id="header">Site header 2020-04-14</div>'
        '<div id="page" class="layout with-sidebar no-comments">'
        f'<div class="content">{paragraphs}</div></div>'
        '<div id="footer">Footer 2020-04-14</div>'
        "</form></body></html>"
    ).encode()
    text = fast_page_text(body, "text/html").text
    assert text.splitlines() == [f"Paragraph {i} of the story." for i in range(8)]


def test_short_article_in_a_form_is_kept_but_a_search_form_is_not() -> None:
    body = (
        b'<body><form action="/search"><label>Search</label><input name="q"></form>'
        b'<form id="form1"><div class="story"><h2>Short notice</h2>'
        b"<p>The office is closed.</p></div></form></body>"
    )
    assert fast_page_text(body, "text/html").text == "Short notice\nThe office is closed."


def test_chinese_portal_chrome_by_class_and_id() -> None:
    body = """<html><head><meta charset="utf-8"><title>新闻</title></head><body>
      <div class="top-nav"><a href="/">首页</a><a href="/gj">国际</a></div>
      <div id="breadcrumb">首页 &gt; 国际</div>
      <div class="main-content"><h1>哈萨克斯坦外交部提出交涉</h1>
        <div class="article-body"><p>哈萨克斯坦外交部表示，主权和领土完整不容置疑。</p></div>
        <div class="share-bar">分享到微博</div>
      </div>
      <div class="hot-news"><h3>热门新闻</h3><ul><li>今日头条 2020-04-14</li></ul></div>
      <div id="footer_copyright">版权所有 2020</div>
    </body></html>""".encode()
    assert fast_page_text(body, "text/html").text == (
        "哈萨克斯坦外交部提出交涉\n哈萨克斯坦外交部表示，主权和领土完整不容置疑。"
    )


# --- fingerprint -----------------------------------------------------------------------------


def test_text_digest_normalises_whitespace_width_and_zero_width() -> None:
    digest = text_digest("哈萨克斯坦,中国\nline two")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert text_digest("  哈萨克斯坦,中国\u3000line\u00a0two\n") == digest
    assert text_digest("哈萨克斯坦，中国\n\nline\u200b two") == digest  # full-width comma
    assert text_digest("哈萨克斯坦,中国 line three") != digest
    assert text_digest("哈萨克斯坦, 中国 line two") != digest  # a space between words counts


def test_fast_nfkc_matches_unicodedata() -> None:
    pool = list(
        "aé e\u0301\u0323\u0302，。（）：\u3000\u00a0ﬁ⑴㌀ｶﾞ\u3099가\u11a8\u1161\u1100ㅏﾡ한\u200b"
        "\u00adй\u0306и\u0306ё\u0627\u0651\u0e01\u0e34\u0915\u093f\u0b47\u0b3eΐ\u0344\u1fed"
        "Å\u212b\u2126\uf900\u2f00—“”«»"
    ) + ["哈萨克", "Kazakhstan", "\n", "Қазақстан"]
    rng = random.Random(7)
    for _ in range(5000):
        sample = "".join(rng.choice(pool) for _ in range(rng.randint(1, 15)))
        expected = unicodedata.normalize("NFKC", sample).translate(text_module._ZERO_WIDTH)
        assert text_module._nfkc_without_zero_width(sample) == expected, repr(sample)
    # text already in NFKC (the quick-check path), zero-width characters and marks among it
    normal = list("aé·哈萨克Қазақстан—\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u0301 \n")
    for _ in range(3000):
        sample = "".join(rng.choice(normal) for _ in range(rng.randint(1, 15)))
        expected = unicodedata.normalize("NFKC", sample).translate(text_module._ZERO_WIDTH)
        assert text_module._nfkc_without_zero_width(sample) == expected, repr(sample)


def test_stable_characters_really_are_nfkc_stable() -> None:
    stable = text_module._NFKC_STABLE_COMPLEMENT
    checked = 0
    for code in range(0x10000):
        char = chr(code)
        if not stable.match(char):
            checked += 1
            assert unicodedata.normalize("NFKC", char) == char, hex(code)
            assert not text_module._composes(char), hex(code)
    assert checked > 20000


def _digest_of(html: str) -> str:
    return fast_page_text(html.encode("utf-8"), "text/html").text_digest


def test_whitespace_only_changes_keep_the_digest() -> None:
    html = news_page()
    base = _digest_of(html)
    reflowed = html.replace("\n        <p>", "<p>").replace(" over an\n", "   over   an ")
    reflowed = reflowed.replace("grew by twelve", "grew&nbsp;by\u200b twelve")
    assert reflowed != html
    assert _digest_of(reflowed) == base


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Tuesday, 14 April 2020", "Wednesday, 15 April 2020"),  # <header>
        ("Page generated 14 Apr 2020 10:32:07.", "Page generated 15 Apr 2020 08:01:55."),
        ("<li><a href=\"/opinion\">Opinion</a></li>",  # <nav>
         "<li><a href=\"/opinion\">Opinion</a></li><li><a href=\"/live\">Live 15 Apr</a></li>"),
        ("Comments (12)", "Comments (13)"),
        ("Tenge falls against the dollar", "Tenge recovers"),  # sidebar
        ("We use cookies.", "We use cookies (updated 15 April)."),
        ("Share on Twitter", "Share on X"),
        ("Related: Central Asia's delicate balance", "Related: Almaty smog returns"),
    ],
)
def test_chrome_changes_keep_the_digest(old: str, new: str) -> None:
    html = news_page()
    assert old in html
    assert _digest_of(html.replace(old, new)) == _digest_of(html)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("asked Beijing to prevent such publications.", "asked Beijing for an explanation."),
        ("<h1>Kazakhstan summons Chinese ambassador", "<h1>Kazakhstan protests to China"),
        ("<td>21.9</td>", "<td>22.4</td>"),
    ],
)
def test_article_changes_change_the_digest(old: str, new: str) -> None:
    html = news_page()
    assert html.count(old) == 1
    assert _digest_of(html.replace(old, new)) != _digest_of(html)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.html")))
def test_page_digest_is_the_digest_of_its_text(name: str) -> None:
    """fast_page_text skips the second whitespace collapse when NFKC changes nothing; the
    fingerprint must stay ``text_digest`` of the text (stored digests depend on it)."""
    page = fast_page_text(load(name), None)
    assert page.text
    assert page.text_digest == text_digest(page.text)


@pytest.mark.parametrize("fragment", [
    "plain words", "全角　空格和\u00a0不换行", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ ①",
    "zero\u200bwidth \u200b gap",
    "ﬁ ligature", "e\u0301 combining", "한국어 텍스트", "\u2028line\u2029sep", "x \u00ad y",
])
def test_page_digest_with_normalising_characters(fragment: str) -> None:
    html = f"<html><body><p>{fragment}</p><div>{fragment} <b>{fragment}</b></div></body></html>"
    page = fast_page_text(html.encode("utf-8"), "text/html; charset=utf-8")
    assert page.text_digest == text_digest(page.text)


def test_digest_of_chinese_sentence_change() -> None:
    body = load("gbk_undeclared.html")
    edited = body.decode("gbk").replace("不容置疑", "值得商榷").encode("gbk")
    assert fast_page_text(edited, None).text_digest != fast_page_text(body, None).text_digest


# --- main_text -------------------------------------------------------------------------------


def test_main_text_drops_navigation_and_footer() -> None:
    text = main_text(load("news_article.html"), "text/html", url="https://steppe.example/a/1")
    assert ARTICLE_SENTENCE in text
    assert "Trade between the two countries grew by twelve percent" in text
    assert "\n\n" not in text
    for chrome in ("Politics", "Economy", "Page generated", "Most read", "We use cookies",
                   "Good article", "About"):
        assert chrome not in text, chrome


def test_main_text_falls_back_to_fast_text(monkeypatch: pytest.MonkeyPatch) -> None:
    import trafilatura

    body = load("gbk_undeclared.html")
    monkeypatch.setattr(trafilatura, "extract", lambda *args, **kwargs: None)
    assert main_text(body, None) == fast_page_text(body, None).text

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("extractor bug")

    monkeypatch.setattr(trafilatura, "extract", broken)
    assert GBK_SENTENCE in main_text(body, None)


# --- timing (printed, not asserted) ----------------------------------------------------------


def big_news_page() -> bytes:
    """A ~50 KB page: 150 menu links, 60 related links, 80 mixed paragraphs, 8 KB of script."""
    html = news_page()
    links = "\n".join(
        f'<li class="menu-item"><a href="/section/{i}">栏目 {i} Section</a></li>'
        for i in range(150)
    )
    paragraphs = "\n".join(
        f"<p>第{i}段：哈萨克斯坦外交部发言人表示，哈方高度重视同中国的全面战略伙伴关系，"
        f"愿同中方继续加强在贸易、能源和交通领域的务实合作。Paragraph {i} of the story "
        "continues here with more words and more words.</p>"
        for i in range(80)
    )
    related = "\n".join(
        f'<li><a href="/r/{i}">Related story number {i} about the region</a></li>'
        for i in range(60)
    )
    script = "<script>" + "var x = {a: 1, b: [1, 2, 3]};\n" * 300 + "</script>"
    html = html.replace("<ul>\n", "<ul>\n" + links, 1)
    html = html.replace("<p>The ministry said", paragraphs + "\n<p>The ministry said", 1)
    html = html.replace("<ol>", "<ol>" + related, 1).replace("</head>", script + "</head>", 1)
    return html.encode("utf-8")


def test_timing_printout() -> None:
    body = big_news_page()
    assert len(body) > 45_000
    page = fast_page_text(body, "text/html")
    assert "第79段" in page.text
    assert "栏目 3 Section" not in page.text
    runs = 50
    start = time.perf_counter()
    for _ in range(runs):
        fast_page_text(body, "text/html")
    fast_ms = (time.perf_counter() - start) / runs * 1000
    start = time.perf_counter()
    for _ in range(3):
        main_text(body, "text/html")
    main_ms = (time.perf_counter() - start) / 3 * 1000
    print(f"\n{len(body) / 1000:.1f} KB page: fast_page_text {fast_ms:.2f} ms, "
          f"main_text {main_ms:.1f} ms")
