"""The velocity report: its statistics against lifelines on the same export, its HTML (escaped, no
script, no external asset) from ``memoryhole report``, and the web UI's ``/report`` page."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times, qth_survival_times

from archive.analysis.survival import SurvivalFilter
from archive.analysis.velocity import LEVELS, build_report
from archive.catalogue.db import open_catalogue
from tests.support.helpers import http_get, run_cli
from tests.support.survival import HOSTILE, generated_catalogue, small_catalogue
from tests.support.webhome import ServeProcess


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("generated")
    generated_catalogue(home / "memoryhole.db")
    return home


def _as_time(value: float | None) -> float:
    return math.inf if value is None else value


def test_kaplan_meier_and_quartiles_match_lifelines_on_the_export(generated: Path) -> None:
    out = generated / "survival.csv"
    run_cli(generated, "export", "survival", str(out))
    frame = pd.read_csv(out)
    # what a user does with the export: entry is first seen, counted from t0
    frame["entry"] = (pd.to_datetime(frame["first_seen_at"])
                      - pd.to_datetime(frame["t0"])).dt.total_seconds()
    assert (frame["entry"] > 0).any() and frame["event"].sum() > 50
    report = build_report(open_catalogue(generated / "memoryhole.db"))
    groups = {("all", "all"): report.overall,
              **{("platform", g.name): g for g in report.platforms},
              **{("source", g.name): g for g in report.sources}}
    assert len(groups) == 1 + 3 + 15        # all, 3 platforms, 5 sources of each
    for (kind, name), group in groups.items():
        part = frame if kind == "all" else frame[frame[kind] == name]
        kmf = KaplanMeierFitter().fit(part["duration_s"], part["event"], entry=part["entry"])
        expected = kmf.survival_function_.iloc[:, 0]
        band = kmf.confidence_interval_
        assert group.curve.subjects == len(part) and group.curve.observed == part["event"].sum()
        for t in expected.index:
            assert group.curve.at(t) == pytest.approx(expected.loc[t], abs=1e-9), (name, t)
        for t, low, high in zip(group.curve.times, group.curve.lower, group.curve.upper,
                                strict=True):
            assert (low, high) == pytest.approx(tuple(band.loc[t]), abs=1e-9), (name, t)
        bounds = median_survival_times(band)
        median = group.quartiles[LEVELS.index(0.5)]
        assert _as_time(median.time) == kmf.median_survival_time_
        assert (_as_time(median.low), _as_time(median.high)) == tuple(bounds.iloc[0])
        for q in group.quartiles:
            assert _as_time(q.time) == qth_survival_times(q.level, expected)
            assert (_as_time(q.low), _as_time(q.high)) == \
                tuple(qth_survival_times(q.level, band).iloc[0])


def test_platforms_differ_as_generated(generated: Path) -> None:
    report = build_report(open_catalogue(generated / "memoryhole.db"))
    medians = {g.name: g.quartiles[1].time for g in report.platforms}
    assert medians["weibo"] < medians["wechat"] < medians["news"]
    assert report.coverage.deleted > report.coverage.captured > 0     # some gone before seen
    assert report.interval_width.count == report.overall.curve.observed
    assert sum(report.per_day.values()) == report.coverage.deleted
    only = build_report(open_catalogue(generated / "memoryhole.db"),
                        SurvivalFilter(platform="weibo"))
    assert [g.name for g in only.platforms] == ["weibo"]


def _check_html(page: str) -> None:
    assert "<script" not in page.lower() and HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&amp;" in page \
        or "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;" in page
    assert " style=" not in page and "javascript:" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count("<svg") >= 4


def test_report_file_escapes_hostile_sources_and_is_self_contained(tmp_path: Path) -> None:
    small_catalogue(tmp_path / "memoryhole.db")
    result = run_cli(tmp_path, "report", str(tmp_path / "out" / "report.html"))
    assert "survival: 6 URLs and items, 3 deleted" in result.output
    assert "coverage: 3 of 4 deleted were archived before" in result.output
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    _check_html(page)
    assert "<style>" in page and "Kaplan&ndash;Meier on midpoints" in page
    narrowed = tmp_path / "tg.html"
    run_cli(tmp_path, "report", "--source", "tg", str(narrowed))
    assert HOSTILE.split('"')[0][1:] not in narrowed.read_text(encoding="utf-8")
    run_cli(tmp_path, "report", "--since", "whenever", str(narrowed), expect=2)


def test_report_page_in_the_web_ui(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    small_catalogue(home / "memoryhole.db")
    shutil.copy(home / "memoryhole.db", tmp_path / "copy.db")
    with ServeProcess(home) as served:
        status, headers, body = http_get(served.ui, "/report")
        assert status == 200, body[:300]
        page = body.decode("utf-8")
        _check_html(page)
        assert "script-src 'none'" in headers["content-security-policy"]
        assert 'href="/report"' in page and "Velocity of deletion" in page
        status, _, body = http_get(served.ui, "/report?platform=telegram&since=2026-10-01")
        narrowed = body.decode("utf-8")
        assert status == 200 and "platform telegram" in narrowed and HOSTILE[1:7] not in \
            narrowed.split("<section", 1)[1]
        status, _, body = http_get(served.ui, "/report?since=%3Cb%3Eyesterday")
        assert status == 400 and b"not a time or an age" in body and b"<b>yesterday" not in body
