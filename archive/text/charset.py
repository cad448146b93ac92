"""Decode HTML bytes as browsers do: the charset of a page, declared or not.

The WHATWG order (BOM, HTTP header, ``<meta>``), then strict UTF-8, then charset-normalizer,
then windows-1252 with replacement; labels are mapped to the supersets browsers really use
(gb2312/gbk -> gb18030, big5 -> big5hkscs, latin-1/ascii -> cp1252). One deliberate exception
to browsers: a body that is valid UTF-8 with non-ASCII bytes is decoded as UTF-8 even when
another charset was declared, since that declaration is a common server misconfiguration and
legacy-encoded text is almost never valid UTF-8 by chance. Detection runs only on pages that
declare no charset and are not UTF-8. Nothing here raises on garbage bytes.
"""

from __future__ import annotations

import codecs
import logging
import re

import charset_normalizer

logger = logging.getLogger(__name__)

SNIFF_BYTES = 4096
_MAX_REPLACEMENT_RATIO = 0.005
_CHARSET_RE = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]+)""", re.IGNORECASE)
_META_RE = re.compile(rb"<meta\b[^>]*>", re.IGNORECASE)
_HEADER_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]+)""", re.IGNORECASE)
_MARKUP_RE = re.compile(rb"<[^<>]*>")  # linear even on "<<<<..."
_DETECT_BYTES = 16384

# WHATWG label -> the Python codec that decodes what browsers decode for it.
_CHARSET_ALIASES = {
    label: codec
    for codec, labels in (
        ("gb18030", "gb2312 gbk x-gbk gb_2312 gb_2312-80 csgb2312 chinese iso-ir-58 cp936 ms936"
                    " windows-936 euc-cn"),
        ("big5hkscs", "big5 big5-hkscs cn-big5 csbig5 x-x-big5 cp950"),
        ("cp1252", "ascii us-ascii latin1 latin-1 l1 iso-8859-1 iso8859-1 iso_8859-1 iso88591"
                   " cp819 ibm819"),
        ("shift_jis", "x-sjis"),
        ("cp932", "windows-31j"),
        ("utf-8", "utf8 unicode-1-1-utf-8"),
    )
    for label in labels.split()
}
# Never honoured: UTF-7 is an XSS vector (WHATWG drops it); these fall through to detection.
_REFUSED_CODECS = frozenset({"utf-7"})

def _codec_for(label: str | bytes) -> str | None:
    """The Python codec for a declared charset label, or None if unknown."""
    if isinstance(label, bytes):
        label = label.decode("ascii", "ignore")
    label = label.strip().strip("\"'").lower()
    try:
        name = codecs.lookup(_CHARSET_ALIASES.get(label, label)).name
    except LookupError:
        return None
    if name in _REFUSED_CODECS:
        return None
    # Python calls latin-1 "iso8859-1"; ascii is "ascii": both decode as windows-1252.
    return _CHARSET_ALIASES.get(name.replace("_", "-"), name)


def bom(body: bytes) -> tuple[str, int] | None:
    """(codec, length) of the byte-order mark ``body`` starts with, if any."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if body.startswith(bom):
            return codec, len(bom)
    return None


def _declared(body: bytes, content_type: str | None) -> list[str]:
    """Codecs declared in the Content-Type header, then in a ``<meta>`` in the first 4 KB."""
    found = []
    match = _HEADER_CHARSET_RE.search(content_type or "")
    if match and (codec := _codec_for(match.group(1))):
        found.append(codec)
    for meta in _META_RE.finditer(body[:SNIFF_BYTES]):
        if (match := _CHARSET_RE.search(meta.group(0))) and (codec := _codec_for(match.group(1))):
            # WHATWG: a <meta> cannot declare UTF-16 in a document read as ASCII to find it.
            found.append("utf-8" if codec.startswith("utf-16") else codec)
            break
    return found


def _try_decode(body: bytes, codec: str, tolerant: bool = True) -> str | None:
    """Decode if ``codec`` fits the bytes: strictly, or (tolerant) with very few bad bytes."""
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        if not tolerant:
            return None
    except LookupError:
        return None
    text = body.decode(codec, errors="replace")
    return text if text.count("\ufffd") <= max(2, len(text) * _MAX_REPLACEMENT_RATIO) else None


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
    marked = bom(body)
    if marked:
        codec, skip = marked
        return body[skip:].decode(codec, errors="replace"), codec

    utf8 = None if body.isascii() else _try_decode(body, "utf-8", tolerant=False)
    for declared in _declared(body, content_type):
        if utf8 is not None:
            if declared != "utf-8":
                logger.debug("declared %s but the body is UTF-8", declared)
            return utf8, "utf-8"
        if (text := _try_decode(body, declared)) is not None:
            return text, declared
        logger.debug("declared charset %s does not fit the bytes", declared)
    if body.isascii():
        return body.decode("ascii"), "utf-8"
    if utf8 is not None:
        return utf8, "utf-8"
    if (guess := _detect(body)) and (text := _try_decode(body, guess)) is not None:
        return text, guess
    return body.decode("cp1252", errors="replace"), "cp1252"


def _detect(body: bytes) -> str | None:
    # The detector works faster and better on the text alone (BENCHMARKS.md). '<' and '>' are
    # never trail bytes of GBK, Big5 or Shift_JIS characters.
    sample = b" ".join(_MARKUP_RE.sub(b" ", body).split())
    if len(sample) > _DETECT_BYTES:
        sample = sample[: max(sample.rfind(b" ", 0, _DETECT_BYTES), _DETECT_BYTES // 2)]
    try:
        best = charset_normalizer.from_bytes(sample or body).best()
    except Exception:  # a detector bug must not stop a crawl
        logger.warning("charset detection failed", exc_info=True)
        return None
    return _codec_for(best.encoding) if best is not None else None
