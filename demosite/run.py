"""``memoryhole demo``: crawl the bundled demo site, let it change, crawl again, show the result.

The demo uses its own home (``make demo`` passes ``--home demo-home``). It refuses to touch a
home that holds a catalogue it did not make, and starts afresh in one it made before, because the
demo site gets a new port, so new URLs, at every start.

The demo's story: the censored WeChat article has reprints on a portal and on two other accounts
(demosite.reprints), watched from the first crawl. Phase 2 censors the original; once the
re-checks confirm it, the site switches to phase 3, which censors one reprint; the re-checks of
the URLs due (the story's other copies are due at once after a confirmation) confirm that one
too, and the story section shows which copy went first and how many of them are deleted.
"""

from __future__ import annotations

import shutil
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from archive.analysis.velocity import build_report, summary_lines
from archive.catalogue import db as catalogue
from archive.catalogue.stories import story_by_id
from archive.config import Config, load_config
from archive.export.formats import copies_text, terminal_text
from archive.home import Home
from archive.seeds import Source, load_seeds
from archive.text.diffing import render_diff
from demosite.site import DemoSite, demo_seeds_toml

MARKER = ".memoryhole-demo"
DEMO_CONFIG = """# written by `memoryhole demo`
seeds = ["seeds/demo.toml"]
operator = "memoryhole demo"

[crawl]
allow_private_addresses = true   # the demo site runs on 127.0.0.1
concurrency = 8

[recheck]
confirm_after = "0s"             # the demo compresses time: real use keeps the 5m default
"""


class DemoHomeInUse(RuntimeError):
    """The chosen home holds real data."""


def prepare_home(home: Home) -> None:
    root = home.root
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise DemoHomeInUse(
                f"{root} already holds data that the demo did not make; run the demo with "
                f"another home: memoryhole --home demo-home demo")
        for child in root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by memoryhole demo; the next demo run empties this folder\n")


def run_demo(home: Home, console: Console) -> int:
    from crawlers.launch import run_crawl

    try:
        prepare_home(home)
    except DemoHomeInUse as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    with DemoSite() as site:
        console.print(f"demo site running at {site.base}; home: {home.root}", highlight=False)
        seeds = home.root / "seeds" / "demo.toml"
        seeds.parent.mkdir(exist_ok=True)
        seeds.write_text(demo_seeds_toml(site.base), encoding="utf-8")
        home.config_path.write_text(DEMO_CONFIG, encoding="utf-8")
        config = load_config(home.config_path)
        sources = [s for path in config.seed_files() for s in load_seeds(path)]

        console.rule("first crawl")
        first = run_crawl(home, config, sources)
        console.print(f"crawl run {first.run_id}: {first.summary()}", highlight=False)
        _show_captures(home, console)

        console.rule("the site edits, deletes and censors pages; second crawl")
        site.set_phase(2)
        second = run_crawl(home, config, sources)
        console.print(f"crawl run {second.run_id}: {second.summary()}", highlight=False)
        _show_diffs(home, console)

        console.rule("re-checks: two missing checks in a row confirm a deletion")
        rechecks = []
        for mode in ("all", "all"):
            rechecks.append(_recheck(home, config, sources, mode, console))
        _show_story_counts(home, config, console)

        console.rule("a reprint of the censored story is censored too; re-checks of the due URLs")
        site.set_phase(3)
        for mode in ("due", "due"):
            rechecks.append(_recheck(home, config, sources, mode, console))
        _show_story_counts(home, config, console)
        _show_deletions(home, console)
        _show_faults(home, console)
        _show_stories(home, config, console)
        _show_survival(home, console)
    console.print(
        f"\nNext: browse the deletion log, timelines, diffs and replays with "
        f"memoryhole --home {home.root} serve (then open http://127.0.0.1:8765/); "
        f"memoryhole --home {home.root} history URL; a story's copies with "
        f"memoryhole --home {home.root} copies URL; export a deletion's evidence with "
        f"memoryhole --home {home.root} export evidence URL evidence.wacz; the velocity of "
        f"deletion with memoryhole --home {home.root} report report.html (and its data with "
        f"export survival survival.csv); or replay with "
        f"pywb: cd {home.root} && wayback -b 127.0.0.1 -p 8080", highlight=False)
    failed = first.failed or second.failed or any(r.failed for r in rechecks)
    return 1 if failed else 0


def _recheck(home: Home, config: Config, sources: list[Source], mode: str, console: Console) -> Any:
    """One re-check run of the URLs ``mode`` selects ("all" or "due"), its summary printed."""
    from crawlers.launch import run_recheck

    result = run_recheck(home, config, {"mode": mode}, sources)
    console.print(f"recheck run {result.run_id} ({mode}): {result.check_summary()}",
                  highlight=False)
    return result


def _show_captures(home: Home, console: Console) -> None:
    db = catalogue.open_existing(home.db_path)
    table = Table("status", "title", "encoding", "URL", box=None, title="archived pages")
    for status, title, encoding, url in db.execute(
        "SELECT status, title, encoding, url FROM captures WHERE title IS NOT NULL"
        " ORDER BY url"
    ).fetchall():
        table.add_row(*map(terminal_text, (status, title or "", encoding or "", _path(url))))
    console.print(table)
    db.conn.close()


def _show_diffs(home: Home, console: Console) -> None:
    db = catalogue.open_existing(home.db_path)
    diffs = db.execute("SELECT url, added, removed, similarity, unified_diff FROM diffs"
                       " ORDER BY id").fetchall()
    if not diffs:
        console.print("no page changed its text")
    for url, added, removed, similarity, unified in diffs:
        console.print(terminal_text(f"edited: {_path(url)} (+{added} -{removed}, similarity "
                                    f"{similarity:.2f})", style="bold"), highlight=False)
        render_diff(unified, console)
    statuses = db.execute(
        "SELECT c.status, c.url FROM captures c JOIN runs r ON r.id = c.run_id"
        " WHERE r.id = (SELECT max(id) FROM runs) AND c.status >= 300 AND c.via = 'http'"
        " ORDER BY c.url").fetchall()
    for status, url in statuses:
        console.print(terminal_text(f"archived the {status} answer of {_path(url)} as evidence"),
                      highlight=False)
    db.conn.close()


def _show_deletions(home: Home, console: Console) -> None:
    db = catalogue.open_existing(home.db_path)
    table = Table("reason", "rule", "last seen alive", "URL", box=None, title="deletion log")
    for reason, rule, alive, url in db.execute(
            "SELECT reason, rule, last_seen_alive_at, url FROM deletions ORDER BY url"):
        table.add_row(*map(terminal_text, (reason, rule or "", alive or "", _path(url))))
    console.print(table)
    db.conn.close()


def _show_faults(home: Home, console: Console) -> None:
    db = catalogue.open_existing(home.db_path)
    faults = db.execute(
        "SELECT url, outcome, reason, count(*) FROM checks WHERE outcome IN"
        " ('transient', 'blocked') GROUP BY url, outcome, reason ORDER BY url").fetchall()
    for url, outcome, reason, count in faults:
        console.print(terminal_text(f"not a deletion: {_path(url)}: {outcome} ({reason}) "
                                    f"x{count}"), highlight=False)
    db.conn.close()


def _stories(home: Home, config: Config) -> list[dict[str, Any]]:
    """The stories with a deleted copy, as archive.catalogue.stories.story_by_id gives them."""
    db = catalogue.open_existing(home.db_path)
    try:
        ids = [row[0] for row in db.execute(
            "SELECT DISTINCT story_id FROM urls WHERE story_id IS NOT NULL AND state = 'deleted'"
            " ORDER BY story_id")]
        found = [story_by_id(db, i, replay_base=config.replay_base) for i in ids]
    finally:
        db.conn.close()
    return [story for story in found if story is not None]


def _story_line(story: dict[str, Any]) -> Text:
    """"story 1 (title): 1 of 4 copies deleted", in the deletion log's wording; the title is an
    archived page's, so hostile: printed through terminal_text."""
    copies = story["copies"]
    title = next((c["title"] for c in copies if c["title"]), None) or "untitled"
    counts = copies_text({"copies": len(copies), "copies_deleted": story["copies_deleted"]})
    return terminal_text(f"story {story['story_id']} ({title}): {counts}")


def _show_story_counts(home: Home, config: Config, console: Console) -> None:
    for story in _stories(home, config):
        console.print(_story_line(story))


def _show_stories(home: Home, config: Config, console: Console) -> None:
    """Each story with a deleted copy: its copies, deleted ones first in the order they went."""
    stories = _stories(home, config)
    if not stories:
        return
    console.rule("copies of one story: which went first")
    for story in stories:
        console.print(_story_line(story))
        copies = sorted(story["copies"], key=lambda c: (
            c["deleted"] is None, (c["deleted"] or {}).get("detected_at") or ""))
        table = Table("deleted", "state", box=None)
        table.add_column("detected", no_wrap=True)
        table.add_column("URL", overflow="fold")
        for rank, copy in enumerate(copies, 1):
            deleted = copy["deleted"] or {}
            state = deleted.get("reason") or copy["state"] or "-"
            table.add_row(*map(terminal_text, (
                _ordinal(rank) if deleted else "-", state, deleted.get("detected_at") or "-",
                _path(copy["url"]))))
        console.print(table)
        first = copies[0]
        if first["deleted"]:
            console.print(terminal_text(
                f"went first: {_path(first['url'])} ({first['deleted']['reason']}, detected "
                f"{first['deleted']['detected_at']})"))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _show_survival(home: Home, console: Console) -> None:
    """The survival summary (archive.analysis.velocity): the demo's few URLs, one query."""
    db = catalogue.open_existing(home.db_path)
    try:
        lines = summary_lines(build_report(db))
    finally:
        db.conn.close()
    console.rule("survival: how fast the watched pages were deleted")
    for line in lines:
        console.print(line, highlight=False, markup=False)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[-1] if url.count("/") >= 3 else url
