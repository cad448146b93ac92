"""What the web UI's pages show, built from the catalogue and the index: a URL's timeline, its
deletions with the last good capture and the tombstone side by side, the per-day chart, the
side-by-side diff, the velocity report (archive.analysis). Plain data for the templates
(archive/templates), which escape it."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from html import escape
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

from archive.analysis.report import render_fragment
from archive.analysis.survival import SurvivalFilter
from archive.analysis.velocity import build_report
from archive.catalogue.captures import capture_body
from archive.catalogue.db import dict_rows
from archive.home import Home
from archive.jobs import CONTROL
from archive.text.diffing import diff_texts
from archive.text.extract import main_text
from archive.timeutil import parse_iso, timestamp14
from archive.urlnorm import replay_url
from archive.warc.cdxj_lookup import view_name


def stamp14(iso_text: str | None) -> str | None:
    if not iso_text:
        return None
    try:
        return timestamp14(parse_iso(iso_text))
    except ValueError:
        return None


def url_deletions(conn: Any, key: str, replay_origin: str) -> list[dict[str, Any]]:
    """The deletions of one URL (newest first), each with the frames of its last good capture
    and of its evidence (the tombstone, when the check archived a page)."""
    found = dict_rows(conn, (
        "SELECT d.id, d.reason, d.rule, d.http_status, d.detail, d.detected_at,"
        " d.last_seen_alive_at, d.first_seen_missing_at, d.restored_at, d.item_id,"
        " d.parent_url, d.item_text, g.collection AS good_coll, g.captured_at AS good_at,"
        " coalesce(g.fetched_url, g.url) AS good_url,"
        " e.collection AS ev_coll, e.captured_at AS ev_at,"
        " coalesce(e.fetched_url, e.url) AS ev_url"
        " FROM deletions AS d LEFT JOIN captures AS g ON g.id = d.last_good_capture_id"
        " LEFT JOIN captures AS e ON e.id = d.evidence_capture_id"
        " WHERE d.url = ? ORDER BY d.detected_at DESC, d.id DESC"), (key,))
    for row in found:
        good = (row["good_coll"], stamp14(row["good_at"]), row["good_url"])
        tombstone = (row["ev_coll"], stamp14(row["ev_at"]), row["ev_url"])
        row["good_frame"] = replay_url(replay_origin, *good)
        row["good_page"] = replay_url("/replay", *good)
        row["tombstone_frame"] = replay_url(replay_origin, *tombstone)
        row["tombstone_page"] = replay_url("/replay", *tombstone)
        row["tombstone_at"] = row["ev_at"]
    return found


def timeline_events(history: dict[str, Any], control: str = CONTROL) -> list[dict[str, Any]]:
    """Captures, checks, diffs and deletions of one URL (archive.catalogue.history.url_history) as
    one
    list, oldest first."""
    url = history["url"]
    captures = {c["id"]: c for c in history["captures"]}
    events: list[dict[str, Any]] = []
    for c in history["captures"]:
        kind = "revisit" if c["is_revisit"] else "capture"
        label = "unchanged (revisit)" if c["is_revisit"] else f"captured, HTTP {c['status']}"
        if c["status"] is None:
            label = f"captured ({c['via']})"
        if c.get("vantage"):
            label += f" at vantage {c['vantage']}"
        events.append({
            "kind": kind, "at": c["captured_at"], "label": label, "outcome": None,
            "details": " · ".join(x for x in (c["title"], c["mime"],
                                              f"{c['warc_filename']}@{c['warc_offset']}") if x),
            "link": replay_url("/replay", view_name(c["collection"], c.get("vantage")),
                               stamp14(c["captured_at"]), c["fetched_url"] or url),
            "link_text": "replay",
        })
    for ch in history["checks"]:
        capture = captures.get(ch["capture_id"])
        events.append({
            "kind": "check", "at": ch["checked_at"], "outcome": ch["outcome"],
            "label": f"check: {ch['outcome']}" + (
                f" at vantage {ch['vantage']}" if ch["vantage"] not in (None, control) else ""),
            "details": " · ".join(str(x) for x in (
                f"HTTP {ch['http_status']}" if ch["http_status"] else None, ch["reason"],
                ch["rule"], ch["detail"]) if x),
            "link": replay_url("/replay", view_name(capture["collection"], capture.get("vantage")),
                               stamp14(capture["captured_at"]), capture["fetched_url"] or url)
            if capture else None,
            "link_text": "what it answered",
        })
    for d in history["diffs"]:
        events.append({
            "kind": "diff", "at": d["created_at"], "outcome": "changed", "label": "edited",
            "details": f"+{d['added']} −{d['removed']} paragraphs, similarity "
                       f"{(d['similarity'] or 0):.2f}",
            "link": "/diff?" + urlencode({"u": url, "from": d["from_capture_id"],
                                          "to": d["to_capture_id"]}),
            "link_text": "diff",
        })
    for d in history["deletions"]:
        events.append({"kind": "deletion", "at": d["detected_at"], "outcome": "deleted",
                       "label": f"deletion confirmed: {d['reason']}",
                       "details": " · ".join(x for x in (d["rule"], f"last seen alive "
                                                         f"{d['last_seen_alive_at']}") if x),
                       "link": None, "link_text": ""})
        if d["restored_at"]:
            events.append({"kind": "restore", "at": d["restored_at"], "outcome": "restored",
                           "label": "restored", "details": "the page is back",
                           "link": None, "link_text": ""})
    events.sort(key=lambda e: (e["at"] or "", e["kind"]))
    return events


def vantage_states(conn: Any, key: str, control: str = CONTROL) -> list[dict[str, Any]]:
    """Where the URL stands at each vantage point: the latest check from each (the control,
    named ``control`` in check rows, first and marked ``is_control``), its open block if any,
    and the link to what it was answered. Empty when the URL was only ever checked from the
    control."""
    found = dict_rows(conn, (
        "SELECT coalesce(c.vantage, ?) AS vantage, c.checked_at, c.outcome, c.reason,"
        " c.http_status, c.detail, p.collection, p.captured_at, p.vantage AS seen_at,"
        " coalesce(p.fetched_url, p.url) AS fetched FROM checks AS c"
        " LEFT JOIN captures AS p ON p.id = c.capture_id WHERE c.id IN"
        " (SELECT max(id) FROM checks WHERE url = ? GROUP BY coalesce(vantage, ?))"),
        (CONTROL, key, CONTROL))
    if len(found) < 2:
        return []
    blocked = dict(conn.execute("SELECT vantage, min(first_blocked_at) FROM blocks WHERE url = ?"
                                " AND unblocked_at IS NULL GROUP BY vantage", (key,)).fetchall())
    for row in found:
        row["blocked_since"] = blocked.get(row["vantage"])
        row["is_control"] = row["vantage"] == control
        row["link"] = replay_url("/replay", view_name(row["collection"], row["seen_at"]),
                                 stamp14(row["captured_at"]), row["fetched"]) \
            if row["collection"] else None
    return sorted(found, key=lambda r: (not r["is_control"], r["vantage"]))


def good_captures(history: dict[str, Any]) -> list[dict[str, Any]]:
    """Full captures with a 2xx status from the control (a vantage's may be a block page):
    what a diff can compare."""
    return [c for c in history["captures"] if not c["is_revisit"] and c["status"]
            and 200 <= c["status"] < 300 and c.get("vantage") is None]


def side_by_side(conn: Any, home: Home, url: str, from_id: int, to_id: int
                 ) -> dict[str, Any]:
    """The two captures' main texts, paragraph by paragraph, as difflib's side-by-side table
    (it escapes the text), with the stored diff's numbers."""
    old_body, old_type, old_at = capture_body(conn, home, from_id)
    new_body, new_type, new_at = capture_body(conn, home, to_id)
    old_text, new_text = main_text(old_body, old_type, url), main_text(new_body, new_type, url)
    diff = diff_texts(old_text, new_text, from_label=old_at, to_label=new_at)
    table = None
    if diff is not None:
        table = difflib.HtmlDiff(wrapcolumn=70).make_table(
            old_text.splitlines(), new_text.splitlines(), escape(old_at), escape(new_at))
    return {"from_at": old_at, "to_at": new_at, "diff": diff, "table": table}


def report_filter(params: Mapping[str, str]) -> tuple[dict[str, str], SurvivalFilter]:
    """(the form's values, the filter) of the ``/report`` page's query ``params`` (``since``,
    ``source``, ``platform``); ValueError names a bad value."""
    form = {key: (params.get(key) or "").strip() for key in ("since", "source", "platform")}
    return form, SurvivalFilter.parse(form["since"], form["source"], form["platform"])


def report_body(db: Any, flt: SurvivalFilter) -> Markup:
    """The report's HTML for ``flt``."""
    return render_fragment(build_report(db, flt))


def story_order(copies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A story's copies (archive.catalogue.stories) with ``gone_rank``: 1 for the copy deleted
    first, 2 for the next…, None for those not deleted; in the order given (the catalogue's, by
    first seen)."""
    gone = sorted((c for c in copies if c["deleted"]), key=lambda c: c["deleted"]["detected_at"])
    for rank, copy in enumerate(gone, 1):
        copy["gone_rank"] = rank
    for copy in copies:
        copy.setdefault("gone_rank", None)
    return copies


def story_timeline(copies: list[dict[str, Any]], now: str, width: int = 640) -> str:
    """An SVG timeline of a story's copies, one row each: a bar from first seen to the deletion
    (or to ``now`` when alive), the deletion marked and numbered in the order they went. No
    script, no style attribute (the UI's CSP); every text escaped."""
    dated = [c for c in copies if c.get("first_seen_at")]
    if not dated:
        return '<svg class="story" width="0" height="0" role="img" aria-label="no data"></svg>'
    ends = [c["deleted"]["detected_at"] if c["deleted"] else now for c in dated]
    start, stop = parse_iso(min(c["first_seen_at"] for c in dated)), parse_iso(max(ends))
    span = max((stop - start).total_seconds(), 1.0)
    label_w, row_h = 220, 22

    def x(at: str) -> float:
        return label_w + (parse_iso(at) - start).total_seconds() / span * (width - label_w - 30)

    height = row_h * len(dated) + 20
    parts = [f'<svg class="story" width="{width}" height="{height}" role="img" aria-label='
             f'"copies of the story from {escape(dated[0]["first_seen_at"])} to {escape(now)}">']
    for row, (copy, end) in enumerate(zip(dated, ends, strict=True)):
        y = row * row_h + 4
        where = copy.get("source") or copy.get("domain") or copy["url"]
        parts.append(f'<text x="0" y="{y + 13}">{escape(where[:32])}</text>')
        left, right = x(copy["first_seen_at"]), x(end)
        kind = "gone" if copy["deleted"] else "alive"
        parts.append(f'<rect class="{kind}" x="{left:.1f}" y="{y + 3}" width='
                     f'"{max(right - left, 2):.1f}" height="12"><title>{escape(copy["url"])}:'
                     f' first seen {escape(copy["first_seen_at"])}</title></rect>')
        if copy["deleted"]:
            d = copy["deleted"]
            parts.append(f'<circle class="deleted" cx="{right:.1f}" cy="{y + 9}" r="7"><title>'
                         f'deleted ({escape(d["reason"])}) {escape(d["detected_at"])}</title>'
                         f'</circle><text class="rank" x="{right:.1f}" y="{y + 13}" '
                         f'text-anchor="middle">{copy.get("gone_rank") or ""}</text>')
    parts.append(f'<text x="{label_w}" y="{height - 2}">{escape(dated[0]["first_seen_at"])}'
                 f'</text><text x="{width}" y="{height - 2}" text-anchor="end">{escape(now)}'
                 "</text></svg>")
    return "".join(parts)
