"""The three benchmark contenders: how each is started and how its output is counted.

Each contender gets a fresh work folder per run. ``command()`` prepares it and returns the argv
to measure; ``collect()`` counts what the run produced afterwards (outside the measured time):

- ``scrapy``: bench.plain_spider, Scrapy defaults, no WARC; pages = items scraped.
- ``wget``: ``wget --warc-file`` over urls.txt (one connection: wget has no concurrency);
  pages = HTTP 200 response records in its WARC.
- ``memoryhole``: ``memoryhole --home HOME crawl --seeds SEEDS`` with a fresh home; pages =
  ``captures`` rows with status 200 in the catalogue, robots.txt (also archived) left out; the
  WARC's 200 responses are counted too, as a cross-check (``warc_pages``).
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.site import SiteInfo

ROOT = Path(__file__).resolve().parent.parent
WGET = "/usr/bin/wget"
NAMES = ("scrapy", "wget", "memoryhole")


@dataclass(frozen=True)
class Job:
    site: SiteInfo
    concurrency: int
    workdir: Path
    memoryhole: Path            # the memoryhole console script
    memoryhole_src: Path | None = None   # run this source tree instead (see export_revision)


def base_env() -> dict[str, str]:
    """The environment every contender runs in: ours, minus settings that would leak in."""
    env = dict(os.environ)
    for key in ("SCRAPY_SETTINGS_MODULE", "MEMORYHOLE_HOME", "PYTHONPATH"):
        env.pop(key, None)
    return env


def default_memoryhole() -> Path:
    return Path(sys.executable).parent / "memoryhole"


def export_revision(rev: str, into: Path) -> tuple[str, Path]:
    """``git archive`` memoryhole at ``rev`` into ``into/<sha>`` (once); (short sha, folder).

    The working tree changes under a benchmark while others work in it; a commit does not.
    Nothing in the repository is touched (no worktree, no checkout). The copy is byte-compiled,
    as ``pip install`` compiles an installed package and Scrapy's own modules are: with
    PYTHONDONTWRITEBYTECODE set (as on these machines) it would otherwise be compiled again in
    each of memoryhole's three processes on every run.
    """
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", f"{rev}^{{commit}}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    folder = into / sha
    if not (folder / "scheduler.py").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", sha],
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        byte_compile(folder)
    return sha, folder


def byte_compile(folder: Path) -> None:
    """Byte-compile the memoryhole tree at ``folder`` (not its .venv), as ``pip install`` does.
    With PYTHONDONTWRITEBYTECODE set, a module changed since its .pyc was written would be
    compiled again by each of memoryhole's processes on every run."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-x", r"/\.(venv|git)/",
                    str(folder)], check=True, stdout=subprocess.DEVNULL)


def warc_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.warc.gz") if p.is_file())


def warc_pages(paths: Iterable[Path]) -> int:
    """HTTP 200 ``response`` records in these WARCs, robots.txt not counted."""
    from warcio.archiveiterator import ArchiveIterator

    count = 0
    for path in paths:
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                if record.http_headers.get_statuscode() == "200" and \
                        not uri.endswith("/robots.txt"):
                    count += 1
    return count


# --- plain Scrapy ----------------------------------------------------------------------------

def scrapy_command(job: Job) -> tuple[list[str], dict[str, str]]:
    env = base_env()
    env["PYTHONPATH"] = str(ROOT)        # for bench.plain_spider; cwd holds no scrapy.cfg
    argv = [sys.executable, "-m", "bench.plain_spider", str(job.site.urls_file),
            "--concurrency", str(job.concurrency),
            "--stats-file", str(job.workdir / "stats.json"),
            "--log-file", str(job.workdir / "scrapy.log")]
    return argv, env


def scrapy_collect(job: Job) -> dict[str, Any]:
    path = job.workdir / "stats.json"
    stats = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {"pages": int(stats.get("item_scraped_count", 0)), "warc_bytes": None,
            "crawl_s": stats.get("elapsed_time_seconds"),
            "finish_reason": stats.get("finish_reason")}


# --- wget --warc-file ------------------------------------------------------------------------

def wget_command(job: Job) -> tuple[list[str], dict[str, str]]:
    argv = [WGET, f"--warc-file={job.workdir / 'wget'}", f"--input-file={job.site.urls_file}",
            "--no-verbose", "-e", "robots=off", "-O", "/dev/null"]
    return argv, base_env()


def wget_collect(job: Job) -> dict[str, Any]:
    warcs = warc_files(job.workdir)
    return {"pages": warc_pages(warcs), "warc_bytes": sum(p.stat().st_size for p in warcs),
            "warc_files": len(warcs), "crawl_s": None}


# --- memoryhole crawl ------------------------------------------------------------------------

def _toml_list(items: list[str]) -> str:
    return "[\n" + "".join(f"  {json.dumps(item)},\n" for item in items) + "]"


def memoryhole_command(job: Job) -> tuple[list[str], dict[str, str]]:
    home = job.workdir / "home"
    home.mkdir(parents=True)
    (home / "memoryhole.toml").write_text(
        "[crawl]\nallow_private_addresses = true\n"
        f"concurrency = {job.concurrency}\nper_domain = {job.concurrency}\n", encoding="utf-8")
    seeds = job.workdir / "seeds.toml"
    seeds.write_text('[[source]]\nname = "bench"\nkind = "page"\n'
                     f"urls = {_toml_list(job.site.urls())}\n", encoding="utf-8")
    prefix, env = memoryhole_invocation(job.memoryhole, job.memoryhole_src)
    return [*prefix, "--home", str(home), "crawl", "--seeds", str(seeds)], env


def memoryhole_invocation(memoryhole: Path, src: Path | None) -> tuple[list[str], dict[str, str]]:
    """The start of a ``memoryhole ...`` command line and its environment: the console script,
    or, for an exported tree ``src``, what the console script does with that tree first on the
    path (the CLI starts its crawl process with PYTHONPATH set to the tree it was imported
    from)."""
    env = base_env()
    if src is None:
        return [str(memoryhole)], env
    env["PYTHONPATH"] = str(src)
    return [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())"], env


def memoryhole_collect(job: Job) -> dict[str, Any]:
    home = job.workdir / "home"
    warcs = warc_files(home / "collections")
    result: dict[str, Any] = {"pages": 0, "warc_bytes": sum(p.stat().st_size for p in warcs),
                              "warc_files": len(warcs), "warc_pages": warc_pages(warcs),
                              "crawl_s": None}
    db_path = home / "memoryhole.db"
    if not db_path.exists():
        return result
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        result["pages"] = db.execute(
            "SELECT count(*) FROM captures WHERE status = 200 AND url NOT LIKE '%/robots.txt'"
        ).fetchone()[0]
        row = db.execute("SELECT stats FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    stats = json.loads(row[0]) if row and row[0] else {}
    result["crawl_s"] = stats.get("elapsed_time_seconds")
    result["finish_reason"] = stats.get("finish_reason")
    return result


COMMANDS = {"scrapy": scrapy_command, "wget": wget_command, "memoryhole": memoryhole_command}
COLLECTORS = {"scrapy": scrapy_collect, "wget": wget_collect, "memoryhole": memoryhole_collect}
