"""The ``memoryhole`` command: a thin click group over archive/ and crawlers/.

Exit codes (DESIGN.md): 0 success; 1 the job ran but something failed (reported); 2 bad usage or
bad config (one line naming the file, the key and the fix).
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from archive.catalogue import db as catalogue
from archive.catalogue.deletions import (
    DEFAULT_REPLAY_BASE,
    REASONS,
    DeletionFilter,
    query_deletions,
)
from archive.config import ConfigError, Source, load_seeds
from archive.export.formats import FORMATS, write_deletions
from archive.home import Home, resolve_home
from archive.lock import HomeBusy, run_lock
from archive.timeutil import iso, parse_time_or_age, utcnow
from archive.urlnorm import canonical_url, domain_of, is_http_url
from cli_context import BadConfig, Context, pass_ctx
from cli_export import export
from cli_web import serve

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
    except ConfigError as exc:
        raise BadConfig(str(exc)) from None
    if names:
        unknown = sorted(set(names) - {s.name for s in sources})
        if unknown:
            raise BadConfig(f"unknown source {', '.join(unknown)}: the seed files define "
                            f"{', '.join(s.name for s in sources) or 'no sources'}")
        sources = [s for s in sources if s.name in names]
    return sources


def _console() -> Console:
    """stdout console; wide when piped, so tables are not wrapped at 80 columns for scripts."""
    console = Console()
    return console if console.is_terminal else Console(width=250)


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
        raise click.ClickException(f"the crawl failed; see {result.log_path}")


@cli.command()
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


@cli.command()
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


@cli.command()
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
        raise click.ClickException(f"the re-check failed; see {result.log_path}")


def _notify(ctx: Context) -> None:
    """Send the notifications of confirmed deletions and restores (an outbox: none is lost)."""
    if not ctx.config.notify_urls:
        return
    from archive.export.notify import notify_deletions

    db = ctx.catalogue()
    try:
        notify_deletions(db, list(ctx.config.notify_urls), replay_base=ctx.config.replay_base)
    finally:
        db.conn.close()


@cli.command()
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


@cli.command()
@click.argument("url")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_ctx
def history(ctx: Context, url: str, fmt: str) -> None:
    """Captures, checks, diffs and deletions of one URL."""
    from archive.catalogue.history import (  # only here: keeps `crawl` quick
        NotInCatalogue,
        url_history,
    )

    db = ctx.catalogue()
    try:
        data = url_history(db, url)
    except NotInCatalogue as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    console = _console()
    watch = data["watch"] or {}
    console.print(f"[bold]{data['url']}[/bold]  source {watch.get('source') or '-'}, "
                  f"state {watch.get('state') or '-'}, first seen {watch.get('first_seen_at')}, "
                  f"next check {watch.get('next_check_at')}", highlight=False)
    meta = next((row["meta"] for row in reversed(data["captures"]) if row.get("meta")), None)
    if meta:                       # a platform page's own metadata (a WeChat article's)
        console.print(Text(" · ".join(f"{key} {meta[key]}" for key in
                                      ("account", "author", "published_at") if meta.get(key))))
    table = Table("captured at", "status", "kind", "title", "WARC record", box=None)
    for row in data["captures"]:
        table.add_row(row["captured_at"], str(row["status"] or "-"),
                      "revisit" if row["is_revisit"] else row["via"], row["title"] or "",
                      f"{row['warc_filename']}:{row['warc_offset']}")
    console.print(table)
    if data["checks"]:
        checks = Table("checked at", "outcome", "status", "reason", "rule", box=None)
        for row in data["checks"]:
            checks.add_row(row["checked_at"], row["outcome"], str(row["http_status"] or "-"),
                           row["reason"] or "", row["rule"] or "")
        console.print(checks)
    for row in data["diffs"]:
        console.print(f"changed at {row['created_at']}: +{row['added']} -{row['removed']} "
                      f"lines, similarity {row['similarity']:.2f}", highlight=False)
    for row in data["deletions"]:
        restored = f", restored {row['restored_at']}" if row["restored_at"] else ""
        console.print(f"[bold red]deleted[/bold red] ({row['reason']}, {row['rule']}): detected "
                      f"{row['detected_at']}, last seen alive {row['last_seen_alive_at']}"
                      f"{restored}", highlight=False)


@cli.command()
@click.argument("url")
@click.option("--from", "since", help="Capture at or before this time or age (e.g. 7d).")
@click.option("--to", "until", help="Capture at or before this time (default: newest).")
@pass_ctx
def diff(ctx: Context, url: str, since: str | None, until: str | None) -> None:
    """Text diff between two captures of URL (default: the newest change)."""
    from archive.catalogue.history import NotInCatalogue, capture_diff
    from archive.text.diffing import render_diff

    try:
        start = parse_time_or_age(since) if since else None
        end = parse_time_or_age(until) if until else None
    except ValueError as exc:
        raise BadConfig(str(exc)) from None
    db = ctx.catalogue()
    try:
        result = capture_diff(db, ctx.home, url, since=start, until=end)
    except NotInCatalogue as exc:
        raise click.ClickException(str(exc)) from None
    console = _console()
    if result.diff is None:
        console.print(f"no text change between {result.from_capture['captured_at']} and "
                      f"{result.to_capture['captured_at']}", highlight=False)
        return
    console.print(f"{result.url}: +{result.diff.added} -{result.diff.removed} lines, "
                  f"similarity {result.diff.similarity:.2f}", highlight=False)
    render_diff(result.diff.unified_diff, console)


@cli.command()
@click.option("--since", help="Detected at or after this time or age (e.g. 7d, 24h).")
@click.option("--until", help="Detected before this time or age.")
@click.option("--source", help="Only this source.")
@click.option("--domain", help="Only this host (exact; www. ignored; subdomains do not match).")
@click.option("--reason", type=click.Choice(REASONS), help="Only this reason.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="At most N deletions (newest).")
@pass_ctx
def deletions(ctx: Context, since: str | None, until: str | None, source: str | None,
              domain: str | None, reason: str | None, fmt: str, limit: int | None) -> None:
    """The deletion log, newest first."""
    try:
        now = utcnow()
        flt = DeletionFilter(
            since=parse_time_or_age(since, now) if since else None,
            until=parse_time_or_age(until, now) if until else None,
            source=source, domain=domain, reason=reason, limit=limit)
    except ValueError as exc:
        raise BadConfig(str(exc)) from None
    # [serve] base_url, where `memoryhole serve` shows the captures (older configs lack it).
    replay_base = getattr(ctx.config, "replay_base", None) or DEFAULT_REPLAY_BASE
    db = ctx.catalogue()
    try:
        rows = query_deletions(db, flt, replay_base=replay_base)
    finally:
        db.conn.close()
    described = " ".join(f"--{name} {value}" for name, value in (
        ("since", since), ("until", until), ("source", source), ("domain", domain),
        ("reason", reason)) if value)
    out = io.StringIO()
    write_deletions(
        rows, fmt, out, console=_console() if fmt == "table" else None,
        feed_key=f"{ctx.home.root}\n{described}",
        feed_title="memoryhole deletions" + (f" ({described})" if described else ""),
        empty_message="no deletions match " + described if flt.narrowed
        else "no deletions in the log yet")
    click.echo(out.getvalue(), nl=False)


@cli.command()
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


@cli.command()
@pass_ctx
def demo(ctx: Context) -> None:
    """Crawl the bundled local demo site and show what was archived."""
    from demosite.run import run_demo

    sys.exit(run_demo(ctx.home, Console()))


cli.add_command(export)
cli.add_command(serve)


def main() -> None:
    cli(prog_name="memoryhole")


if __name__ == "__main__":
    main()
