"""Re-check results into the catalogue: ``checks`` rows, the per-URL state, the deletion log.

Runs in the archive writer process (archive.writer.process), after the response's capture row
exists. Confirmations wait for the end of the run: a run that turns out degraded (our own network
is down, a captive portal or a middlebox answers for the sites: archive.detect.run) confirms
nothing, and what its checks did to the URLs' state is undone (archive.writer.rollback).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from archive.catalogue.due import CANARIES
from archive.detect.collapse import COLLAPSE_RULE, collapse_of
from archive.detect.run import RunEvidence
from archive.detect.state import TRANSIENT_RETRY, Policy, UrlState, step
from archive.jobs import CONTROL, CheckJob
from archive.timeutil import iso, parse_iso, utcnow
from archive.writer.lists import item_checked, item_deleted, item_of_url
from archive.writer.rollback import RunSnapshot
from archive.writer.stories import recheck_copies
from archive.writer.vantages import VantageRecorder

if TYPE_CHECKING:
    from archive.writer.pages import PageRecorder

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    url_id: int
    url: str
    checked_at: datetime
    capture_id: int | None
    reason: str
    rule: str
    http_status: int | None
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


def _dt(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None


class CheckRecorder:
    def __init__(self, conn: Any, pages: PageRecorder, policy: Policy, stats: Counter[str],
                 run_id: int | None, control_name: str = CONTROL) -> None:
        self.conn = conn
        self.control_name = control_name        # the control's vantage in check rows
        self.pages = pages
        self.policy = policy
        self.stats = stats
        self.run_id = run_id
        self.pending: list[_Pending] = []
        self.evidence = RunEvidence()
        self.snapshot = RunSnapshot(conn)
        self.soft_404s: list[tuple[int, str]] = []     # (url id, the probe's answer)
        self.vantages = VantageRecorder(conn, stats, run_id)
        self.control: dict[int, str] = {}               # url id -> the control's outcome

    def record(self, job: CheckJob) -> None:
        row = self.conn.execute(
            "SELECT first_seen_at, state, missing_streak, missing_since, missing_reason,"
            " last_alive_at, transient_streak, last_text_digest, check_count, item_id,"
            " watch_text, domain, source FROM urls WHERE id = ?", (job.url_id,)).fetchone()
        if row is None:
            logger.warning("re-check of %s: not in the catalogue any more", job.url)
            return
        (first_seen, state, streak, since, missing_reason, last_alive, transient, last_digest,
         count, item_id, watch_text, domain, source) = row
        capture_id = self._capture_id(job.record_id)
        if job.vantage is not None:            # never the URL's state: archive.writer.vantages
            self.vantages.record(job, capture_id, self.pages.last_good_text(job.url_id))
            return
        self.snapshot.keep(job.url_id)
        outcome, reason, rule, detail = job.outcome, job.reason, job.rule, job.detail
        if outcome == "alive" and job.page is not None and last_digest and watch_text != 0 and \
                job.page.page.text_digest != last_digest:
            outcome = "changed"
            collapsed = collapse_of(self.pages.last_good_text(job.url_id), job.page.page.text)
            if collapsed:                    # a tombstone in wording no rule knows
                outcome, reason, rule = "missing", "unknown", COLLAPSE_RULE
                detail = f"HTTP {job.http_status}; {collapsed}"
        if job.page is not None:
            self.pages.record(job.page, good=outcome in ("alive", "changed"))
        current = UrlState(
            first_seen_at=parse_iso(first_seen or iso(job.checked_at)), state=state or "alive",
            missing_streak=streak or 0, missing_since=_dt(since),
            missing_reason=missing_reason, last_alive_at=_dt(last_alive),
            transient_streak=transient or 0)
        policy = self.policy
        if job.offsets:                   # the source's own schedule
            policy = policy.with_offsets(job.offsets)
        transition = step(current, outcome, reason, job.checked_at, policy,
                          retry_after=job.retry_after)
        new = transition.state
        stored_state = "missing" if transition.confirm else new.state
        self.conn.execute(
            "UPDATE urls SET state = ?, missing_streak = ?, missing_since = ?, missing_reason = ?,"
            " last_alive_at = ?, transient_streak = ?, last_checked_at = ?, next_check_at = ?,"
            " check_count = ? WHERE id = ?",
            (stored_state, new.missing_streak,
             iso(new.missing_since) if new.missing_since else None, new.missing_reason,
             iso(new.last_alive_at) if new.last_alive_at else None, new.transient_streak,
             iso(job.checked_at), iso(transition.next_check_at), (count or 0) + 1, job.url_id))
        self.conn.execute(
            "INSERT INTO checks (url, url_id, checked_at, outcome, http_status, reason, rule,"
            " detail, capture_id, vantage, run_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (job.url, job.url_id, iso(job.checked_at), outcome, job.http_status, reason, rule,
             detail, capture_id, self.control_name, self.run_id))
        self.control[job.url_id] = outcome
        self.evidence.add(url=job.url, site=domain or "", outcome=outcome, reason=reason,
                          rule=rule, http_status=job.http_status, answer=job.answer,
                          control=job.control, canary=source == CANARIES)
        if reason == "soft_404" and job.probe_answer:
            self.soft_404s.append((job.url_id, job.probe_answer))
        self.stats["checks"] += 1
        self.stats[f"checks/{outcome}"] += 1
        if outcome == "transient" and job.http_status is None:
            self.stats["checks/transport_failures"] += 1
        if transition.confirm:
            self.pending.append(_Pending(job.url_id, job.url, job.checked_at, capture_id,
                                         reason or "unknown", rule, job.http_status, detail))
        if transition.restore:
            self._restore(job, capture_id)
        if item_id is not None:
            item_checked(self.conn, job.url_id, outcome)

    def _capture_id(self, record_id: str | None) -> int | None:
        if record_id is None:
            return None
        known = self.pages.inserted.pop(record_id, None)
        if known is not None:
            return known
        found = self.conn.execute("SELECT id FROM captures WHERE warc_record_id = ?",
                                  (record_id,)).fetchone()
        return found[0] if found else None

    def _restore(self, job: CheckJob, capture_id: int | None) -> None:
        found = self.conn.execute("SELECT id FROM deletions WHERE url_id = ? AND restored_at IS"
                                  " NULL ORDER BY detected_at DESC LIMIT 1",
                                  (job.url_id,)).fetchone()
        if found is not None:
            self.conn.execute("UPDATE deletions SET restored_at = ?, restored_capture_id = ?"
                              " WHERE id = ?", (iso(job.checked_at), capture_id, found[0]))
            self.snapshot.restored_deletion(job.url_id, found[0])
        self.conn.execute("UPDATE urls SET deleted_at = NULL WHERE id = ?", (job.url_id,))
        self.stats["restored"] += 1
        logger.info("restored: %s", job.url)

    def finish(self) -> None:
        """Confirm the deletions of this run, unless it was degraded; a degraded run's state
        changes are undone, and so are those of a soft-404 whose probe proved nothing."""
        again = iso(utcnow() + TRANSIENT_RETRY)
        reasons = self.evidence.reasons()
        if reasons:
            why = f"degraded run: {self.evidence.describe()}"
            self.snapshot.undo(self.run_id, why, again)
            self.stats["degraded"] = 1
            for key in reasons:
                self.stats[f"degraded/{key}"] = 1
            self.stats["deletions_withheld"] += len(self.pending)
            logger.warning("%s: nothing confirmed, the run's checks count as transient "
                           "(%d deletion(s) withheld)", why, len(self.pending))
            self.pending.clear()
            return
        unproven = {url_id for url_id, answer in self.soft_404s
                    if answer in self.evidence.live_answers}
        if unproven:
            self.snapshot.undo(self.run_id, "the soft-404 probe was answered like a page known"
                               " alive: it proves nothing", again, sorted(unproven),
                               reason="probe_unreliable")
            self.stats["checks/probe_unreliable"] += len(unproven)
            self.pending = [p for p in self.pending if p.url_id not in unproven]
        confirmed = {pending.url_id: self._confirm(pending) for pending in self.pending}
        self.pending.clear()
        self.vantages.finish(self.control, confirmed)

    def _confirm(self, p: _Pending) -> int:
        """Log the deletion; its row id."""
        row = self.conn.execute(
            "SELECT domain, source, last_alive_at, missing_since, missing_streak,"
            " last_capture_id FROM urls WHERE id = ?", (p.url_id,)).fetchone()
        domain, source, last_alive, since, streak, last_good = row
        item_id, parent_url, item_text = item_of_url(self.conn, p.url_id)
        cursor = self.conn.execute(
            "INSERT INTO deletions (url, url_id, domain, source, reason, rule, http_status,"
            " detail, detected_at, last_seen_alive_at, first_seen_missing_at, confirmed_checks,"
            " evidence_capture_id, last_good_capture_id, item_id, parent_url, item_text)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (p.url, p.url_id, domain, source, p.reason, p.rule, p.http_status, p.detail,
             iso(p.checked_at), last_alive, since, streak, p.capture_id, last_good, item_id,
             parent_url, item_text))
        if item_id is not None:
            item_deleted(self.conn, p.url_id)
            self.stats["item_deletions"] += 1
        self.conn.execute("UPDATE urls SET state = 'deleted', deleted_at = ? WHERE id = ?",
                          (iso(p.checked_at), p.url_id))
        # censors sweep reprints: the story's other copies are due at once
        self.stats["stories/copies_due"] += recheck_copies(self.conn, p.url_id, iso(utcnow()))
        self.stats["deletions"] += 1
        self.stats[f"deletions/{p.reason}"] += 1
        logger.warning("deletion confirmed: %s (%s, %s)", p.url, p.reason, p.rule)
        return cursor.lastrowid
