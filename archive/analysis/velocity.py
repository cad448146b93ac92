"""The velocity of deletion: the numbers of ``memoryhole report`` and of the web UI's ``/report``
page, from one pass over the survival rows (archive.analysis.survival).

- Kaplan–Meier curves of the time to the first confirmed deletion, overall, per platform and per
  source. The data are interval-censored (a deletion lies between the last check that saw the page
  and the first that did not); each event is put at the midpoint of that interval, and rows whose
  clock starts at publication enter at the time memoryhole first saw them (delayed entry). The
  width of the intervals (``delay``) says how much the midpoint can move a curve.
- Quartiles (the times by which 25%, 50% and 75% are deleted) with 95% intervals
  (archive.analysis.estimators).
- Deletions per day of detection and per reason (first deletions of the rows).
- Coverage: of the deleted URLs and items, how many had an archived copy from before the deletion
  (URLs added and found missing before any good capture have none).
- The schedule's detection delay: the width of the detection intervals (last alive to first
  missing) and the confirmation lag (first missing to confirmed).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archive.analysis.charts import duration_text
from archive.analysis.estimators import Curve, Quantile, kaplan_meier, percentile, quantile
from archive.analysis.survival import SurvivalFilter, SurvivalRow, Unobserved, scan
from archive.timeutil import iso, parse_iso, utcnow

LEVELS = (0.75, 0.5, 0.25)       # S(t) levels: 25%, 50% (the median) and 75% deleted
MAX_GROUPS = 8                   # curves drawn per chart; the tables list up to MAX_ROWS
MAX_ROWS = 50


@dataclass(frozen=True)
class Group:
    name: str
    curve: Curve
    quartiles: tuple[Quantile, ...]      # at LEVELS


@dataclass(frozen=True)
class Spread:
    """A distribution of durations in seconds (None: no values)."""

    count: int
    median: float | None
    p90: float | None
    maximum: float | None


@dataclass(frozen=True)
class Coverage:
    deleted: int                 # deleted URLs and items (first deletions)
    captured: int                # of which an archived copy from before the deletion exists


@dataclass(frozen=True)
class VelocityReport:
    generated_at: str
    selection: SurvivalFilter
    rows: int
    overall: Group
    platforms: tuple[Group, ...]
    sources: tuple[Group, ...]
    sources_total: int
    per_day: dict[str, int]
    per_reason: dict[str, int]
    coverage: Coverage
    coverage_by_platform: dict[str, Coverage]
    interval_width: Spread
    confirmation_lag: Spread


@dataclass
class _Samples:
    durations: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    entry: list[float] = field(default_factory=list)

    def add(self, row: SurvivalRow) -> None:
        self.durations.append(row.duration_s)
        self.events.append(row.event)
        self.entry.append(row.entry_s)

    def group(self, name: str) -> Group:
        curve = kaplan_meier(self.durations, self.events, self.entry)
        return Group(name, curve, tuple(quantile(curve, level) for level in LEVELS))


def spread(values: list[float]) -> Spread:
    return Spread(len(values), percentile(values, 0.5), percentile(values, 0.9),
                  max(values) if values else None)


def build_report(db: Any, flt: SurvivalFilter | None = None,
                 now: datetime | None = None) -> VelocityReport:
    """The report over the rows matching ``flt`` (``db``: a sqlite-utils Database or a sqlite3
    Connection)."""
    flt = flt or SurvivalFilter()
    overall = _Samples()
    platforms: dict[str, _Samples] = defaultdict(_Samples)
    sources: dict[str, _Samples] = defaultdict(_Samples)
    per_day: Counter[str] = Counter()
    per_reason: Counter[str] = Counter()
    deleted: Counter[str] = Counter()
    captured: Counter[str] = Counter()
    widths: list[float] = []
    lags: list[float] = []
    for row in scan(db, flt):
        if row.event:
            deleted[row.platform] += 1
            per_reason[row.reason or "unknown"] += 1
            if row.detected_at:
                per_day[row.detected_at[:10]] += 1
        if isinstance(row, Unobserved):
            continue
        if row.event:
            captured[row.platform] += int(row.captured)
            widths.append(float(row.interval_high_s or 0.0) - row.interval_low_s)
            if row.detected_at and row.first_seen_missing_at:
                lags.append(max((parse_iso(row.detected_at)
                                 - parse_iso(row.first_seen_missing_at)).total_seconds(), 0.0))
        overall.add(row)
        platforms[row.platform].add(row)
        sources[row.source or "(none)"].add(row)
    by_size = sorted(sources, key=lambda name: (-len(sources[name].durations), name))
    return VelocityReport(
        generated_at=iso(now or utcnow()), selection=flt, rows=len(overall.durations),
        overall=overall.group("all"),
        platforms=tuple(platforms[name].group(name) for name in sorted(platforms)),
        sources=tuple(sources[name].group(name) for name in by_size[:MAX_ROWS]),
        sources_total=len(sources), per_day=dict(sorted(per_day.items())),
        per_reason=dict(sorted(per_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
        coverage=Coverage(sum(deleted.values()), sum(captured.values())),
        coverage_by_platform={name: Coverage(deleted[name], captured[name])
                              for name in sorted(deleted)},
        interval_width=spread(widths), confirmation_lag=spread(lags))


def summary_lines(report: VelocityReport) -> list[str]:
    """A few lines for a terminal: rows, deletions, the median time to deletion per platform,
    coverage and the detection delay."""
    lines = [f"survival: {report.rows} URLs and items, {report.overall.curve.observed} deleted"
             f" (Kaplan-Meier on interval midpoints)"]
    for group in report.platforms:
        median = group.quartiles[1]
        told = "not reached" if median.time is None else duration_text(median.time)
        lines.append(f"  {group.name}: {group.curve.subjects} watched, {group.curve.observed}"
                     f" deleted, median time to deletion {told}"
                     f" (95% CI {duration_text(median.low)} to {duration_text(median.high)})")
    cov = report.coverage
    lines.append(f"  coverage: {cov.captured} of {cov.deleted} deleted were archived before")
    width = report.interval_width
    if width.count:
        lines.append(f"  detection interval: median {duration_text(width.median)},"
                     f" 90% within {duration_text(width.p90)}")
    return lines
