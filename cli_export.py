"""``memoryhole export``: the archive out of the home (CDXJ, WACZ, a deletion's evidence
bundle, the deletion log as CSV). Library first: each command is a thin shell over
archive.export / archive.wacz."""

from __future__ import annotations

from pathlib import Path

import click

from archive.timeutil import parse_time_or_age
from cli import BadConfig, Context, pass_ctx


@click.group()
def export() -> None:
    """Export the archive (cdxj)."""


@export.command("cdxj")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--source", help="Only this source's captures.")
@click.option("--since", help="Only captures since this time or age (e.g. 7d).")
@pass_ctx
def export_cdxj_command(ctx: Context, out: str, source: str | None, since: str | None) -> None:
    """The CDXJ index of every collection, merged and sorted, to OUT."""
    from archive.export import export_cdxj

    try:
        start = parse_time_or_age(since) if since else None
    except ValueError as exc:
        raise BadConfig(str(exc)) from None
    db = ctx.catalogue() if (source or start) else None
    count = export_cdxj(ctx.home, Path(out), db, source=source, since=start)
    click.echo(f"wrote {count} index lines to {out}")
