"""``memoryhole crawl``, ``add``, ``recheck``, ``schedule`` and ``demo``: the commands that run
crawls, each in a process of its own (crawlers.launch), under the home's run lock."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from archive.catalogue import db as catalogue
from archive.config_file import ConfigError
from archive.lock import HomeBusy, run_lock
from archive.seeds import Source, check_vantages, load_seeds
from archive.timeutil import iso, utcnow
from archive.urlnorm import canonical_url, domain_of, is_http_url
from cli.context import BadConfig, Context, pass_ctx


def _load_sources(ctx: Context, seed_files: tuple[str, ...],
                  names: tuple[str, ...]) -> list[Source]:
    try:
        files = [Path(f) for f in seed_files] or ctx.config.seed_files()
        sources: list[Source] = []
        seen: dict[str, str] = {}
        for path in files:
            for source in load_seeds(path):
                if source.name in seen:
                    raise ConfigError(f"{path}: source {source.name!r} is also defined in "
                                      f"{seen[source.name]}; give each source its own name")
                seen[source.name] = str(path)
                sources.append(source)
        check_vantages(sources, ctx.config)
    except ConfigError as exc:
        raise BadConfig(str(exc)) from None
    if names:
        unknown = sorted(set(names) - {s.name for s in sources})
        if unknown:
            raise BadConfig(f"unknown source {', '.join(unknown)}: the seed files define "
                            f"{', '.join(s.name for s in sources) or 'no sources'}")
        sources = [s for s in sources if s.name in names]
    return sources


def _check_urls(urls: tuple[str, ...]) -> list[str]:
    for url in urls:
        if not is_http_url(url):
            raise BadConfig(f"{url!r} is not an http(s) URL; give a full http:// or https:// URL")
    return list(urls)


class CrawlProgress:
    """A live line on a terminal; a plain log line every 10 s otherwise (cron)."""

    def __init__(self, console: Console, label: str) -> None:
        self.console = console
        self.label = label
        self.status = console.status(f"{label}: starting") if console.is_terminal else None
        self.last_line = time.monotonic()

    def __enter__(self) -> CrawlProgress:
        if self.status:
            self.status.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.status:
            self.status.__exit__(*exc)

    def __call__(self, p: dict[str, int]) -> None:
        text = (f"{self.label}: {p.get('responses', 0)} responses, {p.get('pages', 0)} pages, "
                f"{p.get('errors', 0)} errors, {p.get('requests', 0)} requests queued")
        if self.status:
            self.status.update(text)
        elif time.monotonic() - self.last_line >= 10:
            self.last_line = time.monotonic()
            click.echo(text, err=True)


def _run(ctx: Context, sources: list[Source], urls: list[str], *, extra_source: str | None,
         label: str) -> None:
    from crawlers.browser.chromium import BrowserMissing
    from crawlers.launch import run_crawl

    console = Console(stderr=True)
    try:
        with CrawlProgress(console, label) as progress:
            result = run_crawl(ctx.home, ctx.config, sources, urls, extra_source=extra_source,
                               on_progress=progress)
    except BrowserMissing as exc:
        raise BadConfig(str(exc)) from None
    for line in result.error_lines():
        click.echo(f"  {line}", err=True)
    click.echo(f"{label} run {result.run_id}: {result.summary()}")
    if result.failed:
        raise click.ClickException(result.failure_line("crawl"))


@click.command()
@click.option("--seeds", "seed_files", multiple=True, type=click.Path(dir_okay=False),
              help="Seed file (TOML); repeatable. Default: the config's seeds.")
@click.option("--source", "names", multiple=True, help="Only this source; repeatable.")
@click.argument("urls", nargs=-1)
@pass_ctx
def crawl(ctx: Context, seed_files: tuple[str, ...], names: tuple[str, ...],
          urls: tuple[str, ...]) -> None:
    """Crawl now: seed sources and/or single URLs (cron-friendly)."""
    checked = _check_urls(urls)
    sources = [] if (checked and not seed_files and not names) else \
        _load_sources(ctx, seed_files, names)
    if not sources and not checked:
        raise BadConfig("nothing to crawl: give URLs, --seeds FILE, or seeds = [...] in "
                        f"{ctx.config_path}")
    try:
        with run_lock(ctx.home, "crawl"):
            _run(ctx, sources, checked, extra_source=None, label="crawl")
    except HomeBusy as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.argument("urls", nargs=-1, required=True)
@click.option("--source", default="added", show_default=True,
              help="Source name to file these URLs under.")
@pass_ctx
def add(ctx: Context, urls: tuple[str, ...], source: str) -> None:
    """Watch single URLs from now on (captured now, re-checked on the schedule)."""
    checked = _check_urls(urls)
    _ = ctx.config
    db = ctx.catalogue(must_exist=False)
    now = iso(utcnow())
    with catalogue.immediate(db):
        for url in checked:
            key = canonical_url(url)
            if db.execute("SELECT 1 FROM urls WHERE url = ?", (key,)).fetchone():
                continue
            db["urls"].insert({"url": key, "domain": domain_of(key), "source": source,
                               "first_seen_at": now, "next_check_at": now, "state": "pending"})
    db.conn.close()
    click.echo(f"watching {len(checked)} URL(s) under source {source!r}")
    try:
        with run_lock(ctx.home, "add"):
            _run(ctx, [], checked, extra_source=source, label="add")
    except HomeBusy as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--due", "mode", flag_value="due", default=True,
              help="URLs whose next check time has come (default).")
@click.option("--all", "mode", flag_value="all", help="Every watched URL.")
@click.option("--url", "urls", multiple=True, help="This watched URL; repeatable.")
@click.option("--source", "names", multiple=True, help="Only this source's URLs; repeatable.")
@click.option("--limit", type=click.IntRange(min=1), help="At most N URLs.")
@pass_ctx
def recheck(ctx: Context, mode: str, urls: tuple[str, ...], names: tuple[str, ...],
            limit: int | None) -> None:
    """Re-check saved URLs now: classify, confirm deletions, archive what is seen."""
    from crawlers.launch import run_recheck

    _check_urls(urls)
    sources = _load_sources(ctx, (), ()) if ctx.config.seeds else []
    if not ctx.home.db_path.exists():
        raise click.ClickException(f"nothing to re-check in {ctx.home.root}: crawl or add "
                                   "URLs first")
    selection = {"mode": "urls" if urls else mode, "urls": list(urls), "sources": list(names),
                 "limit": limit, "domain_budget": ctx.config.recheck.domain_budget}
    console = Console(stderr=True)
    try:
        with run_lock(ctx.home, "recheck"), CrawlProgress(console, "recheck") as progress:
            result = run_recheck(ctx.home, ctx.config, selection, sources, on_progress=progress)
    except HomeBusy as exc:
        raise click.ClickException(str(exc)) from None
    for line in result.error_lines():
        click.echo(f"  {line}", err=True)
    click.echo(f"recheck run {result.run_id}: {result.check_summary()}")
    _notify(ctx)
    if result.failed:
        raise click.ClickException(result.failure_line("re-check"))


def _notify(ctx: Context) -> None:
    """Send the notifications of confirmed deletions and restores, and of new blocks when
    ``[notify] blocks`` says so (an outbox: none is lost)."""
    if not ctx.config.notify_urls:
        return
    from archive.export.notify import notify_deletions

    db = ctx.catalogue()
    try:
        notify_deletions(db, list(ctx.config.notify_urls), replay_base=ctx.config.replay_base,
                         blocks=ctx.config.notify_blocks)
    finally:
        db.conn.close()


@click.command()
@click.option("--recheck-every", type=click.IntRange(min=1), default=60, show_default=True,
              metavar="SECONDS", help="Run `recheck --due` this often.")
@pass_ctx
def schedule(ctx: Context, recheck_every: int) -> None:
    """Run the scheduler in the foreground: each source's crawl on its schedule, due re-checks.

    Exits 0 on SIGTERM or Ctrl-C; 1 if another scheduler runs for this home."""
    from scheduler import run_daemon

    sources = _load_sources(ctx, (), ())
    config = ctx.config_path.absolute() if ctx.explicit_config else None
    try:
        code = run_daemon(ctx.home, sources, config_path=config, recheck_every=recheck_every)
    except HomeBusy as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@click.command()
@pass_ctx
def demo(ctx: Context) -> None:
    """Crawl the bundled local demo site and show what was archived."""
    from demosite.run import run_demo

    sys.exit(run_demo(ctx.home, Console()))
