"""The per-URL re-check state machine and schedule, as pure functions of the time given.

States: ``pending`` (watched, not captured yet), ``alive``, ``missing`` (missing checks seen, not
confirmed), ``deleted`` (confirmed; still watched for a restore), ``error`` (first seen with an
error page). A deletion is confirmed by ``confirm_checks`` consecutive missing checks at least
``confirm_after`` apart (DESIGN.md); an alive check ends a streak (a 404/200/404 flap never
confirms); transient and blocked checks say nothing about the page and leave the streak alone.
Time is always a parameter, so the detection-delay simulation (bench/) drives the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from archive.timeutil import parse_age

# The re-check schedule's defaults (DESIGN.md "Re-check schedule"): the one home of these values;
# the config, the crawl settings and the archive writer take them from here.
DEFAULT_OFFSETS = (
    "5m", "15m", "30m", "1h", "2h", "4h", "8h", "24h", "2d", "4d", "7d", "14d", "30d",
)
DEFAULT_CONFIRM_CHECKS = 2
DEFAULT_CONFIRM_AFTER = "5m"

OUTCOMES = ("alive", "changed", "missing", "blocked", "transient")
TRANSIENT_RETRY = timedelta(minutes=10)
TRANSIENT_RETRY_MAX = timedelta(hours=6)


@dataclass(frozen=True)
class Policy:
    offsets: tuple[timedelta, ...]
    confirm_checks: int
    confirm_after: timedelta

    @classmethod
    def from_strings(cls, offsets: Sequence[str] | None = None,
                     confirm_checks: int | None = None,
                     confirm_after: str | None = None) -> Policy:
        """The policy from config values (durations like ``"5m"``); None: the default."""
        return cls(tuple(sorted(parse_age(o) for o in offsets or DEFAULT_OFFSETS)),
                   confirm_checks if confirm_checks is not None else DEFAULT_CONFIRM_CHECKS,
                   parse_age(confirm_after or DEFAULT_CONFIRM_AFTER))

    def with_offsets(self, offsets: Sequence[str]) -> Policy:
        """This policy with a source's own schedule."""
        return replace(self, offsets=tuple(sorted(parse_age(o) for o in offsets)))


@dataclass(frozen=True)
class UrlState:
    first_seen_at: datetime
    state: str = "alive"
    missing_streak: int = 0
    missing_since: datetime | None = None
    missing_reason: str | None = None
    last_alive_at: datetime | None = None
    transient_streak: int = 0


@dataclass(frozen=True)
class Transition:
    state: UrlState
    next_check_at: datetime
    confirm: bool = False        # confirm a deletion now (unless the run is degraded)
    restore: bool = False        # a confirmed deletion came back


def scheduled_after(first_seen_at: datetime, now: datetime,
                    offsets: Sequence[timedelta]) -> datetime:
    """The first offset point after ``now`` (offsets counted from the first capture); past the
    last offset, every last-offset interval (every 30 days by default)."""
    for offset in offsets:
        when = first_seen_at + offset
        if when > now:
            return when
    step = offsets[-1] if offsets else timedelta(days=30)
    return now + step


def step(current: UrlState, outcome: str, reason: str | None, now: datetime, policy: Policy,
         *, retry_after: float | None = None) -> Transition:
    """The state after one check with ``outcome`` at ``now``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    regular = scheduled_after(current.first_seen_at, now, policy.offsets)
    if outcome in ("alive", "changed"):
        restored = current.state == "deleted"
        state = replace(current, state="alive", missing_streak=0, missing_since=None,
                        missing_reason=None, last_alive_at=now, transient_streak=0)
        return Transition(state, regular, restore=restored)
    if outcome == "missing":
        streak = current.missing_streak + 1
        since = current.missing_since or now
        state = replace(current, missing_streak=streak, missing_since=since,
                        missing_reason=reason, transient_streak=0)
        if current.state == "deleted":
            return Transition(state, regular)
        confirmed = streak >= policy.confirm_checks and now - since >= policy.confirm_after
        if confirmed:
            return Transition(replace(state, state="deleted"), regular, confirm=True)
        if streak < policy.confirm_checks:
            confirming = now + policy.confirm_after       # the confirming check, soon
        else:
            confirming = since + policy.confirm_after     # enough checks, not far enough apart
        return Transition(replace(state, state="missing"), confirming)
    # transient or blocked: no evidence either way; try again soon, backing off
    streak = current.transient_streak + 1
    backoff = min(TRANSIENT_RETRY * (2 ** (streak - 1)), TRANSIENT_RETRY_MAX)
    if retry_after:
        backoff = max(backoff, timedelta(seconds=retry_after))
    state = replace(current, transient_streak=streak)
    if current.state == "missing":                        # a confirmation is pending
        return Transition(state, now + backoff)
    return Transition(state, min(regular, now + backoff))
