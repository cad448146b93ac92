"""``memoryhole report``: the velocity of deletion as one HTML file (archive.analysis): survival
curves per platform and source, times to deletion, deletions per day and reason, coverage and the
schedule's detection delay. The web UI's ``/report`` page shows the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.context import BadConfig, Context, pass_ctx


def survival_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that pick the URLs and items of the report and of ``export survival``."""
    for option in (
            click.option("--platform",
                         help="Only this platform's (news, wechat, weibo, telegram, ...)."),
            click.option("--source", help="Only this source's URLs and items."),
            click.option("--since", help="Only URLs and items first seen since this time or age"
                                         " (e.g. 30d).")):
        command = option(command)
    return command


def survival_filter(since: str | None, source: str | None, platform: str | None) -> Any:
    """The archive.analysis.survival.SurvivalFilter of those options (a bad time: exit 2)."""
    from archive.analysis.survival import SurvivalFilter

    try:
        return SurvivalFilter.parse(since, source, platform)
    except ValueError as exc:
        raise BadConfig(str(exc)) from None


@click.command()
@click.argument("out", type=click.Path(dir_okay=False))
@survival_options
@pass_ctx
def report(ctx: Context, out: str, since: str | None, source: str | None,
           platform: str | None) -> None:
    """The velocity report (HTML, no script) to OUT: how fast what memoryhole watches is deleted."""
    from archive.analysis.report import write_report
    from archive.analysis.velocity import build_report, summary_lines

    flt = survival_filter(since, source, platform)
    db = ctx.catalogue()
    try:
        result = build_report(db, flt)
    finally:
        db.conn.close()
    write_report(result, Path(out))
    for line in summary_lines(result):
        click.echo(line)
    click.echo(f"wrote {out}")
