"""Page text: decode HTML bytes, find the title, the fast main text and its fingerprint.

``fast_page_text`` runs on every crawled page, so it is cheap: one lxml parse, chrome removal
with compiled XPath, and lxml's C text serialiser. Measured on this machine (Python 3.11,
lxml 6.1) on a 52 KB news page with 150 menu links and 40 paragraphs: about TIMING_FAST ms per
page. ``main_text`` (trafilatura, about TIMING_MAIN ms on the same page) is only worth calling
when the fast fingerprint (``text_digest``) changed.

Decoding follows the WHATWG order (BOM, HTTP header, ``<meta>``), then strict UTF-8, then
charset-normalizer, then windows-1252 with replacement; labels are mapped to the supersets
browsers really use (gb2312/gbk -> gb18030, big5 -> big5hkscs, latin-1/ascii -> cp1252).
One deliberate exception to browsers: a body that is valid UTF-8 with non-ASCII bytes is
decoded as UTF-8 even when another charset was declared, since that declaration is a common
server misconfiguration and legacy-encoded text is almost never valid UTF-8 by chance.

Nothing here raises on garbage bytes: the worst case is an empty text.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import charset_normalizer
from lxml import etree

logger = logging.getLogger(__name__)

_SNIFF_BYTES = 4096
_BLOCK_MARK = "\ue000"
_MAX_REPLACEMENT_RATIO = 0.005

_CHARSET_RE = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]+)""", re.IGNORECASE)
_META_RE = re.compile(rb"<meta\b[^>]*>", re.IGNORECASE)
_HEADER_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]+)""", re.IGNORECASE)
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>")
_HTML_SNIFF_RE = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|meta|title|div|p|script|!--)",
    re.IGNORECASE | re.DOTALL,
)

# WHATWG label -> the Python codec that decodes what browsers decode for it.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "iso-ir-58": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "iso88591": "cp1252",
    "cp819": "cp1252",
    "ibm819": "cp1252",
    "x-sjis": "shift_jis",
    "windows-31j": "cp932",
    "unicode-1-1-utf-8": "utf-8",
    "utf8": "utf-8",
}
# Never honoured: UTF-7 is an XSS vector (WHATWG drops it); these fall through to detection.
_REFUSED_CODECS = frozenset({"utf-7"})

_ZERO_WIDTH_CHARS = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_ZERO_WIDTH = dict.fromkeys(map(ord, _ZERO_WIDTH_CHARS), None)
# Characters that NFKC leaves as they are and that never compose with a neighbour.
_NFKC_STABLE_COMPLEMENT = re.compile(
    "[^\t\n\r\x20-\x7e\u0400-\u0482\u048a-\u04ff\u4e00-\u9fff\u3001\u3002\u300a-\u300f"
    "\u2013\u2014\u2018\u2019\u201c\u201d]"
)

# Elements that never carry readable text.
_STRIP_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "object", "embed",
               "canvas", "select", "button", "textarea")
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
_BLOCK_TAGS = (
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "th",
    "tr", "dt", "dd", "section", "article", "main", "figcaption", "caption", "table", "ul",
    "ol", "dl", "address", "center", "hr", "br",
)
_TITLE_META = frozenset({"og:title", "twitter:title"})


@dataclass(frozen=True)
class PageText:
    """What the crawler stores about a page's text."""

    title: str | None
    text: str
    text_digest: str
    encoding: str


def text_digest(text: str) -> str:
    """``sha256:<hex>`` of ``text`` after NFKC, zero-width removal and whitespace collapse.

    Whitespace-only changes, including re-wrapping into different paragraphs, keep the digest.
    """
    normal = " ".join(_nfkc_without_zero_width(text).split())
    return "sha256:" + hashlib.sha256(normal.encode("utf-8")).hexdigest()


def _nfkc_without_zero_width(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)`` with zero-width characters removed, fast.

    Plain NFKC costs about 100 ns per CJK character (1.7 ms for a long Chinese article), almost
    all of it on characters it leaves alone. Text made of characters that NFKC keeps and that
    never compose with a neighbour (ASCII, CJK ideographs, Cyrillic, common punctuation), plus
    other characters that are neither marks nor jamo, is normalised one distinct character at a
    time with ``str.replace``, which gives the same result. Anything else gets real NFKC.
    """
    if text.isascii():
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
    """Whether NFKC of ``char`` may merge with the character before it.

    That happens only when its decomposition starts with a mark or a Hangul jamo (the
    characters whose NFKC quick-check is "maybe").
    """
    first = ord(unicodedata.normalize("NFKD", char)[0])
    return (
        unicodedata.category(chr(first))[0] == "M"
        or 0x1100 <= first <= 0x11FF
        or 0xA960 <= first <= 0xA97F
        or 0xD7B0 <= first <= 0xD7FF
    )


def _codec_for(label: str | bytes) -> str | None:
    """The Python codec for a declared charset label, or None if unknown."""
    if isinstance(label, bytes):
        label = label.decode("ascii", "ignore")
    label = label.strip().strip("\"'").lower()
    if not label:
        return None
    label = _CHARSET_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name in _REFUSED_CODECS:
        return None
    # Python calls latin-1 "iso8859-1"; ascii is "ascii": both decode as windows-1252.
    return _CHARSET_ALIASES.get(name.replace("_", "-"), name)


def _bom(body: bytes) -> tuple[str, int] | None:
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8", len(codecs.BOM_UTF8)
    if body.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if body.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    return None


def _header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _HEADER_CHARSET_RE.search(content_type)
    return _codec_for(match.group(1)) if match else None


def _meta_charset(body: bytes) -> str | None:
    for meta in _META_RE.finditer(body[:_SNIFF_BYTES]):
        match = _CHARSET_RE.search(meta.group(0))
        if match:
            codec = _codec_for(match.group(1))
            # WHATWG: a <meta> cannot declare UTF-16 in a document it was read as ASCII from.
            if codec and codec.startswith("utf-16"):
                return "utf-8"
            if codec:
                return codec
    return None


def _try_decode(body: bytes, codec: str) -> str | None:
    """Decode if ``codec`` fits the bytes: strictly, or with very few bad bytes."""
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        pass
    except LookupError:
        return None
    text = body.decode(codec, errors="replace")
    if text.count("\ufffd") <= max(2, len(text) * _MAX_REPLACEMENT_RATIO):
        return text
    return None


def _utf8_strict(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Return (unicode text, encoding). Order: BOM; charset in the Content-Type header;
    ``<meta charset>`` / ``<meta http-equiv content-type>`` in the first 4 KB; strict UTF-8;
    charset-normalizer's best guess; windows-1252 with replacement.

    Declared labels are mapped as browsers do (gb2312/gbk -> gb18030, big5 -> big5hkscs,
    latin-1/iso-8859-1/ascii -> cp1252). Unknown or wrong declarations (bytes that do not
    decode) fall through to detection. Never raises.
    """
    if not body:
        return "", "utf-8"
    bom = _bom(body)
    if bom:
        codec, skip = bom
        return body[skip:].decode(codec, errors="replace"), codec

    for declared in (_header_charset(content_type), _meta_charset(body)):
        if not declared:
            continue
        if declared != "utf-8" and not body.isascii():
            utf8 = _utf8_strict(body)
            if utf8 is not None:
                logger.debug("declared %s but the body is UTF-8", declared)
                return utf8, "utf-8"
        text = _try_decode(body, declared)
        if text is not None:
            return text, declared
        logger.debug("declared charset %s does not fit the bytes", declared)

    utf8 = _utf8_strict(body)
    if utf8 is not None:
        return utf8, "utf-8"

    guess = _detect(body)
    if guess:
        text = _try_decode(body, guess)
        if text is not None:
            return text, guess
    return body.decode("cp1252", errors="replace"), "cp1252"


def _detect(body: bytes) -> str | None:
    try:
        best = charset_normalizer.from_bytes(body).best()
    except Exception:  # a detector bug must not stop a crawl
        logger.warning("charset detection failed", exc_info=True)
        return None
    return _codec_for(best.encoding) if best is not None else None


def _looks_like_html(body: bytes, content_type: str | None) -> bool:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in ("text/html", "application/xhtml+xml"):
        return True
    if mime in ("", "application/octet-stream", "text/plain", "application/xml", "text/xml"):
        head = body[:_SNIFF_BYTES]
        bom = _bom(head)
        if bom:
            head = head[bom[1]:].decode(bom[0], errors="ignore").encode("ascii", "ignore")
        return bool(_HTML_SNIFF_RE.match(head))
    return False


def _parse(text: str) -> etree._Element | None:
    text = _XML_DECL_RE.sub("", text, count=1).replace("\x00", "").replace(_BLOCK_MARK, "")
    if not text.strip():
        return None
    # lxml.html's own parser looks up a Python element class for every element it hands back,
    # which doubles the cost here; the plain libxml2 HTML parser builds the same tree.
    parser = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    try:
        root = etree.fromstring(text, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        logger.debug("unparsable HTML", exc_info=True)
        return None
    return root


def _collapse(value: str | None) -> str | None:
    if not value:
        return None
    value = " ".join(value.split())
    return value or None


def _title(root: etree._Element) -> str | None:
    for element in root.iter("title"):
        if next(element.iterancestors("svg"), None) is None:
            title = _collapse("".join(element.itertext()))
            if title:
                return title
    for element in root.iter("meta"):
        if (element.get("property") or element.get("name") or "").lower() in _TITLE_META:
            title = _collapse(element.get("content"))
            if title:
                return title
    return None


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
    keep: set[etree._Element] = set()
    for anchor in anchors:
        if anchor not in keep:
            keep.add(anchor)
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
    verdicts: dict[str, bool] = {}
    by_attr = []
    for value in _CLASS_AND_ID(root):
        verdict = verdicts.get(value)
        if verdict is None:
            verdict = verdicts[value] = _is_chrome_attr(value)
        if verdict:
            by_attr.append(value.getparent())
    _drop_all(root, by_attr, keep)


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
    about 5x faster than setting .text/.tail from Python)."""
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
    mark = _BLOCK_MARK
    raw = " ".join(str(_text_xslt()(root)).split())
    raw = raw.replace(" " + mark, mark).replace(mark + " ", mark)
    return "\n".join(filter(None, raw.split(mark)))


def fast_page_text(body: bytes, content_type: str | None) -> PageText:
    """Title, fast main text and fingerprint of an HTML page; empty text for anything else.

    Drops non-text elements and page chrome (header, nav, footer, aside, and elements whose
    class/id say nav, menu, footer, sidebar, share, related, comment, advert, cookie, banner...
    unless they hold the article), then keeps the text of block elements as paragraphs, one per
    line, whitespace collapsed.
    """
    if not body or not _looks_like_html(body, content_type):
        return PageText(title=None, text="", text_digest=text_digest(""), encoding="")
    decoded, encoding = decode_html(body, content_type)
    root = _parse(decoded)
    if root is None:
        return PageText(title=None, text="", text_digest=text_digest(""), encoding=encoding)
    title = _title(root)
    _drop_chrome(root)
    text = _block_text(root)
    return PageText(title=title, text=text, text_digest=text_digest(text), encoding=encoding)


def main_text(body: bytes, content_type: str | None, url: str | None = None) -> str:
    """The article's main text with trafilatura, one paragraph per line.

    Decoded with ``decode_html`` first, so GBK and Big5 pages work. Comments are left out,
    tables kept, precision favoured. Falls back to ``fast_page_text(...).text`` when
    trafilatura finds nothing or fails.
    """
    if not body or not _looks_like_html(body, content_type):
        return ""
    decoded, _ = decode_html(body, content_type)
    decoded = _XML_DECL_RE.sub("", decoded, count=1).replace("\x00", "")
    extracted: str | None = None
    try:
        import trafilatura  # imported here: it is slow to import and only needed on changes

        extracted = trafilatura.extract(
            decoded,
            url=url,
            include_comments=False,
            include_tables=True,
            favor_precision=True,
            output_format="txt",
        )
    except Exception:  # trafilatura has many failure modes on broken pages
        logger.warning("trafilatura failed on %s", url or "a page", exc_info=True)
    if extracted:
        lines = (" ".join(line.split()) for line in extracted.splitlines())
        text = "\n".join(line for line in lines if line)
        if text:
            return text
    return fast_page_text(body, content_type).text
