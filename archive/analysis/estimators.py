"""Kaplan–Meier estimates with delayed entry, Greenwood's variance, log-log confidence bands, and
quantiles of the survival time with confidence intervals. Plain Python (no numpy): a report over
a large catalogue sorts its rows once per group and walks them.

Definitions (the tests check each against lifelines on the same data):

- at risk at time ``t``: the rows with ``entry < t <= duration`` (a row enters observation at its
  ``entry``: 0, or later when its clock starts before memoryhole first saw it);
- ``S(t) = prod over event times u <= t of (1 - d_u / n_u)``;
- Greenwood: ``V(t) = sum over u <= t of d_u / (n_u (n_u - d_u))``; the pointwise band is the
  log-log ("exponential Greenwood") one, ``S(t) ** exp(+-z sqrt(V(t)) / log S(t))``;
- the ``q`` quantile of the survival time (the time by which a fraction ``1 - q`` is deleted):
  the first time ``S(t) <= q`` (None: never reached); its confidence interval is where the lower
  and the upper band cross ``q`` (the inversion of Brookmeyer and Crowley 1982, on the log-log
  band).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

ALPHA = 0.05


@dataclass(frozen=True)
class Curve:
    """A Kaplan–Meier estimate: one point per distinct event time, in time order."""

    times: tuple[float, ...]
    survival: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    at_risk: tuple[int, ...]
    events: tuple[int, ...]
    subjects: int                  # rows
    observed: int                  # of which events

    def at(self, t: float) -> float:
        """S(t): the estimate just after time ``t``."""
        value = 1.0
        for time, survival in zip(self.times, self.survival, strict=True):
            if time > t:
                break
            value = survival
        return value


@dataclass(frozen=True)
class Quantile:
    """The time by which a share ``1 - level`` of the rows is deleted, with its interval (None:
    the curve or the band never gets that low)."""

    level: float
    time: float | None
    low: float | None
    high: float | None


def kaplan_meier(durations: Sequence[float], events: Sequence[int],
                 entry: Sequence[float] | None = None, alpha: float = ALPHA) -> Curve:
    """The Kaplan–Meier estimate of rows with these ``durations``, ``events`` (1 observed, 0
    right-censored) and ``entry`` times (all 0 when None)."""
    n = len(durations)
    if len(events) != n or (entry is not None and len(entry) != n):
        raise ValueError("durations, events and entry must have the same length")
    starts = sorted(entry) if entry is not None else [0.0] * n
    ends = sorted(zip(durations, events, strict=True))
    z = NormalDist().inv_cdf(1 - alpha / 2)
    times, surv, lower, upper, risk, died = [], [], [], [], [], []
    s, greenwood = 1.0, 0.0
    entered = left = i = 0
    while i < n:
        t = ends[i][0]
        deaths = removed = 0
        while i < n and ends[i][0] == t:
            deaths += ends[i][1]
            removed += 1
            i += 1
        while entered < n and starts[entered] < t:
            entered += 1
        at_risk = entered - left
        left += removed
        if deaths == 0 or at_risk <= 0:
            continue
        s *= 1 - deaths / at_risk
        if at_risk > deaths:
            greenwood += deaths / (at_risk * (at_risk - deaths))
        low, high = _band(s, greenwood, z)
        times.append(t)
        surv.append(s)
        lower.append(low)
        upper.append(high)
        risk.append(at_risk)
        died.append(deaths)
    return Curve(tuple(times), tuple(surv), tuple(lower), tuple(upper), tuple(risk), tuple(died),
                 subjects=n, observed=sum(1 for e in events if e))


def _band(s: float, greenwood: float, z: float) -> tuple[float, float]:
    if s <= 0.0:
        return 0.0, 0.0
    if s >= 1.0:
        return 1.0, 1.0
    log_s = math.log(s)
    spread = z * math.sqrt(greenwood) / log_s           # negative: log S < 0
    return (math.exp(-math.exp(math.log(-log_s) - spread)),
            math.exp(-math.exp(math.log(-log_s) + spread)))


def _first_at_or_below(times: Sequence[float], values: Sequence[float],
                       level: float) -> float | None:
    for time, value in zip(times, values, strict=True):
        if value <= level:
            return time
    return None


def quantile(curve: Curve, level: float) -> Quantile:
    """The survival time at ``level`` of ``curve`` (0.5: the median) with its interval."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"a quantile level is between 0 and 1, not {level}")
    return Quantile(level=level,
                    time=_first_at_or_below(curve.times, curve.survival, level),
                    low=_first_at_or_below(curve.times, curve.lower, level),
                    high=_first_at_or_below(curve.times, curve.upper, level))


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank ``share`` percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[min(rank, len(ordered)) - 1]
