"""What a crawl hands the archive writer (archive.writer): the writer's settings for a run and
the jobs that follow each archived response.

The crawl process submits, in order: the HTTP exchange (its WARC record), then at most one job
about it: a :class:`PageJob` (a page to catalogue, extract and diff), a :class:`CheckJob` (the
verdict of a re-check, with its page when a 2xx came) or a :class:`ListJob` (the items a list
page showed). Jobs are plain frozen dataclasses, pickled across the process boundary; their
fields are the whole contract between the two processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PageText:
    """What the crawler stores about a page's text."""

    title: str | None
    text: str
    text_digest: str
    encoding: str
    requisites: tuple[str, ...] | None = None    # asked for with requisites_of; else None
    published_at: str | None = None   # the article's publication time from its metadata (UTC)
    # the text's story signature (archive.text.minhash, hex of to_bytes) when it was made where
    # the text was (a cluster's worker); "": the text is too short for one; None: not made
    signature: str | None = None


CONTROL = "default"      # the control's name in check rows when it is the direct egress


# The default of ``[stories] threshold`` (archive.config): estimated Jaccard similarity of two
# main texts (archive.text.minhash) at or above which they are copies of one story. Chosen from
# bench/stories.py's precision and recall on the demo and test pages (BENCHMARKS.md).
DEFAULT_STORY_THRESHOLD = 0.5


@dataclass(frozen=True)
class WriterSettings:
    collection: str = "main"
    max_bytes: int = 1024 * 1024 * 1024
    warcinfo: dict[str, str] = field(default_factory=dict)
    compression: str = "fast"             # archive.warc.writer.COMPRESSIONS
    extract: str = "fast"                # fast | trafilatura
    queue_size: int = 1000               # items the writer process reads ahead, at most...
    queue_bytes: int = 256 * 1024 * 1024  # ...and bytes of them (archive.writer.inbox)
    commit_rows: int = 500
    commit_seconds: float = 1.0
    # the re-check schedule; None: its defaults (archive.detect.state)
    recheck_offsets: tuple[str, ...] | None = None
    confirm_checks: int | None = None
    confirm_after: str | None = None
    log_file: str | None = None          # the writer process's log lines go here (default: stderr)
    control_name: str = CONTROL          # the control's name in check rows (CONTROL, or the
                                         # [[vantage]] with control = true)
    log_level: str = "INFO"
    # [stories] threshold; None: its default (DEFAULT_STORY_THRESHOLD)
    story_threshold: float | None = None


@dataclass(frozen=True)
class PageJob:
    record_id: str
    url: str                      # the fetched URL (final, after redirects)
    status: int
    body: bytes | None            # decoded (no Content-Encoding) body, for the text; None: not
                                  # sent (see page_body_needed), read back from the WARC if needed
    content_type: str | None
    page: PageText | None = None  # the fast text; None: the writer extracts it
    source: str | None = None
    platform: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    good: bool | None = None      # the page itself? (None: the writer decides); False: a tombstone
    requisites_limit: int = 0     # > 0: list this many of the page's requisites from the text
                                  # pass and answer ("requisites", url, [urls]), even if none
    watch_text: bool = True       # False: watched for its existence only, its text never diffed
    listed_at: str | None = None  # its time in the feed that listed it (a publication time)


# Tombstones, walls and not-found pages are short: the writer classifies a 2xx page with less text
# than this (from its body). A longer one is taken as the page itself.
SHORT_PAGE = 3000


def page_body_needed(page: PageText | None) -> bool:
    """Whether a page job must carry the decoded body. Not when the crawl process made the text
    and it is long: the writer needs the body then only to diff a changed page (or with
    ``extract = "trafilatura"``), and reads it back from the record it has just written. That
    saves pickling and piping every page's body a second time (the exchange carries it too)."""
    return page is None or len(page.text) < SHORT_PAGE


@dataclass(frozen=True)
class CheckJob:
    url_id: int
    url: str
    checked_at: datetime
    outcome: str                     # alive | missing | blocked | transient (classifier's)
    reason: str | None
    rule: str
    detail: str
    http_status: int | None
    record_id: str | None = None     # the archived response (None: no response arrived)
    page: PageJob | None = None      # a 2xx body: text, diff, change detection
    retry_after: float | None = None
    offsets: tuple[str, ...] | None = None
    vantage: str | None = None       # a [[vantage]] that is not the control; None: the control
    answer: str | None = None        # what was answered, comparable across URLs
                                     # (archive.detect.run.answer_fingerprint)
    probe_answer: str | None = None  # the soft-404 probe's answer, for a soft_404 verdict
    control: bool = False            # a control check: last seen alive and unchanged


@dataclass(frozen=True)
class ListedItem:
    item_id: str
    seq: int
    url: str | None = None           # the item's own page, if it has one
    check_url: str | None = None     # where its deletion is confirmed (None: no own URL)
    posted_at: str | None = None
    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict)   # views, media, album ids...
    service: bool = False


@dataclass(frozen=True)
class ListJob:
    """The items one archived list page showed (``record_id``: its response record)."""

    record_id: str
    parent_url: str                  # the list the items belong to (every page of it)
    items: tuple[ListedItem, ...]
    covers: tuple[int, int] | None   # (lowest, highest) seq of its ordinary items
    seen_seqs: frozenset[int] = frozenset()   # every seq the page shows (album ids too)
    platform: str | None = None
    source: str | None = None


