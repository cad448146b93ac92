"""``memoryhole deletions``, ``blocking``, ``history``, ``diff`` and ``copies``: the read side of
the catalogue, thin over archive.catalogue and archive.export.formats."""

from __future__ import annotations

import io
import json

import click
from rich.console import Console
from rich.table import Table

from archive.catalogue.blocking import BlockFilter, query_blocks
from archive.catalogue.deletions import (
    DEFAULT_REPLAY_BASE,
    REASONS,
    DeletionFilter,
    query_deletions,
)
from archive.export.formats import (
    BLOCK_FORMATS,
    FORMATS,
    terminal_text,
    write_blocks,
    write_deletions,
)
from archive.timeutil import parse_time_or_age, utcnow
from cli.context import BadConfig, Context, pass_ctx


def _console() -> Console:
    """stdout console; wide when piped, so tables are not wrapped at 80 columns for scripts."""
    console = Console()
    return console if console.is_terminal else Console(width=250)


@click.command()
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
    # every field through terminal_text: a title or URL is the archived page's, hostile
    console.print(terminal_text(
        f"{data['url']}  source {watch.get('source') or '-'}, state {watch.get('state') or '-'}, "
        f"first seen {watch.get('first_seen_at')}, next check {watch.get('next_check_at')}"))
    meta = next((row["meta"] for row in reversed(data["captures"]) if row.get("meta")), None)
    if meta:                       # a platform page's own metadata (a WeChat article's)
        console.print(terminal_text(" · ".join(f"{key} {meta[key]}" for key in (
            "account", "author", "published_at") if meta.get(key))))
    table = Table("captured at", "status", "kind", "title", "WARC record", box=None)
    for row in data["captures"]:
        kind = "revisit" if row["is_revisit"] else row["via"]
        if row.get("vantage"):
            kind += f" at {row['vantage']}"
        table.add_row(*map(terminal_text, (
            row["captured_at"], str(row["status"] or "-"), kind, row["title"] or "",
            f"{row['warc_filename']}:{row['warc_offset']}")))
    console.print(table)
    if data["checks"]:
        checks = Table("checked at", "vantage", "outcome", "status", "reason", "rule", box=None)
        for row in data["checks"]:
            checks.add_row(*map(terminal_text, (
                row["checked_at"], row.get("vantage") or "-", row["outcome"],
                str(row["http_status"] or "-"), row["reason"] or "", row["rule"] or "")))
        console.print(checks)
    for row in data["diffs"]:
        console.print(f"changed at {row['created_at']}: +{row['added']} -{row['removed']} "
                      f"lines, similarity {row['similarity']:.2f}", highlight=False)
    for item in data["items"]:
        console.print(terminal_text(
            f"item {item['item_id']} of {item['parent_url']} ({item['state']}): "
            f"{len(item['versions'])} version(s)"), highlight=False)
        for version in item["versions"]:
            console.print(terminal_text(f"  {version['seen_at']}  {version['text']}"),
                          highlight=False)
    for row in data["deletions"]:
        restored = f", restored {row['restored_at']}" if row["restored_at"] else ""
        console.print(f"[bold red]deleted[/bold red] ({row['reason']}, {row['rule']}): detected "
                      f"{row['detected_at']}, last seen alive {row['last_seen_alive_at']}"
                      f"{restored}", highlight=False)


@click.command()
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


@click.command()
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


@click.command()
@click.option("--vantage", help="Only this vantage point (a [[vantage]] name).")
@click.option("--since", help="Seen blocked at or after this time or age (e.g. 7d, 24h).")
@click.option("--current", is_flag=True, help="Only blocks not seen lifted since.")
@click.option("--format", "fmt", type=click.Choice(BLOCK_FORMATS), default="table",
              show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="At most N blocks (latest seen).")
@pass_ctx
def blocking(ctx: Context, vantage: str | None, since: str | None, current: bool, fmt: str,
             limit: int | None) -> None:
    """What is blocked where: alive at the control, failing or walled at a vantage point."""
    try:
        flt = BlockFilter(vantage=vantage, since=parse_time_or_age(since) if since else None,
                          current=current, limit=limit)
    except ValueError as exc:
        raise BadConfig(str(exc)) from None
    db = ctx.catalogue()
    try:
        rows = query_blocks(db, flt, replay_base=ctx.config.replay_base)
    finally:
        db.conn.close()
    empty = "no blocks match" if flt.narrowed else "nothing blocked"
    if vantage is not None and ctx.config.vantage(vantage) is None:
        known = ", ".join(v.name for v in ctx.config.vantages) or "none"
        empty = f"no blocks at {vantage!r}: not a vantage point in {ctx.config_path} " \
                f"(configured: {known})"
    elif not ctx.config.vantages and not rows:
        empty = f"nothing blocked: {ctx.config_path} names no [[vantage]] to re-check from"
    out = io.StringIO()
    write_blocks(rows, fmt, out, console=_console() if fmt == "table" else None,
                 empty_message=empty)
    click.echo(out.getvalue(), nl=False)


@click.command()
@click.argument("url")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@pass_ctx
def copies(ctx: Context, url: str, fmt: str) -> None:
    """The copies of URL's story on other sites and accounts: source, first seen, state,
    similarity."""
    from archive.catalogue.history import NotInCatalogue
    from archive.catalogue.stories import story_copies

    db = ctx.catalogue()
    try:
        data = story_copies(db, url, replay_base=ctx.config.replay_base)
    except NotInCatalogue as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.conn.close()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    console = _console()
    found = data["copies"]
    if data["story_id"] is None:
        console.print(terminal_text(f"{data['url']}: no copy of its text is known"))
    else:
        console.print(terminal_text(f"story {data['story_id']}: {len(found)} copies, "
                                    f"{data['copies_deleted']} deleted"))
    table = Table("first seen", "source", "state", "similarity", "URL", box=None)
    for row in found:
        state = row["state"] or "-"
        if row["deleted"]:
            state = f"deleted ({row['deleted']['reason']}, {row['deleted']['detected_at']})"
        if row["blocked"]:
            state += "; blocked at " + ", ".join(b["vantage"] for b in row["blocked"])
        score = "-" if row["similarity"] is None else f"{row['similarity']:.2f}"
        table.add_row(*map(terminal_text, (row["first_seen_at"] or "-", row["source"] or "-",
                                           state, score)),
                      terminal_text(row["url"], overflow="fold"))
    console.print(table)
