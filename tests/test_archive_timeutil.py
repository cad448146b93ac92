"""Stored timestamps: one fixed shape, so they sort as text in time order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from archive.timeutil import iso, parse_iso, warc_date


def test_iso_has_six_digits_and_sorts_like_time():
    rng = random.Random(3)
    start = datetime(2001, 1, 1, tzinfo=UTC)
    moments = [start + timedelta(microseconds=rng.randrange(10**15)) for _ in range(2000)]
    moments += [datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC),          # microsecond 0
                datetime(2026, 12, 1, 9, 0, 0, 7, tzinfo=UTC)]
    for moment in moments:
        text = iso(moment)
        assert len(text) == 27 and text.endswith("Z") and text[19] == "."
        assert text == moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"
        assert parse_iso(text) == moment
        assert warc_date(moment) == text
    assert sorted(moments) == sorted(moments, key=iso)
    assert iso(datetime(2026, 12, 1, 9, 0, 0, 7, tzinfo=UTC)) == "2026-12-01T09:00:00.000007Z"


def test_other_time_zones_become_utc():
    almaty = timezone(timedelta(hours=5))
    assert iso(datetime(2026, 12, 1, 14, 30, tzinfo=almaty)) == "2026-12-01T09:30:00.000000Z"
