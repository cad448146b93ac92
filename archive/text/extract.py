"""Page text: decode HTML bytes, find the title, the fast main text and its fingerprint.

``fast_page_text`` runs on every crawled page, so it is kept cheap: one libxml2 parse, chrome
removal through tag iteration and attribute XPath (no per-element Python work), text through a
small XSLT, and an NFKC that skips characters it would leave alone (its cost, and the parse's
share of it: BENCHMARKS.md "Timings of single steps"). ``main_text`` (trafilatura) costs about
ten times as much: call it only when the fast fingerprint (``text_digest``) changed.

Decoding (``decode_html``) is archive.text.charset's.

Nothing here raises on garbage bytes: the worst case is an empty text. A page's text is read
from its first ``TEXT_MAX_HTML_BYTES`` of HTML only: the parse costs about 17 times the HTML
for a page of tiny elements (a hostile 50 MB page would cost 850 MB), and no article is longer.
The record keeps the whole body.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable

from lxml import etree

from archive.jobs import PageText
from archive.text.charset import SNIFF_BYTES, bom, decode_html
from archive.text.markup_urls import DEFAULT_LIMIT, tree_requisites
from archive.timeutil import iso, parse_iso

logger = logging.getLogger(__name__)

_BLOCK_MARK = "\ue000"
TEXT_MAX_HTML_BYTES = 8 * 1024 * 1024

_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>")
# WHATWG MIME sniffing's "HTML" patterns, for bodies without a useful Content-Type.
_HTML_SNIFF_RE = re.compile(
    rb"\s*(?:<!--|<(?:!doctype\s+html|html|head|body|meta|title|div|p|script|style|table|a|b|br"
    rb"|h1|iframe|font)[\s/>])",
    re.IGNORECASE,
)

_ZERO_WIDTH_CHARS = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_ZERO_WIDTH = dict.fromkeys(map(ord, _ZERO_WIDTH_CHARS), None)
# Characters that NFKC leaves as they are and that never compose with a neighbour.
_NFKC_STABLE_COMPLEMENT = re.compile(
    "[^\t\n\r\x20-\x7e\u0400-\u0482\u048a-\u04ff\u4e00-\u9fff\u3001\u3002\u300a-\u300f"
    "\u2013\u2014\u2018\u2019\u201c\u201d]"
)

# Elements that never carry readable text.
_STRIP_TAGS = tuple(
    "script style noscript template svg iframe object embed canvas select button textarea".split()
)
# Page chrome by element name. It and chrome found by class/id are dropped outermost first,
# unless they hold the article (some CMSs wrap the whole page in one <form>; an <article> may
# start with its own <header> and <h1>).
_CHROME_TAGS = ("header", "nav", "footer", "aside", "form", "menu", "dialog")
_DROP_TAG = "memoryhole-drop"
_CHROME_WORDS = (
    "nav|navbar|navigation|menu|menus|footer|header|masthead|sidebar|breadcrumbs?|share|sharing|"
    "social|related|comments?|advert|advertisement|ads?|adsense|sponsor|promo|cookies?|consent|"
    "banner|popup|modal|newsletter|subscribe|toolbar|topbar|pagination|pager|recommend|hot|rank|"
    "copyright"
)
# A class/id token is chrome when one of its words (split on anything but letters) is a chrome
# word, or a word starts with a few unambiguous ones ("navigation", "menubar", "footerlinks")
# or ends with them ("topnav", "mainmenu", "usercomments").
_CHROME_TOKEN_RE = re.compile(
    rf"(?:^|[^a-z])(?:{_CHROME_WORDS})(?:$|[^a-z])"
    r"|(?:^|[^a-z])(?:nav|menu|footer|header|sidebar|breadcrumb|advert|cookie|banner)"
    r"|(?:nav|menu|footer|sidebar|breadcrumbs?|comments?)(?:$|[^a-z])"
)
# Layout modifiers on a container ("has-sidebar", "no-comments") do not make it chrome.
_MODIFIER_RE = re.compile(r"^(?:has|with|without|no|is|show|hide|enable|disable)[-_]")
_PROTECTED_TAGS = frozenset({"html", "head", "body", "article", "main"})
# Attribute lookups are far cheaper in libxml2's XPath than element predicates.
_CLASS_AND_ID = etree.XPath("//body//@class|//body//@id")
_ITEMPROP = etree.XPath("//body//@itemprop")
_COUNT_P = etree.XPath("count(.//p)")
_BLOCK_TAGS = tuple(
    "p div h1 h2 h3 h4 h5 h6 li blockquote pre td th tr dt dd section article main figcaption"
    " caption table ul ol dl address center hr br".split()
)
_TITLE_META = frozenset({"og:title", "twitter:title"})
# the names news pages give their publication time (Open Graph, schema.org, Dublin Core, the
# portals' own), in <meta property|name|itemprop=... content=...> or <time itemprop=...>
_PUBLISHED_META = frozenset({
    "article:published_time", "og:published_time", "datepublished", "pubdate", "publishdate",
    "publish-date", "publish_date", "dc.date", "dc.date.issued", "dcterms.created",
    "dcterms.issued", "parsely-pub-date", "sailthru.date"})


def text_digest(text: str) -> str:
    """``sha256:<hex>`` of ``text`` after NFKC, zero-width removal and whitespace collapse.

    Whitespace-only changes, including re-wrapping into different paragraphs, keep the digest.
    """
    return _sha256(" ".join(_nfkc_without_zero_width(text).split()))


def had_text(last_text_digest: str | None) -> bool:
    """Whether a capture with this text digest had any text (an article was there)."""
    return bool(last_text_digest) and last_text_digest != text_digest("")


def _block_text_digest(text: str) -> str:
    """``text_digest(text)`` for a text made by ``_block_text``, whose lines are already
    whitespace-collapsed: unless NFKC or the zero-width removal changes something, collapsing
    again would only turn the line breaks into spaces, which a long article pays for."""
    normal = _nfkc_without_zero_width(text)
    return _sha256(text.replace("\n", " ") if normal is text else " ".join(normal.split()))


def _sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _nfkc_without_zero_width(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)`` with zero-width characters removed, fast; the
    very ``text`` object when nothing changes.

    Plain NFKC spends almost all of its time on characters it leaves alone (BENCHMARKS.md
    "Timings of single steps"). Text made of characters that NFKC keeps and that
    never compose with a neighbour (ASCII, CJK ideographs, Cyrillic, common punctuation), plus
    other characters that are neither marks nor jamo, is normalised one distinct character at a
    time with ``str.replace``, which gives the same result. Anything else gets real NFKC.
    """
    if text.isascii():
        return text
    if unicodedata.is_normalized("NFKC", text):          # a quick check in C, cheaper than below
        for char in _ZERO_WIDTH_CHARS:
            if char in text:
                text = text.replace(char, "")
        return text
    others = set(_NFKC_STABLE_COMPLEMENT.findall(text))
    if any(_composes(char) for char in others):
        return unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    for char in others:
        replacement = "" if char in _ZERO_WIDTH_CHARS else unicodedata.normalize("NFKC", char)
        if replacement != char:
            text = text.replace(char, replacement)
    return text


def _composes(char: str) -> bool:
    """Whether NFKC of ``char`` may merge with the character before it: only when its
    decomposition starts with a mark or a Hangul jamo (NFKC quick-check "maybe")."""
    first = unicodedata.normalize("NFKD", char)[0]
    code = ord(first)
    return unicodedata.category(first)[0] == "M" or any(
        low <= code <= high for low, high in ((0x1100, 0x11FF), (0xA960, 0xA97F), (0xD7B0, 0xD7FF))
    )


def _looks_like_html(body: bytes, content_type: str | None) -> bool:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in ("text/html", "application/xhtml+xml"):
        return True
    if mime in ("", "application/octet-stream", "text/plain", "application/xml", "text/xml"):
        head = body[:SNIFF_BYTES]
        found = bom(head)
        if found:
            head = head[found[1]:].decode(found[0], errors="ignore").encode("ascii", "ignore")
        return bool(_HTML_SNIFF_RE.match(head))
    return False


def _parse(text: str) -> etree._Element | None:
    text = _XML_DECL_RE.sub("", text, count=1).replace("\x00", "").replace(_BLOCK_MARK, "")
    if not text.strip():
        return None
    # lxml.html's own parser looks up a Python element class for every element it hands back,
    # which doubles the cost here; the plain libxml2 HTML parser builds the same tree. Handing it
    # UTF-8 bytes (the encoding given, so no <meta> can change it) is about 15% faster than a str.
    parser = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True,
                              encoding="utf-8")
    try:
        return etree.fromstring(text.encode("utf-8"), parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        logger.debug("unparsable HTML", exc_info=True)
        return None


def _published(root: etree._Element) -> str | None:
    """The page's publication time from its metadata, as ISO-8601 UTC (a time without a zone is
    taken as UTC, a date alone as its midnight UTC); None when none parses."""
    for element in root.iter("meta", "time"):
        key = (element.get("property") or element.get("name") or element.get("itemprop")
               or "").lower()
        if key in _PUBLISHED_META:
            value = element.get("content" if element.tag == "meta" else "datetime") or ""
            try:
                return iso(parse_iso(value))
            except ValueError:
                continue
    return None


def _title(root: etree._Element) -> str | None:
    titles = [
        "".join(element.itertext())
        for element in root.iter("title")
        if next(element.iterancestors("svg"), None) is None
    ] + [
        element.get("content") or ""
        for element in root.iter("meta")
        if (element.get("property") or element.get("name") or "").lower() in _TITLE_META
    ]
    return next((" ".join(title.split()) for title in titles if title.strip()), None)


def _is_chrome_attr(value: str) -> bool:
    for token in value.lower().split():
        if not _MODIFIER_RE.match(token) and _CHROME_TOKEN_RE.search(token):
            return True
    return False


def _article_and_ancestors(root: etree._Element) -> set[etree._Element]:
    """Elements that hold (or are) the article: never chrome."""
    anchors = list(root.iter("article", "main"))
    anchors += [
        value.getparent() for value in _ITEMPROP(root) if value.strip().lower() == "articlebody"
    ]
    # An <h1> inside the article (its headline), not a site logo in the page header.
    anchors += [h1 for h1 in root.iter("h1") if next(h1.iterancestors("article", "main"), None)
                is not None]
    keep: set[etree._Element] = set(anchors)
    for anchor in anchors:
        keep.update(anchor.iterancestors())
    return keep


def _drop_chrome(root: etree._Element) -> None:
    etree.strip_elements(root, *_STRIP_TAGS, with_tail=False)
    keep = _article_and_ancestors(root) | _page_wrappers(root)
    # Chrome by element name first: it takes most menus and link lists with it, so the class/id
    # pass below has far fewer elements to look at.
    tagged = [
        element
        for element in root.iter(*_CHROME_TAGS)
        # A <form> with paragraphs or headings is content (or a comment form, which the
        # class/id pass catches); a search box is not.
        if element.tag != "form" or next(element.iter("p", "h1", "h2"), None) is None
    ]
    _drop_all(root, tagged, keep)
    values = _CLASS_AND_ID(root)
    verdicts = {value: _is_chrome_attr(value) for value in set(values)}
    _drop_all(root, (value.getparent() for value in values if verdicts[value]), keep)


def _drop_all(
    root: etree._Element, elements: Iterable[etree._Element], keep: set[etree._Element]
) -> None:
    dropped = False
    for element in list(elements):
        if element not in keep and element.tag not in _PROTECTED_TAGS:
            element.tag = _DROP_TAG  # nested chrome goes with its outermost ancestor
            dropped = True
    if dropped:
        etree.strip_elements(root, _DROP_TAG, with_tail=False)


def _page_wrappers(root: etree._Element) -> set[etree._Element]:
    """Elements holding more than half of the page's paragraphs (an ASP.NET page-wide <form>,
    a mis-named layout <div>): never chrome.

    A run of more than half of the paragraphs always contains the middle one, so only its
    ancestors need counting.
    """
    paragraphs = list(root.iter("p"))
    if len(paragraphs) < 6:
        return set()
    half = len(paragraphs) / 2
    middle = paragraphs[len(paragraphs) // 2]
    return {element for element in middle.iterancestors() if _COUNT_P(element) > half}


@functools.cache
def _text_xslt() -> etree.XSLT:
    """The body's text with a block mark around every block element (libxslt runs it in C,
    far cheaper than setting .text/.tail from Python)."""
    blocks = "|".join(tag for tag in _BLOCK_TAGS if tag != "br")
    stylesheet = f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text" encoding="utf-8"/>
<xsl:template match="/"><xsl:apply-templates select="(//body)[1]"/></xsl:template>
<xsl:template match="{blocks}">{_BLOCK_MARK}<xsl:apply-templates/>{_BLOCK_MARK}</xsl:template>
<xsl:template match="br">{_BLOCK_MARK}</xsl:template>
</xsl:stylesheet>"""
    return etree.XSLT(etree.XML(stylesheet))


def _block_text(root: etree._Element) -> str:
    """Block elements' text as paragraphs, one per line, whitespace collapsed."""
    blocks = (" ".join(block.split()) for block in str(_text_xslt()(root)).split(_BLOCK_MARK))
    return "\n".join(block for block in blocks if block)


def parse_html(body: bytes, content_type: str | None) -> etree._Element | None:
    """The page's tree, decoded and parsed as the fast text pass does (None: nothing to
    parse)."""
    if not body:
        return None
    return _parse(decode_html(body[:TEXT_MAX_HTML_BYTES], content_type)[0])


def fast_page_text(body: bytes, content_type: str | None, *, requisites_of: str | None = None,
                   requisites_limit: int = DEFAULT_LIMIT) -> PageText:
    """Title, fast main text and fingerprint of an HTML page; empty text for anything else.

    With ``requisites_of`` (the page's URL) it also lists up to ``requisites_limit`` of the
    page's requisites from the tree it parses (archive.text.markup_urls), before the page chrome is
    dropped: a fraction of what a separate pass over the page costs. Without it the limit is
    not used.

    Drops non-text elements and page chrome (header, nav, footer, aside, and elements whose
    class/id say nav, menu, footer, sidebar, share, related, comment, advert, cookie, banner...
    unless they hold the article), then keeps the text of block elements as paragraphs, one per
    line, whitespace collapsed. For a body that is not HTML, ``encoding`` is "".
    """
    none = () if requisites_of is not None else None
    body = body[:TEXT_MAX_HTML_BYTES]
    if not body or not _looks_like_html(body, content_type):
        return PageText(title=None, text="", text_digest=text_digest(""), encoding="",
                        requisites=none)
    decoded, encoding = decode_html(body, content_type)
    if (root := _parse(decoded)) is None:
        return PageText(title=None, text="", text_digest=text_digest(""), encoding=encoding,
                        requisites=none)
    found = None
    if requisites_of is not None:
        found = tuple(tree_requisites(root, requisites_of, requisites_limit,
                                      styles="url(" in decoded or "URL(" in decoded))
    title, published = _title(root), _published(root)
    _drop_chrome(root)
    text = _block_text(root)
    return PageText(title=title, text=text, text_digest=_block_text_digest(text),
                    encoding=encoding, requisites=found, published_at=published)


def main_text(body: bytes, content_type: str | None, url: str | None = None) -> str:
    """The article's main text with trafilatura, one paragraph per line.

    Decoded with ``decode_html`` first, so GBK and Big5 pages work. Comments are left out,
    tables kept, precision favoured. Falls back to ``fast_page_text(...).text`` when
    trafilatura finds nothing or fails.
    """
    body = body[:TEXT_MAX_HTML_BYTES]
    if not body or not _looks_like_html(body, content_type):
        return ""
    decoded = _XML_DECL_RE.sub("", decode_html(body, content_type)[0], count=1).replace("\x00", "")
    extracted = None
    try:
        import trafilatura  # imported here: it is slow to import and only needed on changes

        extracted = trafilatura.extract(decoded, url=url, include_comments=False,
                                        include_tables=True, favor_precision=True)
    except Exception:  # trafilatura has many failure modes on broken pages
        logger.warning("trafilatura failed on %s", url or "a page", exc_info=True)
    lines = (" ".join(line.split()) for line in (extracted or "").splitlines())
    return "\n".join(line for line in lines if line) or fast_page_text(body, content_type).text
