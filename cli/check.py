"""``memoryhole check [--repair]``: do the WARCs, the index and the catalogue agree (thin over
archive.integrity)."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console

from archive.lock import DEFAULT_RUN_WAIT, HomeBusy, run_in_progress
from cli.cluster import dead_letter_lines
from cli.context import Context, pass_ctx


@click.command()
@click.option("--repair", is_flag=True, help="Truncate torn files, close them, re-index, and "
              "bring the catalogue in line with the WARCs.")
@click.option("--wait", type=click.FloatRange(min=0), default=DEFAULT_RUN_WAIT,
              show_default=True, help="With --repair: seconds to wait for a run in progress "
              "(a repair holds the run lock).")
@click.option("--compact-index", is_flag=True, help="Merge each collection's index files into "
              "one (index.cdxj) first; crawls may run meanwhile.")
@pass_ctx
def check(ctx: Context, repair: bool, wait: float, compact_index: bool) -> None:
    """Verify that WARCs, index and catalogue agree."""
    from archive.integrity.check import check_home
    from archive.integrity.repair import repair_home
    from archive.warc.cdxj_tiers import compact_index as compact

    if compact_index:
        for collection in ctx.home.collections():
            lines = compact(ctx.home.index_path(collection))
            click.echo(f"compacted the index of {collection}: {lines} lines in "
                       f"{ctx.home.index_path(collection)}", err=True)

    running = None if repair else run_in_progress(ctx.home)
    if running is not None:
        click.echo(f"a run is in progress ({running.describe()}): the files and rows it is "
                   "writing may not agree until it ends", err=True)
    db = ctx.catalogue(must_exist=False) if ctx.home.db_path.exists() else None
    console = Console(stderr=True)
    with console.status("checking") if console.is_terminal else _nullcontext() as status:
        def progress(what: str, done: int, total: int) -> None:
            if status is not None:
                status.update(f"checking {what} ({done}/{total})")
        try:
            report = (repair_home(ctx.home, db, progress=progress, wait=wait) if repair
                      else check_home(ctx.home, db, progress=progress))
        except HomeBusy as exc:
            raise click.ClickException(f"{exc} (a repair waits for runs to end: --wait)") \
                from None
        finally:
            if db is not None:
                db.conn.close()
    for problem in report.problems:
        click.echo(f"{problem.kind}: {problem.path}: {problem.detail} (fix: {problem.fix})")
    click.echo(report.summary() if hasattr(report, "summary") else
               f"{report.files} files, {report.records} records, "
               f"{len(report.problems)} problems")
    dead = dead_letter_lines(ctx.config)        # the cluster's failed jobs ([cluster] redis)
    for line in dead:
        click.echo(line)
    if report.problems or dead:
        sys.exit(1)


class _nullcontext:  # noqa: N801 - a tiny stand-in for rich's status on a non-terminal
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None
