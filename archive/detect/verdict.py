"""The classifier's data types: what a re-check saw and what the classifier says about it.

Kept apart from :mod:`archive.detect.classify` so the redirect judgement can build verdicts; import
them from :mod:`archive.detect.classify`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SiteProbe:
    """The answer of a random sibling URL on the same site (Bar-Yossef soft-404 probe)."""

    status: int | None
    final_url: str | None
    title: str | None
    text: str  # fast text (archive.text.extract.fast_page_text)
    answer: str | None = None  # archive.detect.run.answer_fingerprint of what it answered


@dataclass(frozen=True)
class Observation:
    """One re-check answer, as the re-check spider saw it (redirects not followed)."""

    url: str
    status: int | None  # None when no HTTP response arrived
    headers: Sequence[tuple[str, str]] = ()  # response headers, duplicates kept
    body: bytes = b""  # decoded body (Content-Encoding removed)
    location: str | None = None  # absolute Location of a 3xx
    error: str | None = None  # transport failure class name
    truncated: bool = False  # body cut (data loss, size limit)
    platform: str | None = None  # None -> by hostname, else "news"
    probe: SiteProbe | None = None
    previous_title: str | None = None  # of the last good capture
    had_text: bool = False  # the last good capture had text (an article was there)


@dataclass(frozen=True)
class Verdict:
    """What one check found; ``changed`` is decided elsewhere."""

    outcome: str  # alive | missing | blocked | transient
    reason: str | None
    rule: str  # "<platform>/<rule-id>@<version>"
    detail: str  # one human line: what matched
    http_status: int | None
    retry_after: float | None = None  # seconds, from Retry-After (429/503)
