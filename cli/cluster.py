"""``memoryhole worker``: a cluster worker ([cluster] redis; archive.cluster), and the cluster's
lines in ``memoryhole check``."""

from __future__ import annotations

import socket
import sys

import click

from archive.config import Config
from cli.context import BadConfig, Context, pass_ctx


def _client(config: Config) -> object:
    from archive.cluster.keys import ClusterError, connect

    try:
        return connect(config.cluster.redis, timeout=5)
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--name", default=None, help="This worker's name (default: the host name); its "
              "WARC files carry it.")
@pass_ctx
def worker(ctx: Context, name: str | None) -> None:
    """Serve the cluster's crawls and re-checks ([cluster] redis) until stopped."""
    from archive.cluster.keys import Keys, config_version, text
    from archive.config import NAME_RE
    from crawlers.launch import run_worker

    config = ctx.config
    if not config.cluster.redis:
        raise BadConfig(f"{ctx.config_path}: cluster.redis is not set; set it to the Redis URL "
                        "the run's owner uses")
    name = name or socket.gethostname().split(".")[0]
    if not NAME_RE.match(name):
        raise BadConfig(f"--name {name!r}: use letters, digits, '-', '_' or '.'")
    client = _client(config)
    run = {text(k): text(v) for k, v in client.hgetall(Keys(config.cluster.home_id).run).items()}
    if run.get("run") and run.get("config") != config_version(config):
        raise click.ClickException(
            f"this worker's config (version {config_version(config)}) differs from the running "
            f"run's ({run.get('config')}); give the worker the owner's memoryhole.toml")
    click.echo(f"worker {name}: serving the cluster (log: "
               f"{ctx.home.root / 'logs' / f'worker-{name}.log'})", err=True)
    sys.exit(run_worker(ctx.home, config, name))


def dead_letter_lines(config: Config) -> list[str]:
    """The cluster's dead-lettered jobs, a line each (none without a cluster)."""
    if not config.cluster.redis:
        return []
    from archive.cluster.keys import Keys, dead_letters

    count, newest = dead_letters(_client(config), Keys(config.cluster.home_id))
    lines = [f"dead-letter: job {d.get('job_id')} ({d.get('url')}): {d.get('reason')}, last "
             f"by worker {d.get('worker')} at {d.get('at')}" for d in newest]
    if count > len(newest):
        lines.append(f"dead-letter: {count - len(newest)} more")
    return lines
