"""Writers for lists of deletion objects (archive.catalogue.deletions): table, json, jsonl, csv,
atom; and of block objects (archive.catalogue.blocking): table, json, jsonl, csv.

Every machine format parses back to the same values:

- ``json``: one array, indented, UTF-8 (not ``\\u`` escapes).
- ``jsonl``: one object per line.
- ``csv``: a header row, then one row per deletion; nested objects are flattened with a
  prefix (``evidence_rule``, ``last_good_capture_id``, ``last_good_timestamp``…); null is an
  empty cell. RFC 4180 quoting and line ends, UTF-8 without a BOM.
- ``atom``: an Atom 1.0 feed (RFC 4287), built with the standard library. One entry per
  deletion; its id is a ``urn:uuid`` derived from the deletion's row id, URL and detection time,
  so it is stable across runs and unlikely to clash with another home's feed.
- ``table``: a rich table for people (detected, reason, source, URL, last seen alive).
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from rich.table import Table
from rich.text import Text

from archive.timeutil import iso, utcnow

if TYPE_CHECKING:
    from rich.console import Console

FORMATS: tuple[str, ...] = ("table", "json", "jsonl", "csv", "atom")
ATOM_NS = "http://www.w3.org/2005/Atom"
# The prefix each nested object's keys get in CSV.
_PREFIXES = {"evidence": "evidence_", "last_good_capture": "last_good_"}
CSV_COLUMNS: tuple[str, ...] = (
    "id", "url", "domain", "source", "reason", "detected_at", "last_seen_alive_at",
    "first_seen_missing_at", "confirmed_checks", "restored_at", "item_id", "parent_url",
    "item_text", "replay_url",
    "evidence_http_status", "evidence_rule", "evidence_detail", "evidence_capture_id",
    "evidence_captured_at", "evidence_warc_filename", "evidence_offset",
    "last_good_capture_id", "last_good_timestamp", "last_good_warc_filename",
    "last_good_offset", "last_good_length", "last_good_collection", "last_good_title",
    "story_id", "copies", "copies_deleted",
)
# Characters XML 1.0 cannot hold at all (even escaped); page titles sometimes carry them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# What a terminal would act on (escape sequences, C1 controls, BiDi overrides): never printed.
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ENTRY_NAMESPACE = uuid.UUID("5b0c3a52-8d8e-5f0e-9a47-6d656d6f7279")  # fixed: ids stay stable


def write_json(rows: list[dict[str, Any]], out: IO[str]) -> None:
    """One JSON array, indented."""
    json.dump(rows, out, indent=2, ensure_ascii=False)
    out.write("\n")


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """One JSON object per line."""
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")


def flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """A deletion object with ``evidence`` and ``last_good_capture`` spread into prefixed keys
    (``last_good_capture.capture_id`` becomes ``last_good_capture_id``)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        prefix = _PREFIXES.get(key)
        if prefix is None:
            flat[key] = value
            continue
        for sub, sub_value in (value or {}).items():
            flat[f"{prefix}{sub}"] = sub_value
    return flat


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell a spreadsheet cannot run: text that starts like a formula (``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return: an archived post's ``=HYPERLINK(...)``)
    gets a leading ``'`` (OWASP's advice); numbers stay numbers, None becomes empty."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str],
              columns: tuple[str, ...] = CSV_COLUMNS) -> None:
    """A header row and one flat row per object (``columns``, then any extra keys), each cell
    through :func:`csv_cell`."""
    rows = [flatten(row) for row in rows]
    extra = sorted({key for row in rows for key in row} - set(columns))
    writer = csv.DictWriter(out, fieldnames=[*columns, *extra], restval="",
                            extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: csv_cell(value) for key, value in row.items()})


def entry_id(row: Mapping[str, Any]) -> str:
    """The Atom id of one deletion: ``urn:uuid:`` from its row id, URL and detection time."""
    return "urn:uuid:" + str(uuid.uuid5(
        _ENTRY_NAMESPACE, f"{row['id']}\n{row['url']}\n{row['detected_at']}"))


def feed_id(key: str) -> str:
    """A stable Atom feed id for a feed described by ``key`` (e.g. home folder and filter)."""
    return "urn:uuid:" + str(uuid.uuid5(_ENTRY_NAMESPACE, "feed\n" + key))


def _clean(text: Any) -> str:
    return _XML_INVALID.sub("\ufffd", "" if text is None else str(text))


def _sub(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}",
                         {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        node.text = _clean(text)
    return node


def summary_text(row: Mapping[str, Any]) -> str:
    """One line for people: reason, rule, HTTP status, last seen alive, restored."""
    evidence = row.get("evidence") or {}
    parts = [f"reason: {row['reason']}"]
    if evidence.get("rule"):
        parts.append(f"rule: {evidence['rule']}")
    if evidence.get("http_status") is not None:
        parts.append(f"HTTP {evidence['http_status']}")
    if evidence.get("detail"):
        parts.append(f"detail: {evidence['detail']}")
    parts.append(f"last seen alive: {row.get('last_seen_alive_at') or 'unknown'}")
    if row.get("restored_at"):
        parts.append(f"restored at {row['restored_at']}")
    if row.get("story_id") is not None:
        parts.append(copies_text(row))
    return "; ".join(parts)


def copies_text(row: Mapping[str, Any]) -> str:
    """"3 of 5 copies deleted": a deletion object's story (archive.catalogue.deletions)."""
    return f"{row.get('copies_deleted') or 0} of {row.get('copies') or 1} copies deleted"


def write_atom(rows: list[dict[str, Any]], out: IO[str], *, feed_key: str,
               title: str = "memoryhole: deletions", updated: str | None = None) -> None:
    """An Atom 1.0 feed, one entry per deletion. ``feed_key`` names the feed (its id is derived
    from it); ``updated`` defaults to the newest ``detected_at``, else now."""
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(feed, "id", feed_id(feed_key))
    _sub(feed, "title", title)
    newest = max((row["detected_at"] for row in rows if row.get("detected_at")), default=None)
    _sub(feed, "updated", updated or newest or iso(utcnow()))
    author = _sub(feed, "author")
    _sub(author, "name", "memoryhole")
    _sub(feed, "generator", "memoryhole")
    for row in rows:
        entry = _sub(feed, "entry")
        _sub(entry, "id", entry_id(row))
        _sub(entry, "title", f"[{row['reason']}] {row['url']}")
        _sub(entry, "updated", row["detected_at"])
        _sub(entry, "link", rel="alternate", href=row.get("replay_url") or row["url"])
        if row.get("replay_url"):
            _sub(entry, "link", rel="related", href=row["url"])
        _sub(entry, "category", term=row["reason"])
        if row.get("source"):
            _sub(entry, "category", term=row["source"], label=f"source {row['source']}")
        _sub(entry, "summary", summary_text(row), type="text")
    ET.indent(feed)
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    out.write(ET.tostring(feed, encoding="unicode"))
    out.write("\n")


def terminal_text(value: Any, **options: Any) -> Text:
    """``value`` as rich Text for a terminal: control characters shown as U+FFFD, never acted
    on (an archived page's title or a URL may carry an escape sequence), and no markup."""
    return Text(_TERMINAL_UNSAFE.sub("\ufffd", "" if value is None else str(value)), **options)


def write_table(rows: list[dict[str, Any]], console: Console, *,
                empty_message: str = "no deletions") -> None:
    """A table for people, or ``empty_message`` when there is nothing to show."""
    if not rows:
        console.print(empty_message, highlight=False, markup=False)
        return
    table = Table("detected", "reason", "source", "URL", "last seen alive", box=None)
    for row in rows:
        reason = row["reason"] + (f" (restored {row['restored_at']})"
                                  if row.get("restored_at") else "")
        where = row["url"]
        if row.get("item_id"):            # an item inside a list page: say which, and where
            where += f"\n(item {row['item_id']} of {row.get('parent_url') or '?'})"
        if row.get("story_id") is not None:      # copies of its text elsewhere
            where += f"\n(story {row['story_id']}: {copies_text(row)})"
        # Text(), not str: a URL or source with "[...]" must not be read as rich markup.
        table.add_row(terminal_text(row["detected_at"]), terminal_text(reason),
                      terminal_text(row.get("source") or "-"),
                      terminal_text(where, overflow="fold"),
                      terminal_text(row.get("last_seen_alive_at") or "-"))
    console.print(table)
    console.print(f"{len(rows)} deletion(s)", highlight=False)


def write_deletions(rows: list[dict[str, Any]], fmt: str, out: IO[str], *,
                    console: Console | None = None, feed_key: str = "memoryhole",
                    feed_title: str = "memoryhole: deletions",
                    empty_message: str = "no deletions") -> None:
    """Write ``rows`` in ``fmt`` (one of ``FORMATS``); ``table`` goes to ``console``."""
    if fmt == "json":
        write_json(rows, out)
    elif fmt == "jsonl":
        write_jsonl(rows, out)
    elif fmt == "csv":
        write_csv(rows, out)
    elif fmt == "atom":
        write_atom(rows, out, feed_key=feed_key, title=feed_title)
    elif fmt == "table":
        if console is None:
            raise ValueError("the table format needs a rich Console")
        write_table(rows, console, empty_message=empty_message)
    else:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


BLOCK_FORMATS: tuple[str, ...] = ("table", "json", "jsonl", "csv")
BLOCK_CSV_COLUMNS: tuple[str, ...] = (
    "id", "url", "domain", "source", "vantage", "first_blocked_at", "last_blocked_at",
    "unblocked_at", "replay_url", "evidence_reason", "evidence_http_status", "evidence_rule",
    "evidence_detail", "evidence_check_id", "evidence_capture_id", "evidence_captured_at",
    "evidence_warc_filename", "evidence_offset",
)


def write_blocks(rows: list[dict[str, Any]], fmt: str, out: IO[str], *,
                 console: Console | None = None, empty_message: str = "nothing blocked") -> None:
    """Write block objects (archive.catalogue.blocking) in ``fmt`` (one of ``BLOCK_FORMATS``);
    ``table`` goes to ``console``."""
    if fmt == "json":
        write_json(rows, out)
    elif fmt == "jsonl":
        write_jsonl(rows, out)
    elif fmt == "csv":
        write_csv(rows, out, BLOCK_CSV_COLUMNS)
    elif fmt == "table":
        if console is None:
            raise ValueError("the table format needs a rich Console")
        if not rows:
            console.print(empty_message, highlight=False, markup=False)
            return
        table = Table("vantage", "reason", "URL", "first blocked", "last blocked", "lifted",
                      box=None)
        for row in rows:
            table.add_row(terminal_text(row["vantage"]),
                          terminal_text(row["evidence"]["reason"] or "-"),
                          terminal_text(row["url"], overflow="fold"),
                          terminal_text(row["first_blocked_at"]),
                          terminal_text(row["last_blocked_at"]),
                          terminal_text(row.get("unblocked_at") or "-"))
        console.print(table)
        console.print(f"{len(rows)} block(s)", highlight=False)
    else:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(BLOCK_FORMATS)}")
