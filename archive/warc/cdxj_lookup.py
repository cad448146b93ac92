"""Find a URL's captures in the CDXJ indexes, and the one nearest a time, without reading the
whole index: the index is sorted (archive.warc.cdxj), so a binary search over its bytes finds the
first line of a key, and the lines of that key follow it.

Each collection's ``index.cdxj`` is replaced atomically when it changes, so a lookup that
opened the file reads one consistent version. Records still being written (``.warc.gz.open``)
are indexed when their file closes, as pywb sees them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from archive.home import Home
from archive.warc.cdxj import IndexEntry, parse_line, surt_key
from archive.warc.cdxj_tiers import key_lines

REVISIT_MIME = "warc/revisit"


@dataclass(frozen=True)
class Capture:
    """One index entry and the collection whose index holds it."""

    collection: str
    entry: IndexEntry

    @property
    def timestamp(self) -> str:
        return self.entry.timestamp

    @property
    def url(self) -> str:
        return self.entry.url

    @property
    def is_revisit(self) -> bool:
        return self.entry.mime == REVISIT_MIME

    @property
    def view(self) -> str:
        """The collection as a replay URL names it: ``coll``, or ``coll@vantage`` for a
        vantage point's capture (:func:`split_view`)."""
        return view_name(self.collection, self.entry.vantage)


VIEW_SEPARATOR = "@"      # never in a collection's or a vantage's name (config.NAME_RE)


def view_name(collection: str, vantage: str | None) -> str:
    """How a replay URL names ``collection`` as ``vantage`` saw it (None: the control)."""
    return collection if vantage is None else f"{collection}{VIEW_SEPARATOR}{vantage}"


def split_view(name: str) -> tuple[str, str | None]:
    """(collection, vantage) of a replay URL's collection part: ``coll@kz`` is collection
    ``coll`` as vantage ``kz`` saw it (its captures only); ``coll`` is the control's."""
    collection, _, vantage = name.partition(VIEW_SEPARATOR)
    return collection, vantage or None


def captures_of(home: Home, url: str, collections: Iterable[str] | None = None
                ) -> list[Capture]:
    """Every indexed capture of ``url`` (its SURT key: ``www.``, scheme and query order do not
    matter, as in pywb) in the home's collections, oldest first."""
    try:
        key = surt_key(url)
    except ValueError:
        return []
    found = []
    for collection in collections if collections is not None else home.collections():
        for line in key_lines(home.index_path(collection), key):
            try:
                found.append(Capture(collection, parse_line(line)))
            except ValueError:
                continue
    found.sort(key=lambda c: (c.timestamp, c.collection, c.entry.offset))
    return found


def nearest(captures: list[Capture], timestamp: str, url: str | None = None,
            vantage: str | None = None) -> Capture | None:
    """The capture closest in time to ``timestamp`` (14 digits, or fewer: padded as pywb
    does); a capture of exactly ``url`` is preferred to one of a URL with the same key.

    With ``vantage``, only that vantage point's captures; without, the control's are preferred
    (a vantage's block page may share a second with the control's page)."""
    if vantage is not None:
        captures = [c for c in captures if c.entry.vantage == vantage]
    else:
        captures = [c for c in captures if c.entry.vantage is None] or captures
    if not captures:
        return None
    if url is not None:
        exact = [c for c in captures if c.url == url]
        captures = exact or captures
    target = _as_int(timestamp)
    return min(captures, key=lambda c: (abs(_as_int(c.timestamp) - target),
                                        -_as_int(c.timestamp)))


def original_of(captures: list[Capture], revisit: Capture) -> Capture | None:
    """The response whose payload a revisit refers to: same digest, not a revisit, the latest
    at or before the revisit (else the earliest after it)."""
    same = [c for c in captures if not c.is_revisit and c.entry.digest
            and c.entry.digest == revisit.entry.digest]
    before = [c for c in same if c.timestamp <= revisit.timestamp]
    if before:
        return before[-1]
    return same[0] if same else None


def _as_int(timestamp: str) -> int:
    digits = "".join(ch for ch in timestamp if ch.isdigit())[:14]
    return int(digits.ljust(14, "0")) if digits else 0
