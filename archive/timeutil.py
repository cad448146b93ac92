"""Time helpers: UTC ISO-8601 strings with a trailing ``Z``, WARC dates, ages like ``7d``, and
a watch for steps of the wall clock.

Every timestamp memoryhole stores is UTC ISO-8601 with a trailing ``Z`` (DESIGN.md), so string
comparison orders them correctly.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
_AGE_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """``2026-11-22T04:00:00.123456Z``: always six digits of microseconds, so that stored
    timestamps sort as strings in time order."""
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset; naive means UTC) into aware UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def warc_date(dt: datetime) -> str:
    """WARC/1.1 date: ISO-8601 UTC with microseconds (the same text as :func:`iso`)."""
    return iso(dt)


def timestamp14(dt: datetime) -> str:
    """The 14-digit timestamp pywb and CDXJ use: ``20261122040000``."""
    return dt.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def parse_age(text: str) -> timedelta:
    """``90s``, ``5m``, ``2h``, ``7d``, ``2w`` (a bare number means seconds)."""
    match = _AGE_RE.match(str(text))
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 2h, 7d, 2w)")
    number, unit = match.groups()
    return timedelta(seconds=float(number) * _AGE_UNITS[(unit or "s").lower()])


def parse_time_or_age(text: str, now: datetime | None = None) -> datetime:
    """An absolute ISO time, or an age counted back from ``now`` (``7d`` = seven days ago)."""
    try:
        return now_or(now) - parse_age(text)
    except ValueError:
        pass
    try:
        return parse_iso(text)
    except ValueError:
        raise ValueError(
            f"not a time or an age: {text!r} (use 2026-11-01, 2026-11-01T12:00:00Z or 7d)"
        ) from None


def now_or(now: datetime | None) -> datetime:
    return now if now is not None else utcnow()


def http_date(timestamp14: str) -> str:
    """A 14-digit timestamp (shorter ones padded, as pywb does) as an HTTP date
    (``Tue, 01 Dec 2026 13:38:13 GMT``)."""
    moment = datetime.strptime(timestamp14.ljust(14, "0")[:14], "%Y%m%d%H%M%S")
    return format_datetime(moment.replace(tzinfo=UTC), usegmt=True)


def watch_clock(stop: threading.Event, on_step: Callable[[float], None], *,
                every: float = 10.0, threshold: float = 30.0) -> threading.Thread:
    """Start a daemon thread that calls ``on_step(seconds)`` when the wall clock steps (NTP, a
    resumed VM, a person): its advance over ``every`` seconds of the monotonic clock differs from
    them by more than ``threshold`` (the step, + forward / - back). Ends when ``stop`` is set."""

    def watch() -> None:
        wall, mono = time.time(), time.monotonic()
        while not stop.wait(every):
            now_wall, now_mono = time.time(), time.monotonic()
            step = (now_wall - wall) - (now_mono - mono)
            wall, mono = now_wall, now_mono
            if abs(step) > threshold:
                on_step(step)

    thread = threading.Thread(target=watch, name="memoryhole-clock-watch", daemon=True)
    thread.start()
    return thread
