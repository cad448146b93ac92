"""Detection delay by simulation: how long after a deletion memoryhole confirms it.

Deletion times follow Zhu et al. 2013 (Weibo): about 30% of deletions 5-30 minutes after
posting and 90% within 24 hours. Pages are posted at random within a source's crawl interval,
captured at the next crawl, then re-checked on the default schedule by the real state machine
(archive.detect.state) on a simulated clock. Reported: the share of pages captured before they were
deleted, and the median and 90th-percentile delay from deletion to confirmed detection.

    python -m bench.detection_delay [--pages 20000] [--crawl-every 30m] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from datetime import UTC, datetime, timedelta

from archive.detect.state import Policy, UrlState, scheduled_after, step
from archive.timeutil import parse_age

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# (share, lower bound, upper bound) of the deletion time after posting; log-uniform inside.
ZHU_2013 = (
    (0.05, timedelta(minutes=1), timedelta(minutes=5)),
    (0.30, timedelta(minutes=5), timedelta(minutes=30)),
    (0.55, timedelta(minutes=30), timedelta(hours=24)),
    (0.10, timedelta(hours=24), timedelta(days=30)),
)


def deletion_after_posting(rnd: random.Random) -> timedelta:
    pick = rnd.random()
    for share, low, high in ZHU_2013:
        if pick < share:
            lo, hi = math.log(low.total_seconds()), math.log(high.total_seconds())
            return timedelta(seconds=math.exp(rnd.uniform(lo, hi)))
        pick -= share
    return ZHU_2013[-1][2]


def detect(first_capture: datetime, deleted_at: datetime, policy: Policy) -> datetime | None:
    """The time the state machine confirms the deletion (None: not within a year)."""
    state = UrlState(first_seen_at=first_capture, last_alive_at=first_capture)
    now = scheduled_after(first_capture, first_capture, policy.offsets)
    horizon = first_capture + timedelta(days=365)
    while now < horizon:
        outcome = "missing" if now >= deleted_at else "alive"
        transition = step(state, outcome, "gone" if outcome == "missing" else None, now, policy)
        if transition.confirm:
            return now
        state, now = transition.state, transition.next_check_at
    return None


def simulate(pages: int, crawl_every: timedelta, policy: Policy, seed: int) -> dict[str, float]:
    rnd = random.Random(seed)
    delays: list[float] = []
    captured = 0
    for _ in range(pages):
        posted = T0 + timedelta(seconds=rnd.uniform(0, crawl_every.total_seconds()))
        first_capture = T0 + crawl_every            # the next crawl of the source
        deleted_at = posted + deletion_after_posting(rnd)
        if deleted_at <= first_capture:
            continue                                # deleted before memoryhole ever saw it
        captured += 1
        confirmed = detect(first_capture, deleted_at, policy)
        if confirmed is not None:
            delays.append((confirmed - deleted_at).total_seconds())
    delays.sort()
    p90 = delays[int(0.9 * (len(delays) - 1))] if delays else float("nan")
    return {"pages": pages, "captured_share": captured / pages,
            "median_delay_s": statistics.median(delays) if delays else float("nan"),
            "p90_delay_s": p90, "detected": len(delays)}


def _human(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crawl-every", action="append", default=None,
                        help="source crawl interval(s), e.g. 5m, 30m (default: 5m, 30m)")
    args = parser.parse_args(argv)
    policy = Policy.from_strings()
    print("| crawl every | captured before deletion | median delay | p90 delay |")
    print("|---|---|---|---|")
    for every in args.crawl_every or ["5m", "30m"]:
        result = simulate(args.pages, parse_age(every), policy, args.seed)
        print(f"| {every} | {result['captured_share']:.0%} | "
              f"{_human(result['median_delay_s'])} | {_human(result['p90_delay_s'])} |")


if __name__ == "__main__":
    main()
