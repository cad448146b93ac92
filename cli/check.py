"""``memoryhole check [--repair]``: do the WARCs, the index and the catalogue agree (thin over
archive.integrity)."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console

from cli.context import Context, pass_ctx


@click.command()
@click.option("--repair", is_flag=True, help="Truncate torn files, close them, re-index, and "
              "bring the catalogue in line with the WARCs.")
@pass_ctx
def check(ctx: Context, repair: bool) -> None:
    """Verify that WARCs, index and catalogue agree."""
    from archive.integrity.check import check_home
    from archive.integrity.repair import repair_home

    db = ctx.catalogue(must_exist=False) if ctx.home.db_path.exists() else None
    console = Console(stderr=True)
    with console.status("checking") if console.is_terminal else _nullcontext() as status:
        def progress(what: str, done: int, total: int) -> None:
            if status is not None:
                status.update(f"checking {what} ({done}/{total})")
        report = (repair_home if repair else check_home)(ctx.home, db, progress=progress)
    for problem in report.problems:
        click.echo(f"{problem.kind}: {problem.path}: {problem.detail} (fix: {problem.fix})")
    click.echo(report.summary() if hasattr(report, "summary") else
               f"{report.files} files, {report.records} records, "
               f"{len(report.problems)} problems")
    if report.problems:
        sys.exit(1)


class _nullcontext:  # noqa: N801 - a tiny stand-in for rich's status on a non-terminal
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None
