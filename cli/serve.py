"""``memoryhole serve``: the web UI and the replay server (archive.web.server)."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from cli.context import Context, pass_ctx


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (anything but loopback exposes the archive).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="The web UI's port (0: any free port).")
@click.option("--replay-port", type=click.IntRange(0, 65535),
              help="The replay server's port: archived pages are served from this second "
                   "origin, never the UI's [default: the UI's port + 1].")
@pass_ctx
def serve(ctx: Context, host: str, port: int, replay_port: int | None) -> None:
    """Web UI: the deletion log, timelines, diffs, replay, Memento (Ctrl-C stops it)."""
    from archive.web.server import Addresses, is_loopback
    from archive.web.server import serve as run_server

    err = Console(stderr=True)
    if not is_loopback(host):
        err.print(f"[bold red]WARNING: listening on {host}, not 127.0.0.1: anyone who can reach "
                  "this machine can read the archive and the deletion log, and memoryhole has "
                  "no login. Put it behind an authenticating proxy.[/]")

    def ready(addresses: Addresses) -> None:
        click.echo(f"memoryhole UI: {addresses.ui_origin}/  (replay server: "
                   f"{addresses.replay_origin}/); Ctrl-C stops it")
        sys.stdout.flush()

    _ = ctx.config        # a bad config stops here, before the server starts
    ctx.catalogue().conn.close()    # no catalogue: say which command makes one (exit 1)

    def progress(message: str) -> None:
        err.print(message, highlight=False)

    cluster = ctx.config.cluster
    try:
        run_server(ctx.home, host, port, replay_port, on_ready=ready, on_progress=progress,
                   control_name=ctx.config.control_name,
                   cluster=(cluster.redis, cluster.home_id) if cluster.redis else None)
    except OSError as exc:
        raise click.ClickException(str(exc)) from None
