"""The command line as users and scripts drive it: exit codes, one-line errors, every command."""

from __future__ import annotations

import json
import zlib

import pytest

from cli import cli
from tests.support.helpers import rows, run_cli, warc_files, write_config


def test_every_command_has_help():
    def walk(group, prefix=()):
        for name, command in group.commands.items():
            assert command.help or command.short_help, f"{' '.join((*prefix, name))} has no help"
            if hasattr(command, "commands"):
                walk(command, (*prefix, name))
    walk(cli)


@pytest.mark.parametrize("seeds,expected", [
    ('[[source]]\nkind = "feed"\nurl = "https://example.org/rss"\n', "source[0].name: missing"),
    ('[[source]]\nname = "x"\nkind = "rss"\nurl = "https://example.org/rss"\n',
     "source[0] (x).kind: unknown kind 'rss'"),
    ('[[source]]\nname = "x"\nurl = "ftp://example.org/"\n', "is not an http(s) URL"),
    ('[[source]]\nname = "x"\nurl = "https://e.org/"\nschedule = "every blue moon"\n',
     "schedule"),
    ('[[source]\nname = "x"\n', "invalid TOML"),
])
def test_bad_seeds_exit_2_with_one_line(tmp_home, tmp_path, seeds, expected):
    path = tmp_path / "bad.toml"
    path.write_text(seeds, encoding="utf-8")
    result = run_cli(tmp_home, "crawl", "--seeds", str(path), expect=2)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert str(path) in lines[0] and expected in lines[0]


def test_bad_config_exit_2_names_file_and_key(tmp_home):
    write_config(tmp_home, concurrency="many")
    result = run_cli(tmp_home, "crawl", "https://example.org/", expect=2)
    assert "memoryhole.toml: crawl.concurrency: expected an integer" in result.output


def test_bad_warc_compression_names_the_choices(tmp_home):
    write_config(tmp_home, warc_compression="zip")
    result = run_cli(tmp_home, "crawl", "https://example.org/", expect=2)
    assert ("crawl.warc_compression: unknown value 'zip'" in result.output
            and '"fast", "balanced", "small"' in result.output), result.output


def test_warc_compression_reaches_the_writer(tmp_home, mockserver):
    """zlib marks level-9 members in the gzip header (XFL = 2): "small" is really used."""
    write_config(tmp_home, warc_compression="small")
    run_cli(tmp_home, "crawl", mockserver.url("/plain/small"))
    (path,) = warc_files(tmp_home)
    data, flags = path.read_bytes(), []
    while data:                                   # one gzip member after the other
        flags.append(data[8])
        member = zlib.decompressobj(31)
        member.decompress(data)
        assert member.eof
        data = member.unused_data
    assert len(flags) >= 3 and set(flags) == {2}


def test_unknown_source_is_a_usage_error(tmp_home, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[[source]]\nname = "a"\nurl = "https://example.org/"\n', encoding="utf-8")
    result = run_cli(tmp_home, "crawl", "--seeds", str(path), "--source", "b", expect=2)
    assert "unknown source b" in result.output


def test_nothing_to_crawl(tmp_home):
    result = run_cli(tmp_home, "crawl", expect=2)
    assert "nothing to crawl" in result.output


def test_home_from_environment(tmp_path, monkeypatch, mockserver):
    from click.testing import CliRunner

    home = tmp_path / "envhome"
    write_config(home)
    monkeypatch.setenv("MEMORYHOLE_HOME", str(home))
    result = CliRunner().invoke(cli, ["crawl", mockserver.url("/plain/env")])
    assert result.exit_code == 0, result.output
    assert (home / "memoryhole.db").exists()
    assert list((home / "collections" / "main" / "archive").glob("*.warc.gz"))


def test_seeds_from_config_then_add_history_export_check(tmp_home, mockserver, tmp_path):
    seeds = tmp_home / "seeds" / "local.toml"
    seeds.parent.mkdir(parents=True)
    seeds.write_text(
        f'[[source]]\nname = "localfeed"\nkind = "feed"\nurl = "{mockserver.url("/feed.xml")}"\n'
        f'tags = ["kazakhstan"]\n\n'
        f'[[source]]\nname = "localmap"\nkind = "sitemap"\n'
        f'url = "{mockserver.url("/sitemap-index.xml")}"\n',
        encoding="utf-8")
    write_config(tmp_home)
    config = tmp_home / "memoryhole.toml"
    config.write_text('seeds = ["seeds/*.toml"]\n' + config.read_text(), encoding="utf-8")

    crawl = run_cli(tmp_home, "crawl")
    assert "errors 0" in crawl.output
    sources = {r["source"] for r in rows(tmp_home, "SELECT source FROM urls")}
    assert sources == {"localfeed", "localmap"}
    assert len(rows(tmp_home, "SELECT * FROM urls WHERE source = 'localmap'")) >= 10

    only = run_cli(tmp_home, "crawl", "--source", "localfeed")
    assert "revisits" in only.output

    extra = mockserver.url("/plain/added")
    run_cli(tmp_home, "add", extra, "--source", "watchlist")
    (watched,) = rows(tmp_home, "SELECT * FROM urls WHERE url = ?", (extra,))
    assert watched["source"] == "watchlist" and watched["state"] == "alive"
    assert watched["next_check_at"] > watched["first_seen_at"]

    history = json.loads(run_cli(tmp_home, "history", extra, "--format", "json").output)
    assert history["captures"][0]["status"] == 200
    table = run_cli(tmp_home, "history", extra).output
    assert "Kazakhstan and China expand Khorgos transit (added)" in table

    out = tmp_path / "out.cdxj"
    run_cli(tmp_home, "export", "cdxj", str(out))
    lines = out.read_text().splitlines()
    assert lines == sorted(lines) and any("/plain/added" in line for line in lines)
    run_cli(tmp_home, "export", "cdxj", str(out), "--source", "watchlist")
    assert [line for line in out.read_text().splitlines() if "/plain/added" in line]
    assert not [line for line in out.read_text().splitlines() if "/articles/" in line]

    check = run_cli(tmp_home, "check")
    assert "0 problems" in check.output or "ok" in check.output.lower()


def test_history_of_unknown_url_fails_cleanly(tmp_home, mockserver):
    write_config(tmp_home)
    run_cli(tmp_home, "crawl", mockserver.url("/plain/known"))
    result = run_cli(tmp_home, "history", "https://example.org/nope", expect=1)
    assert "not in the catalogue" in result.output


def test_history_prints_no_escape_sequence_or_markup_from_a_page(tmp_home):
    """An archived title is hostile: its escape sequences and rich markup reach the terminal
    as text, never as instructions."""
    from tests.support.scriptserver import ScriptServer

    write_config(tmp_home, obey_robots=False)
    title = "&#27;]0;pwned&#7; &#27;[31mred [bold]loud[/bold] &#x202e;evil"
    with ScriptServer() as server:
        server.script("/t", [{"status": 200, "body": f"<html><head><title>{title}</title>"
                                                      "</head><body><p>x</p></body></html>"}])
        url = server.url("/t")
        run_cli(tmp_home, "crawl", url)
    [stored] = rows(tmp_home, "SELECT title FROM captures WHERE url = ?", (url,))
    assert "\x1b" in stored["title"]                    # the page's title, kept as it was
    output = run_cli(tmp_home, "history", url).output
    assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output
    assert "[bold]loud[/bold]" in output                # markup shown, not applied
