"""The re-check state machine and schedule, on a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from archive.detect.state import Policy, UrlState, scheduled_after, step

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy.from_strings()
MIN = timedelta(minutes=1)


def run(outcomes, start=None, policy=POLICY):
    """Feed outcomes at each scheduled check time; returns (times, transitions)."""
    state = start or UrlState(first_seen_at=T0, last_alive_at=T0)
    now = scheduled_after(T0, T0, policy.offsets)
    log = []
    for outcome in outcomes:
        transition = step(state, outcome, "gone" if outcome == "missing" else None, now, policy)
        log.append((now, transition))
        state, now = transition.state, transition.next_check_at
    return log


def test_default_offsets_after_first_capture():
    times = []
    now = T0
    for _ in range(15):
        now = scheduled_after(T0, now, POLICY.offsets)
        times.append(now - T0)
    assert times[:4] == [5 * MIN, 15 * MIN, 30 * MIN, 60 * MIN]
    assert times[12] == timedelta(days=30)
    assert times[13] == timedelta(days=60) and times[14] == timedelta(days=90)


def test_two_missing_checks_confirm_after_the_wait():
    log = run(["missing", "missing"])
    (t1, first), (t2, second) = log
    assert not first.confirm and first.state.state == "missing"
    assert first.next_check_at == t1 + timedelta(minutes=5)
    assert second.confirm and second.state.state == "deleted"
    assert second.state.missing_since == t1


def test_checks_too_close_do_not_confirm_until_far_enough_apart():
    state = UrlState(first_seen_at=T0)
    a = step(state, "missing", "gone", T0 + MIN, POLICY)
    b = step(a.state, "missing", "gone", T0 + 2 * MIN, POLICY)
    assert not b.confirm and b.next_check_at == T0 + 6 * MIN
    c = step(b.state, "missing", "gone", b.next_check_at, POLICY)
    assert c.confirm


def test_flap_never_confirms():
    log = run(["missing", "alive", "missing", "alive", "missing", "alive"])
    assert not any(t.confirm for _, t in log)
    assert log[-1][1].state.missing_streak == 0


def test_transient_between_missing_keeps_the_streak_but_never_confirms_alone():
    log = run(["missing", "transient", "blocked", "missing"])
    assert [t.confirm for _, t in log] == [False, False, False, True]
    assert not any(t.confirm for _, t in run(["transient"] * 30))
    assert not any(t.confirm for _, t in run(["blocked"] * 30))


def test_transient_backs_off_and_honours_retry_after():
    state = UrlState(first_seen_at=T0 - timedelta(days=365))
    first = step(state, "transient", "http_503", T0, POLICY)
    assert first.next_check_at == T0 + timedelta(minutes=10)
    second = step(first.state, "transient", "http_503", T0, POLICY)
    assert second.next_check_at == T0 + timedelta(minutes=20)
    limited = step(state, "transient", "rate_limited", T0, POLICY, retry_after=3600)
    assert limited.next_check_at == T0 + timedelta(hours=1)


def test_restore_after_confirmed_deletion_and_watching_goes_on():
    log = run(["missing", "missing", "missing", "alive"])
    assert log[1][1].confirm and not log[2][1].confirm     # confirmed once
    last = log[-1][1]
    assert last.restore and last.state.state == "alive"
    assert last.next_check_at > log[-1][0]


def test_detection_simulation_confirms_on_schedule():
    from bench.detection_delay import detect, simulate

    assert detect(T0, T0 + MIN, POLICY) == T0 + 10 * MIN     # missing at 5m, confirmed 5m later
    assert detect(T0, T0 + timedelta(hours=3), POLICY) == T0 + timedelta(hours=4, minutes=5)
    result = simulate(500, timedelta(minutes=30), POLICY, seed=3)
    assert 0.5 < result["captured_share"] < 1
    assert result["detected"] > 0 and result["median_delay_s"] < result["p90_delay_s"]


def test_the_schedule_defaults_have_one_home():
    """The config, the crawl settings, the archive writer's settings and the item recorder all
    take the re-check schedule's defaults from archive.detect.state."""
    from archive.config import RecheckConfig
    from archive.detect import state
    from archive.jobs import WriterSettings
    from crawlers import settings

    config = RecheckConfig()
    assert (config.offsets, config.confirm_checks, config.confirm_after) == (
        state.DEFAULT_OFFSETS, state.DEFAULT_CONFIRM_CHECKS, state.DEFAULT_CONFIRM_AFTER)
    assert (settings.ARCHIVE_RECHECK_OFFSETS, settings.ARCHIVE_CONFIRM_CHECKS,
            settings.ARCHIVE_CONFIRM_AFTER) == (list(state.DEFAULT_OFFSETS),
                                                state.DEFAULT_CONFIRM_CHECKS,
                                                state.DEFAULT_CONFIRM_AFTER)
    unset = WriterSettings()
    assert Policy.from_strings(unset.recheck_offsets, unset.confirm_checks,
                               unset.confirm_after) == Policy.from_strings(
        state.DEFAULT_OFFSETS, state.DEFAULT_CONFIRM_CHECKS, state.DEFAULT_CONFIRM_AFTER)
    assert not any(name.startswith("DEFAULT_") for name in dir(settings))   # no stray settings
