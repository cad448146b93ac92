"""The velocity report as HTML: the fragment the web UI's ``/report`` page shows, and a whole
document for ``memoryhole report OUT.html`` (the same fragment, with its own small stylesheet
inline: a file that opens anywhere, with no external asset and no script).

Rendered by Jinja2 with autoescaping on: every value from the catalogue (source names, reasons,
platforms) is escaped; the charts (archive.analysis.charts) escape their own labels.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

import archive
from archive.analysis.charts import bar_chart, day_bars, duration_text, survival_chart
from archive.analysis.velocity import LEVELS, MAX_GROUPS, VelocityReport

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    env.filters["duration"] = duration_text
    return env


def render_fragment(report: VelocityReport) -> Markup:
    """The report's HTML, without the page around it."""
    charts = {
        "platforms": survival_chart([(g.name, g.curve) for g in report.platforms[:MAX_GROUPS]],
                                    label="Time to deletion per platform (Kaplan-Meier)"),
        "sources": survival_chart([(g.name, g.curve) for g in report.sources[:MAX_GROUPS]],
                                  label="Time to deletion per source (Kaplan-Meier)"),
        "days": day_bars(report.per_day, label="Deletions per day of detection"),
        "reasons": bar_chart(report.per_reason, label="Deletions per reason"),
    }
    html = _environment().get_template("report_body.html").render(
        report=report, charts={k: Markup(v) for k, v in charts.items()}, levels=LEVELS,
        max_groups=MAX_GROUPS)
    return Markup(html)


def render_document(report: VelocityReport) -> str:
    """The report as a whole HTML document."""
    return _environment().get_template("report_page.html").render(
        body=render_fragment(report), version=archive.__version__)


def write_report(report: VelocityReport, out: Path) -> None:
    """Write the report's document to ``out`` through a temporary file: whole or untouched."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html.tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render_document(report))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
