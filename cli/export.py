"""``memoryhole export``: the archive out of the home (CDXJ, WACZ, a deletion's evidence
bundle, the deletion log as CSV). Library first: each command is a thin shell over
archive.export.selection / archive.export.wacz."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from archive.timeutil import parse_time_or_age
from cli.context import BadConfig, Context, pass_ctx
from cli.report import survival_filter, survival_options


@click.group()
def export() -> None:
    """Export the archive: cdxj, wacz, evidence (one deletion), csv (the deletion log),
    survival (time to deletion per URL and item, for R or lifelines)."""


def _since(since: str | None) -> Any:
    try:
        return parse_time_or_age(since) if since else None
    except ValueError as exc:
        raise BadConfig(str(exc)) from None


class _Progress:
    """Progress of a long export on stderr, one line per step, at most every second."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - self.last >= 1.0:
            self.last = now
            click.echo(f"  {what}: {done}/{total}", err=True)


@export.command("cdxj")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--source", help="Only this source's captures.")
@click.option("--since", help="Only captures since this time or age (e.g. 7d).")
@pass_ctx
def export_cdxj_command(ctx: Context, out: str, source: str | None, since: str | None) -> None:
    """The CDXJ index of every collection, merged and sorted, to OUT."""
    from archive.export.selection import export_cdxj

    start = _since(since)
    db = ctx.catalogue() if (source or start) else None
    count = export_cdxj(ctx.home, Path(out), db, source=source, since=start)
    click.echo(f"wrote {count} index lines to {out}")


@export.command("wacz")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--source", help="Only this source's captures (with what replays them).")
@click.option("--since", help="Only captures since this time or age (e.g. 7d).")
@pass_ctx
def export_wacz_command(ctx: Context, out: str, source: str | None, since: str | None) -> None:
    """A WACZ of the archive (or of a source / a period) to OUT, for ReplayWeb.page."""
    from archive.export.selection import export_wacz
    from archive.export.wacz import ExportError

    start = _since(since)
    try:
        result = export_wacz(ctx.home, Path(out), ctx.catalogue(), source=source, since=start,
                             progress=_Progress())
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {out}: {result.records} index lines, {result.pages} pages, "
               f"{result.bytes} bytes")


@export.command("evidence")
@click.argument("url")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--deletion", "deletion_id", type=int,
              help="This deletion of URL (its id in deletions --format json) [default: the "
                   "newest].")
@pass_ctx
def export_evidence_command(ctx: Context, url: str, out: str, deletion_id: int | None) -> None:
    """One deletion's evidence bundle (a WACZ): the last good capture, every tombstone check,
    the deletion-log row with SHA-256 of each WARC."""
    from archive.export.evidence import evidence_bundle
    from archive.export.wacz import ExportError

    try:
        result = evidence_bundle(ctx.home, ctx.catalogue(), url, Path(out),
                                 deletion_id=deletion_id, replay_base=ctx.config.replay_base,
                                 progress=_Progress())
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    warc = next(v for k, v in result.files.items() if k.startswith("archive/"))
    click.echo(f"wrote {out}: {result.records} index lines, WARC {warc}")


@export.command("csv")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--source", help="Only this source's deletions.")
@click.option("--since", help="Only deletions detected since this time or age (e.g. 7d).")
@pass_ctx
def export_csv_command(ctx: Context, out: str, source: str | None, since: str | None) -> None:
    """The deletion log as CSV to OUT (the columns of deletions --format csv)."""
    from archive.export.selection import export_deletions_csv

    count = export_deletions_csv(ctx.catalogue(), Path(out), source=source, since=_since(since),
                                 replay_base=ctx.config.replay_base)
    click.echo(f"wrote {count} deletions to {out}")


@export.command("survival")
@click.argument("out", type=click.Path(dir_okay=False))
@survival_options
@pass_ctx
def export_survival_command(ctx: Context, out: str, source: str | None, since: str | None,
                            platform: str | None) -> None:
    """Survival data as CSV to OUT: one row per watched URL and per list item, with the
    interval-censored time to its first confirmed deletion (README "Survival data")."""
    from archive.export.survival import export_survival_csv

    count = export_survival_csv(ctx.catalogue(), Path(out),
                                survival_filter(since, source, platform))
    click.echo(f"wrote {count} rows to {out}")
