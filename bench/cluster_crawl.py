"""The crawl mode of bench.cluster: a first crawl of the bench site's N pages into a fresh empty
home, in one process and through Redis Streams workers.

The seed is the site's RSS feed (``feed.xml``, listing every page; ``max_items`` = N): a local
crawl follows its entries in the crawl process; on the cluster the feed is one ``source`` job,
the worker that fetches it sends the N pages back (``discovered``) and the owner's frontier hands
them out as ``pages`` jobs of 20 URLs (archive.cluster.frontier), so the hand-out is exercised.

Each run also records what the machine did meanwhile: the load average before it, the CPU that
nginx and everything else (other users, the hypervisor's steal) took over the run, and the Redis
commands the run sent (``INFO commandstats``, reset before the run).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.measure import measure
from bench.recheck_bench import steal_s, tree_cpu_s
from bench.run import machine_busy_s
from bench.site import SiteInfo

ARTICLES = "%/article-%"        # the site's N pages (not the feed, robots.txt, requisites)
# commands the slot scripts (archive.cluster.slots) run inside Redis: no round trip of their own
IN_SCRIPTS = ("time", "zremrangebyscore", "zcard", "zadd", "pexpire", "zscore")


def write_seeds(path: Path, site: SiteInfo) -> None:
    path.write_text('[[source]]\nname = "bench"\nkind = "feed"\n'
                    f'url = "{site.feed_url}"\nmax_items = {site.pages}\n', encoding="utf-8")


def write_config(home: Path, concurrency: int, name: str, redis_url: str, workers: int) -> None:
    text = ("[crawl]\nallow_private_addresses = true\nobey_robots = false\n"
            f"concurrency = {concurrency}\nper_domain = {concurrency}\n")
    if name == "local-scrapy":
        text += "fast_pages = false\n"
    if workers:
        text += f'[cluster]\nredis = "{redis_url}"\n'
    (home / "memoryhole.toml").write_text(text, encoding="utf-8")


def command_stats(client: Any) -> dict[str, int]:
    """Calls per Redis command since the last CONFIG RESETSTAT (``INFO commandstats``)."""
    info = client.info("commandstats")
    return {key.removeprefix("cmdstat_"): int(value["calls"]) for key, value in info.items()}


def catalogue_pages(home: Path) -> dict[str, Any]:
    """What the last run stored: distinct article pages captured with a 200, all captures, and
    the cluster jobs stored (0 for a local run)."""
    with closing(sqlite3.connect(f"file:{home / 'memoryhole.db'}?mode=ro", uri=True)) as db:
        run_id = db.execute("SELECT max(id) FROM runs").fetchone()[0]
        pages = db.execute("SELECT count(DISTINCT url) FROM captures WHERE run_id = ? AND "
                           "status = 200 AND url LIKE ?", (run_id, ARTICLES)).fetchone()[0]
        captures = db.execute("SELECT count(*) FROM captures WHERE run_id = ?",
                              (run_id,)).fetchone()[0]
        try:
            jobs = db.execute("SELECT count(*) FROM cluster_jobs WHERE run_id = ?",
                              (run_id,)).fetchone()[0]
        except sqlite3.OperationalError:
            jobs = 0
    return {"run_id": run_id, "pages": pages, "captures": captures, "jobs": jobs}


def parse_crawl_summary(text: str) -> int | None:
    """``pages`` of the CLI's last "crawl run N: pages P, ..." line."""
    found = [line for line in text.splitlines() if line.startswith("crawl run ")]
    if not found:
        return None
    try:
        return int(found[-1].split("pages ", 1)[1].split(",", 1)[0])
    except (IndexError, ValueError):
        return None


def run_crawl(name: str, workers_wanted: int, workdir: Path, site: SiteInfo,
              command: list[str], env: dict[str, str], concurrency: int, redis: Any,
              server_pid: int | None, timeout: float, start_workers: Any,
              stop_workers: Any) -> dict[str, Any]:
    """One measured crawl (a fresh home), the workers started and registered before the clock
    starts and stopped after it stops."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    home = workdir / "home"
    home.mkdir()
    write_config(home, concurrency, name, redis.url, workers_wanted)
    seeds = workdir / "seeds.toml"
    write_seeds(seeds, site)
    redis.client.flushall()
    workers = start_workers(command, env, home, workers_wanted, redis, workdir) \
        if workers_wanted else []
    load = os.getloadavg()[0]
    try:
        redis.client.config_resetstat()
        before_workers = sum(tree_cpu_s(w.pid) for w in workers)
        busy, served, stolen = machine_busy_s(), tree_cpu_s(server_pid), steal_s()
        taken = measure([*command, "--home", str(home), "crawl", "--seeds", str(seeds)],
                        log_path=workdir / "output.log", cwd=workdir, env=env, timeout=timeout)
        worker_cpu = sum(tree_cpu_s(w.pid) for w in workers) - before_workers
        served = tree_cpu_s(server_pid) - served
        other = machine_busy_s() - busy - taken.cpu_s - worker_cpu - served
        stolen = steal_s() - stolen
        commands = command_stats(redis.client)
    finally:
        stop_workers(workers)
    commands.pop("config|resetstat", None)
    commands.pop("config", None)
    stored = catalogue_pages(home)
    summary_pages = parse_crawl_summary((workdir / "output.log").read_text(errors="replace"))
    shutil.rmtree(home)
    return {"contender": name, **asdict(taken), "cpu_s": taken.cpu_s,
            "worker_cpu_s": round(worker_cpu, 2), "server_cpu_s": round(served, 2),
            "other_cpu_s": round(max(other, 0.0), 2), "steal_s": round(stolen, 2),
            "load_before": round(load, 2), "pages": stored["pages"],
            "summary_pages": summary_pages, "captures": stored["captures"],
            "jobs": stored["jobs"], "redis_calls": sum(commands.values()),
            "redis_sent": sum(n for c, n in commands.items() if c not in IN_SCRIPTS),
            "redis_commands": commands, "log": str(workdir / "output.log")}
