"""``memoryhole backup DEST`` and ``memoryhole doctor``: looking after a home and the machine it
runs on (thin over archive.integrity.backup and archive.integrity.doctor)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console

from archive.config_file import ConfigError
from cli.context import Context, pass_ctx


@click.command()
@click.argument("dest", type=click.Path(path_type=Path))
@pass_ctx
def backup(ctx: Context, dest: Path) -> None:
    """Back the home up into DEST, which is then a home itself (safe while crawls run).

    The catalogue is copied with SQLite's backup API, closed WARC files whole (only those DEST
    lacks), files being written up to what the catalogue cites; then the index and config.
    """
    from archive.integrity.backup import BackupError, backup_home

    try:
        seeds = ctx.config.seed_files()
    except ConfigError:
        seeds = []            # a seed glob that matches nothing: the backup goes on without
    console = Console(stderr=True)
    status = console.status("backing up") if console.is_terminal else None
    last = [0.0]

    def progress(what: str, done: int, total: int) -> None:
        text = f"backing up {what} ({done}/{total} WARC files)"
        if status is not None:
            status.update(text)
        elif time.monotonic() - last[0] >= 10 or done == total:
            last[0] = time.monotonic()
            click.echo(text, err=True)

    try:
        if status is not None:
            status.start()
        report = backup_home(ctx.home, dest, extra_files=seeds, progress=progress)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"the backup into {dest} stopped: {exc}; DEST keeps its "
                                   "earlier backup (its catalogue is replaced last)") from None
    finally:
        if status is not None:
            status.stop()
    click.echo(report.summary())


@click.command()
@pass_ctx
def doctor(ctx: Context) -> None:
    """Check this machine: Chromium, CJK fonts, disk space, clock, pywb, vantage proxies, and
    the cluster's Redis when [cluster] redis is set."""
    from archive.integrity.doctor import run_doctor
    from crawlers.browser.chromium import BrowserMissing, find_chromium

    config = ctx.config
    chromium, problem = None, ""
    try:
        chromium = find_chromium(config.browser.executable or None)
    except BrowserMissing as exc:
        problem = str(exc)
    findings = run_doctor(ctx.home, config, chromium=chromium, chromium_problem=problem)
    if config.cluster.redis:
        from archive.cluster.doctor import check_redis

        findings.append(check_redis(config))
    for finding in findings:
        click.echo(finding.line())
    if any(f.status == "fail" for f in findings):
        sys.exit(1)
