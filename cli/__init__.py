"""The ``memoryhole`` command: a thin click group over archive/ and crawlers/, one module per
group of commands (crawl, query, check, export, serve, ops). ``python -m cli`` runs it too.

Exit codes (DESIGN.md): 0 success; 1 the job ran but something failed (reported); 2 bad usage or
bad config (one line naming the file, the key and the fix).
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

import click

from archive.home import Home, resolve_home
from archive.writer.failures import failure_line, is_storage_failure
from cli import check, cluster, crawl, export, ops, query, report, serve
from cli.context import Context

logger = logging.getLogger("memoryhole")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), envvar="MEMORYHOLE_HOME",
              help="Home folder (default $MEMORYHOLE_HOME, else ./memoryhole-data).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file (default HOME/memoryhole.toml, optional).")
@click.version_option(package_name="memoryhole")
@click.pass_context
def cli(ctx: click.Context, home: str | None, config_path: str | None) -> None:
    """memoryhole: archive public pages as WARC and find out when they are edited or deleted."""
    root = resolve_home(home)
    explicit = config_path is not None
    ctx.obj = Context(Home(root), Path(config_path) if explicit else root / "memoryhole.toml",
                      explicit)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")


for command in (crawl.crawl, crawl.add, crawl.recheck, crawl.schedule, query.history,
                query.diff, query.deletions, query.blocking, check.check, crawl.demo, export.export,
                serve.serve, ops.backup, ops.doctor, report.report, query.copies,
                cluster.worker):
    cli.add_command(command)


def main() -> None:
    """The command line; a full disk or a failing one ends it with one line naming the fix."""
    try:
        cli(prog_name="memoryhole")
    except (OSError, sqlite3.Error) as exc:
        if not is_storage_failure(exc):
            raise
        click.echo(f"Error: {failure_line(exc)}", err=True)
        sys.exit(1)
