"""Checks from vantage points, held against the control's (OONI's rule).

A vantage's check is a ``checks`` row with its vantage's name; it never moves the URL's state
(only the control confirms a deletion). At the end of a run that can be believed, each vantage
check is held against the control's check of the same URL in the same run:

- alive at the control, failing or walled at the vantage (a block page, a reset, a timeout, a
  DNS failure, 451, TLS interception, a page that collapsed into a notice): ``blocked`` at that
  vantage, and a ``blocks`` row (first and last seen blocked, the evidence);
- alive at both: an open block at that vantage ends (``unblocked_at``);
- missing at the control: the vantage's check stays as it was (missing at both is a deletion
  with evidence from both: the control's state machine confirms it, and the deletion's detail
  adds what each vantage was answered in that run);
- the vantage's proxy down, or a 5xx the proxy itself may have made: no verdict on the site.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.detect.collapse import COLLAPSE_RULE, collapse_of
from archive.jobs import CheckJob
from archive.timeutil import iso

logger = logging.getLogger(__name__)


@dataclass
class _VantageCheck:
    check_id: int
    url_id: int
    url: str
    vantage: str
    checked_at: datetime
    outcome: str
    reason: str | None
    rule: str
    detail: str
    http_status: int | None
    capture_id: int | None
    walled: str | None              # why an answer that reads as alive is not the page


class VantageRecorder:
    def __init__(self, conn: Any, stats: Counter[str], run_id: int | None) -> None:
        self.conn = conn
        self.stats = stats
        self.run_id = run_id
        self.checks: list[_VantageCheck] = []

    def record(self, job: CheckJob, capture_id: int | None, last_good_text: str | None) -> None:
        """A vantage's check: its row now, its verdict against the control's at the end."""
        walled = None
        if job.page is not None and capture_id is not None:
            page = job.page.page
            assert page is not None
            self.conn.execute("UPDATE captures SET title = ?, text = ?, text_digest = ?,"
                              " encoding = ? WHERE id = ?",
                              (page.title, page.text, page.text_digest, page.encoding,
                               capture_id))
            if job.outcome == "alive":
                walled = collapse_of(last_good_text, page.text)
        cursor = self.conn.execute(
            "INSERT INTO checks (url, url_id, checked_at, outcome, http_status, reason, rule,"
            " detail, capture_id, vantage, run_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (job.url, job.url_id, iso(job.checked_at), job.outcome, job.http_status, job.reason,
             job.rule, job.detail, capture_id, job.vantage, self.run_id))
        self.checks.append(_VantageCheck(
            cursor.lastrowid, job.url_id, job.url, job.vantage, job.checked_at, job.outcome,
            job.reason, job.rule, job.detail, job.http_status, capture_id, walled))
        self.stats[f"vantage/{job.vantage}/checks"] += 1

    def finish(self, control: dict[int, str], confirmed: dict[int, int] | None = None) -> None:
        """Hold each vantage check against ``control`` (url id -> the control's outcome in
        this run); a deletion the control confirmed in this run (``confirmed``: url id ->
        deletion id) gets the vantage's evidence in its detail."""
        for check in self.checks:
            at_control = control.get(check.url_id)
            deletion = (confirmed or {}).get(check.url_id)
            if deletion is not None:
                self._witness(deletion, check)
            if at_control not in ("alive", "changed"):
                continue                      # missing, unknown or not checked at the control
            if check.outcome == "alive" and check.walled is None:
                self._unblock(check)
                continue
            if check.reason == "proxy_down" or (check.http_status or 0) >= 500:
                continue                      # the proxy's trouble as much as the site's
            self._block(check)
        self.checks.clear()

    def _block(self, check: _VantageCheck) -> None:
        seen = check.walled or check.detail
        detail = f"alive at the control; at vantage {check.vantage}: {seen}"
        reason = check.reason or ("walled" if check.walled else "blocked")
        rule = COLLAPSE_RULE if check.walled else check.rule
        self.conn.execute("UPDATE checks SET outcome = 'blocked', reason = ?, rule = ?,"
                          " detail = ? WHERE id = ?", (reason, rule, detail, check.check_id))
        open_block = self.conn.execute(
            "SELECT id FROM blocks WHERE url_id = ? AND vantage = ? AND unblocked_at IS NULL",
            (check.url_id, check.vantage)).fetchone()
        values = (iso(check.checked_at), check.check_id, check.capture_id, check.http_status,
                  reason, rule, detail)
        if open_block:
            self.conn.execute("UPDATE blocks SET last_blocked_at = ?, check_id = ?, capture_id"
                              " = ?, http_status = ?, reason = ?, rule = ?, detail = ? WHERE"
                              " id = ?", (*values, open_block[0]))
        else:
            self.conn.execute(
                "INSERT INTO blocks (url, url_id, vantage, first_blocked_at, last_blocked_at,"
                " check_id, capture_id, http_status, reason, rule, detail) VALUES"
                " (?,?,?,?,?,?,?,?,?,?,?)", (check.url, check.url_id, check.vantage,
                                              iso(check.checked_at), *values))
            self.stats["blocks/new"] += 1
            logger.warning("blocked at vantage %s: %s (%s)", check.vantage, check.url, reason)
        self.stats[f"vantage/{check.vantage}/blocked"] += 1

    def _witness(self, deletion_id: int, check: _VantageCheck) -> None:
        status = f"HTTP {check.http_status}" if check.http_status else "no answer"
        seen = f"at vantage {check.vantage}: {check.outcome}" + (
            f" ({check.reason}, {status}, check {check.check_id})")
        self.conn.execute("UPDATE deletions SET detail = coalesce(detail || '; ', '') || ?"
                          " WHERE id = ?", (seen, deletion_id))

    def _unblock(self, check: _VantageCheck) -> None:
        found = self.conn.execute(
            "UPDATE blocks SET unblocked_at = ? WHERE url_id = ? AND vantage = ? AND"
            " unblocked_at IS NULL", (iso(check.checked_at), check.url_id, check.vantage))
        if found.rowcount:
            self.stats["blocks/ended"] += 1
