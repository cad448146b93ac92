"""Re-check throughput on a loopback site: memoryhole's conditional re-checks, its full GETs, and
a bare aiohttp client on the same URLs (the ceiling).

``python -m bench.recheck_bench [--pages 5000] [--rounds 3] [--concurrency 64 [16 ...]]
[--memoryhole-rev HEAD]``: with ``--memoryhole-rev``, a byte-compiled ``git archive`` copy of
that commit runs (bench.contenders.export_revision), not the working tree, which may change
under a long run.

1. Generates the site (bench.site, into OUT/recheck/site) and serves it with nginx (bench.nginx),
   which sends ETag and Last-Modified and answers 304 to If-None-Match.
2. Crawls every page once into a base home (``[crawl] allow_private_addresses``, robots off,
   ``concurrency = per_domain = C``, ``[recheck] domain_budget = 1000000``): each URL's ETag and
   Last-Modified land in the catalogue.
3. Per concurrency and round, in an order rotated every round, each contender runs in its own
   process tree measured by bench.measure (wall, CPU of the tree, peak summed RSS):

   - ``conditional``: ``memoryhole --home H recheck --all`` on a fresh copy of the base home
     (mostly 304s);
   - ``full``: the same on a copy whose ``urls.etag`` and ``urls.last_modified`` are cleared, so
     every check downloads the body (unchanged: a revisit record);
   - ``aiohttp``: bench.aiohttp_client, the same conditional GETs with C connections.

   A copy is the catalogue (``VACUUM INTO``) plus the collections folder, made before the clock
   starts, so every round starts from the same state. Checks come from the run's summary line
   ("recheck run N: checked X: ...") and are cross-checked with ``checks`` rows of that run;
   WARC bytes per check are the growth of HOME/collections/*/archive/*.warc.gz over the checks.
4. Prints a Markdown table (medians over rounds) and writes OUT/recheck.json after every run.
5. Profiles one conditional re-check with py-spy (``record --subprocesses --threads``) when
   py-spy is in the venv (asked for with ``--profile conditional``, a missing py-spy fails the
   run; by default it is only skipped, with the command that installs it): the
   Scrapy process's top functions by own samples, by cumulative samples, per thread and per
   package, start-up imports and waiting threads left out; the collapsed stacks stay in
   OUT/recheck/pyspy-<mode>.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import contenders
from bench.aiohttp_client import write_targets
from bench.measure import _children_map, measure
from bench.nginx import INSTALL_HINT, NGINX, Nginx, nginx_available
from bench.profile import _function, parse_collapsed
from bench.run import (
    DEFAULT_OUT,
    _site_port,
    machine_busy_s,
    machine_facts,
    round_order,
    wait_for_quiet,
)
from bench.site import SiteInfo, generate_site

NAMES = ("conditional", "full", "aiohttp")
LABELS = {"conditional": "memoryhole recheck, conditional (If-None-Match)",
          "full": "memoryhole recheck, full GETs (validators cleared)",
          "aiohttp": "bare aiohttp client, conditional GETs"}
SUMMARY_RE = re.compile(
    r"recheck run (\d+): checked (\d+): alive (\d+), changed (\d+), missing (\d+), "
    r"blocked (\d+), transient (\d+)")
TARGET_RATE = 1000.0          # re-checks/s (the issue's target)
TARGET_RATIO = 0.15           # of the aiohttp ceiling
TARGET_WARC_BYTES = 1024      # per 304 or unchanged re-check


@dataclass(frozen=True)
class Setup:
    site: SiteInfo
    out: Path                 # OUT/recheck
    base_home: Path           # crawled once; never re-checked itself
    targets: Path             # url, etag, last_modified of every URL, for the aiohttp client
    command: tuple[str, ...]  # how memoryhole is started (contenders.memoryhole_invocation)
    env: dict[str, str]
    server_pid: int | None    # nginx's master: its tree's CPU is reported on its own


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(root: int | None) -> float:
    """User + system CPU seconds of ``root`` and its live descendants (nginx and its workers)."""
    if root is None:
        return 0.0
    children = _children_map()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        total += int(fields[11]) + int(fields[12])      # utime, stime (fields 14 and 15)
        stack.extend(children.get(pid, ()))
    return total / CLOCK_TICKS


# --- homes -----------------------------------------------------------------------------------

def home_config(concurrency: int) -> str:
    return ("[crawl]\nallow_private_addresses = true\nobey_robots = false\n"
            f"concurrency = {concurrency}\nper_domain = {concurrency}\n"
            "[recheck]\ndomain_budget = 1000000\n")


def write_seeds(path: Path, urls: list[str]) -> None:
    path.write_text('[[source]]\nname = "bench"\nkind = "page"\n'
                    f"urls = {contenders._toml_list(urls)}\n", encoding="utf-8")


def copy_home(src: Path, dst: Path, concurrency: int, *, clear_validators: bool) -> None:
    """A fresh copy of ``src``: the catalogue by ``VACUUM INTO``, the collections folder, a
    config for ``concurrency``; with ``clear_validators`` no URL keeps its ETag/Last-Modified."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    with closing(sqlite3.connect(src / "memoryhole.db")) as db:
        db.execute("VACUUM INTO ?", (str(dst / "memoryhole.db"),))
    shutil.copytree(src / "collections", dst / "collections")
    (dst / "memoryhole.toml").write_text(home_config(concurrency), encoding="utf-8")
    if clear_validators:
        with closing(sqlite3.connect(dst / "memoryhole.db")) as db, db:
            db.execute("UPDATE urls SET etag = NULL, last_modified = NULL")


def warc_bytes(home: Path) -> int:
    """Bytes of the home's WARC files (closed ``.warc.gz`` and any left ``.open``)."""
    return sum(p.stat().st_size for p in (home / "collections").glob("*/archive/*.warc.gz*")
               if p.is_file())


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def index_bytes(home: Path) -> int:
    return sum(_size(p) for p in (home / "collections").glob("*/indexes/*.cdxj"))


def db_bytes(home: Path) -> int:
    return sum(_size(home / f"memoryhole.db{suffix}") for suffix in ("", "-wal"))


def recheck_argv(command: tuple[str, ...], home: Path) -> list[str]:
    return [*command, "--home", str(home), "recheck", "--all"]


def parse_summary(text: str) -> dict[str, int] | None:
    """The CLI's "recheck run N: checked X: alive A, changed C, ..." line."""
    found = SUMMARY_RE.findall(text)
    if not found:
        return None
    keys = ("run_id", "checked", "alive", "changed", "missing", "blocked", "transient")
    return dict(zip(keys, (int(v) for v in found[-1]), strict=True))


def catalogue_counts(home: Path, run_id: int) -> dict[str, Any]:
    """What the catalogue holds about one re-check run: checks by HTTP status, revisits, the
    Scrapy stats (elapsed seconds of the engine)."""
    with closing(sqlite3.connect(f"file:{home / 'memoryhole.db'}?mode=ro", uri=True)) as db:
        checks = db.execute("SELECT count(*) FROM checks WHERE run_id = ?", (run_id,)).fetchone()
        by_status = db.execute("SELECT coalesce(http_status, 0), count(*) FROM checks "
                               "WHERE run_id = ? GROUP BY 1 ORDER BY 1", (run_id,)).fetchall()
        revisits = db.execute("SELECT count(*) FROM captures WHERE run_id = ? AND is_revisit",
                              (run_id,)).fetchone()
        row = db.execute("SELECT stats FROM runs WHERE id = ?", (run_id,)).fetchone()
    stats = json.loads(row[0]) if row and row[0] else {}
    return {"db_checks": checks[0], "statuses": {str(s): n for s, n in by_status},
            "revisits": revisits[0], "loop_s": stats.get("elapsed_time_seconds"),
            "finish_reason": stats.get("finish_reason"),
            "probes": stats.get("memoryhole/probes", 0)}


def crawl_base(site: SiteInfo, out: Path, command: tuple[str, ...], env: dict[str, str],
               concurrency: int, timeout: float) -> tuple[Path, dict[str, Any]]:
    """Crawl every page once into OUT/base-home (reused while its site and URLs match)."""
    home = out / "base-home"
    stamp = home / "bench-crawl.json"
    if stamp.exists():
        done = json.loads(stamp.read_text(encoding="utf-8"))
        if done.get("site") == asdict(site):
            return home, done
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    (home / "memoryhole.toml").write_text(home_config(concurrency), encoding="utf-8")
    seeds = out / "seeds.toml"
    write_seeds(seeds, site.urls())
    taken = measure([*command, "--home", str(home), "crawl", "--seeds", str(seeds)],
                    log_path=out / "base-crawl.log", cwd=out, env=env,
                    timeout=timeout)
    with closing(sqlite3.connect(home / "memoryhole.db")) as db:
        pages, with_etag = db.execute(
            "SELECT count(*), count(etag) FROM urls WHERE url NOT LIKE '%/robots.txt'").fetchone()
    result = {"site": asdict(site), "returncode": taken.returncode, "wall_s": taken.wall_s,
              "cpu_s": taken.cpu_s, "tree_rss_mb": taken.tree_rss_mb, "urls": pages,
              "urls_with_etag": with_etag, "warc_bytes": warc_bytes(home)}
    if taken.returncode != 0 or pages != site.pages or with_etag != site.pages:
        raise RuntimeError(f"the base crawl stored {pages} URL(s), {with_etag} with an ETag, "
                           f"of {site.pages} (exit {taken.returncode}); see "
                           f"{out / 'base-crawl.log'}")
    stamp.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return home, result


def export_targets(home: Path, path: Path) -> int:
    """The URLs a ``recheck --all`` visits, with their validators, for the aiohttp client."""
    with closing(sqlite3.connect(f"file:{home / 'memoryhole.db'}?mode=ro", uri=True)) as db:
        rows = [{"url": u, "etag": e, "last_modified": m} for u, e, m in db.execute(
            "SELECT url, etag, last_modified FROM urls ORDER BY next_check_at, id")]
    write_targets(path, rows)
    return len(rows)


# --- contenders ------------------------------------------------------------------------------

def run_memoryhole(setup: Setup, mode: str, concurrency: int, workdir: Path,
                   timeout: float) -> dict[str, Any]:
    home = workdir / "home"
    copy_home(setup.base_home, home, concurrency, clear_validators=mode == "full")
    before = {"warc": warc_bytes(home), "index": index_bytes(home), "db": db_bytes(home)}
    log = workdir / "output.log"
    taken, others = _measure(recheck_argv(setup.command, home), log, workdir, timeout,
                             setup.server_pid, setup.env)
    summary = parse_summary(log.read_text(encoding="utf-8", errors="replace")) or {}
    row: dict[str, Any] = {**asdict(taken), "cpu_s": taken.cpu_s, **others,
                           "checks": summary.get("checked", 0), "summary": summary}
    if summary:
        row.update(catalogue_counts(home, summary["run_id"]))
    row["warc_bytes"] = warc_bytes(home) - before["warc"]
    row["index_bytes"] = index_bytes(home) - before["index"]
    row["db_bytes"] = db_bytes(home) - before["db"]
    return row


def run_aiohttp(setup: Setup, concurrency: int, workdir: Path, timeout: float) -> dict[str, Any]:
    stats_file = workdir / "stats.json"
    env = contenders.base_env()
    env["PYTHONPATH"] = str(contenders.ROOT)
    argv = [sys.executable, "-m", "bench.aiohttp_client", str(setup.targets),
            "--concurrency", str(concurrency), "--stats-file", str(stats_file)]
    taken, others = _measure(argv, workdir / "output.log", workdir, timeout, setup.server_pid,
                             env)
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    return {**asdict(taken), "cpu_s": taken.cpu_s, **others,
            "checks": stats.get("checks", 0), "db_checks": None,
            "statuses": stats.get("statuses", {}), "failures": stats.get("failures", {}),
            "loop_s": stats.get("loop_s"), "warc_bytes": None}


def steal_s() -> float:
    """CPU seconds the hypervisor has taken from this virtual machine since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return int(fields[7]) / CLOCK_TICKS if len(fields) > 7 else 0.0


def _measure(argv: list[str], log: Path, cwd: Path, timeout: float, server_pid: int | None,
             env: dict[str, str] | None = None) -> tuple[Any, dict[str, float]]:
    """bench.measure, plus the CPU nginx used meanwhile and the CPU everything else used
    (other processes and the hypervisor's steal, which is also given on its own)."""
    busy, served, stolen = machine_busy_s(), tree_cpu_s(server_pid), steal_s()
    taken = measure(argv, log_path=log, cwd=cwd, env=env or contenders.base_env(),
                    timeout=timeout)
    served = tree_cpu_s(server_pid) - served
    other = machine_busy_s() - busy - taken.cpu_s - served
    return taken, {"server_cpu_s": round(served, 2), "other_cpu_s": round(max(other, 0.0), 2),
                   "steal_s": round(steal_s() - stolen, 2)}


def run_contender(setup: Setup, name: str, concurrency: int, workdir: Path,
                  args: argparse.Namespace) -> dict[str, Any]:
    """One measured run on a quiet machine; again (``--retries``) when others took more than
    ``--interference`` of it meanwhile."""
    cores = os.cpu_count() or 1
    row: dict[str, Any] = {}
    for attempt in range(args.retries + 1):
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        load = wait_for_quiet(args.interference, args.quiet_wait)
        if name == "aiohttp":
            row = run_aiohttp(setup, concurrency, workdir, args.timeout)
        else:
            row = run_memoryhole(setup, name, concurrency, workdir, args.timeout)
        row.update(contender=name, concurrency=concurrency, load_before=round(load, 3),
                   attempt=attempt + 1, log=str(workdir / "output.log"))
        row["interfered"] = row["other_cpu_s"] > args.interference * row["wall_s"] * cores
        if not args.keep and (workdir / "home").exists():
            shutil.rmtree(workdir / "home")
        if not row["interfered"]:
            break
        print(f"  {name}: others used {row['other_cpu_s']:.1f} CPU s meanwhile"
              + ("; running it again" if attempt < args.retries else ""), flush=True)
    return row


def run_ok(row: dict[str, Any], pages: int) -> bool:
    if row["returncode"] != 0 or row["checks"] != pages:
        return False
    return row["db_checks"] in (None, pages)


# --- report ----------------------------------------------------------------------------------

def _median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (concurrency, contender): medians over rounds; ratios to aiohttp."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["concurrency"], run["contender"]), []).append(run)
    rows = []
    for (concurrency, name), group in sorted(groups.items(),
                                             key=lambda kv: (-kv[0][0], NAMES.index(kv[0][1]))):
        rates = [r["checks"] / r["wall_s"] for r in group if r["wall_s"] and r["checks"]]
        loops = [r["checks"] / r["loop_s"] for r in group if r.get("loop_s") and r["checks"]]
        statuses: Counter[str] = Counter()
        for r in group:
            statuses.update(r.get("statuses") or {})
        rows.append({
            "concurrency": concurrency, "contender": name, "rounds": len(group),
            "checks": _median([r["checks"] for r in group]),
            "checks_s": _median(rates), "checks_s_min": min(rates, default=None),
            "checks_s_max": max(rates, default=None), "loop_checks_s": _median(loops),
            "wall_s": _median([r["wall_s"] for r in group]),
            "cpu_s": _median([r["cpu_s"] for r in group]),
            "cpu_ms_check": _median([r["cpu_s"] * 1000 / r["checks"] for r in group
                                     if r["checks"]]),
            "rss_mb": _median([r["tree_rss_mb"] for r in group]),
            "warc_bytes_check": _median([r["warc_bytes"] / r["checks"] for r in group
                                         if r.get("warc_bytes") is not None and r["checks"]]),
            "index_bytes_check": _median([r["index_bytes"] / r["checks"] for r in group
                                          if r.get("index_bytes") is not None and r["checks"]]),
            "db_bytes_check": _median([r["db_bytes"] / r["checks"] for r in group
                                       if r.get("db_bytes") is not None and r["checks"]]),
            "share_304": statuses.get("304", 0) / max(sum(statuses.values()), 1),
            "server_cpu_s": _median([r.get("server_cpu_s") for r in group]),
            "other_cpu_s": _median([r["other_cpu_s"] for r in group]),
            "failed": sum(not r.get("ok", True) for r in group),
            "interfered": sum(bool(r.get("interfered")) for r in group),
        })
    for row in rows:
        base = next((b for b in rows if b["concurrency"] == row["concurrency"]
                     and b["contender"] == "aiohttp"), None)
        row["ratio"] = (row["checks_s"] / base["checks_s"]
                        if base and base["checks_s"] and row["checks_s"] else None)
        row["loop_ratio"] = (row["loop_checks_s"] / base["loop_checks_s"]
                             if base and base["loop_checks_s"] and row["loop_checks_s"]
                             else None)
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def summary_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| conc. | contender | checks | checks/s (min–max) | loop checks/s | 304 share | CPU s "
        "| CPU ms/check | peak RSS MB | WARC bytes/check | catalogue bytes/check "
        "| × aiohttp (loop) | nginx CPU s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        spread = (f"{_fmt(r['checks_s'], ',.0f')} ({_fmt(r['checks_s_min'], ',.0f')}–"
                  f"{_fmt(r['checks_s_max'], ',.0f')})")
        lines.append(
            f"| {r['concurrency']} | {LABELS[r['contender']]} | {_fmt(r['checks'], '.0f')} "
            f"| {spread} | {_fmt(r['loop_checks_s'], ',.0f')} | {100 * r['share_304']:.0f}% "
            f"| {_fmt(r['cpu_s'], '.1f')} | {_fmt(r['cpu_ms_check'], '.2f')} "
            f"| {_fmt(r['rss_mb'], '.0f')} | {_fmt(r['warc_bytes_check'], ',.0f')} "
            f"| {_fmt(r['db_bytes_check'], ',.0f')} "
            f"| {_fmt(r['ratio'], '.3f')}× ({_fmt(r['loop_ratio'], '.3f')}×) "
            f"| {_fmt(r['server_cpu_s'], '.1f')} |"
            + (f" ⚠ {r['failed']} failed run(s)" if r["failed"] else "")
            + (f" ⚠ {r['interfered']} run(s) shared the machine" if r["interfered"] else ""))
    return "\n".join(lines)


def target_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, met or not, for the conditional re-checks at each concurrency."""
    out = []
    for r in rows:
        if r["contender"] != "conditional" or r["checks_s"] is None:
            continue
        warc = r["warc_bytes_check"]
        ratio_ok = (r["ratio"] or 0) >= TARGET_RATIO
        out.append(
            f"c={r['concurrency']}: {r['checks_s']:,.0f} re-checks/s "
            f"({'meets' if r['checks_s'] >= TARGET_RATE else 'misses'} ≥ {TARGET_RATE:,.0f}); "
            f"{_fmt(r['ratio'], '.3f')}× aiohttp "
            f"({'meets' if ratio_ok else 'misses'} ≥ {TARGET_RATIO}×); "
            f"{_fmt(warc, ',.0f')} WARC bytes per 304 check "
            f"({'meets' if warc is not None and warc <= TARGET_WARC_BYTES else 'misses'} "
            f"≤ {TARGET_WARC_BYTES})")
    return out


# --- profile ---------------------------------------------------------------------------------

def _package(frame: str) -> str:
    """Where a frame's code lives: a site-packages package, a memoryhole folder, or stdlib."""
    _, _, where = frame.partition(" (")
    path = Path(where.rstrip(")").rsplit(":", 1)[0])
    parts = path.parts
    if "site-packages" in parts:
        index = parts.index("site-packages") + 1
        return parts[index] if index < len(parts) - 1 else parts[index].removesuffix(".py")
    root = contenders.ROOT.parts
    if parts[:len(root)] == root and len(parts) > len(root) + 1:
        return f"memoryhole {parts[len(root)]}/"
    return f"stdlib {path.stem}"


def _thread_label(thread: str) -> str:
    """``thread (123): memoryhole-writer`` -> ``memoryhole-writer``."""
    name = thread.partition("): ")[2].strip()
    return name or thread


IMPORT_FRAME = "_find_and_load (<frozen importlib._bootstrap>"
# frames under (nearly) every sample of their thread: left out of the cumulative ranking
WRAPPERS = frozenset({
    "_run_module_as_main", "_run_code", "<module>", "main", "CrawlerProcess.start",
    "AsyncioSelectorReactor.run", "AsyncioSelectorReactor.startRunning",
    "BaseEventLoop.run_forever", "BaseEventLoop._run_once", "Handle._run",
    "Thread._bootstrap", "Thread._bootstrap_inner", "Thread.run", "ArchiveWriter._run",
})


# py-spy's own idle detection reads the threads' OS state, which is "stopped" while it samples
# in its default (blocking) mode; a sample whose innermost Python frame waits is idle instead
IDLE_LEAVES = frozenset({
    "Condition.wait", "Event.wait", "Thread.join", "Thread._wait_for_tstate_lock",
    "EpollSelector.select", "PollSelector.select", "SelectSelector.select", "sleep",
})


def is_idle(code: list[str]) -> bool:
    return code[-1].partition(" (")[0] in IDLE_LEAVES


def is_startup(code: list[str]) -> bool:
    """A sample taken while importing (start-up, mostly; a lazy import during the run too)."""
    return any(frame.startswith(IMPORT_FRAME) for frame in code)


def profile_ranking(stacks: list[tuple[list[str], int]], top: int) -> dict[str, Any]:
    """Rankings of one process's samples, start-up (imports) and samples without a Python frame
    left out: own samples per function, cumulative samples per function (the wrappers, such as
    runpy, ``main`` or the event loop, left out), per package, per thread."""
    by_thread: dict[str, list[tuple[list[str], int]]] = {}
    startup = frameless = idle = total = 0
    for frames, count in stacks:
        thread = next((f for f in frames if f.startswith("thread ")), "thread ?")
        code = [f for f in frames if not f.startswith("thread ")]
        total += count
        if not code:
            frameless += count
            continue
        if is_idle(code):
            idle += count
            continue
        if is_startup(code):
            startup += count
            continue
        by_thread.setdefault(_thread_label(thread), []).append((code, count))
    steady = total - startup - frameless - idle or 1
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    threads = []
    for label, group in sorted(by_thread.items(), key=lambda kv: -sum(c for _, c in kv[1])):
        samples = sum(c for _, c in group)
        thread_own: Counter[str] = Counter()
        thread_cum: Counter[str] = Counter()
        for code, count in group:
            if code:
                thread_own[_function(code[-1])[0]] += count
                packages[_package(code[-1])] += count
            for name in {_function(f)[0] for f in code}:
                thread_cum[name] += count
        own.update(thread_own)
        cumulative.update({name: c for name, c in thread_cum.items()
                           if name.partition(" (")[0] not in WRAPPERS})
        threads.append({"thread": label, "share": round(100 * samples / steady, 1),
                        "own": _shares(thread_own, top, steady)})
    ours = Counter({name: c for name, c in cumulative.items()
                    if _is_memoryhole(name)})
    return {"samples": total, "startup_samples": startup, "frameless_samples": frameless,
            "idle_samples": idle, "steady_samples": total - startup - frameless - idle,
            "own": _shares(own, top, steady), "cumulative": _shares(cumulative, top, steady),
            "memoryhole_cumulative": _shares(ours, top, steady),
            "packages": _shares(packages, top, steady), "threads": threads}


def _shares(counter: Counter[str], top: int, total: int) -> list[tuple[str, float]]:
    return [(name, round(100 * c / total, 1)) for name, c in counter.most_common(top)]


def _is_memoryhole(name: str) -> bool:
    where = name.rpartition(" (")[2]
    return where.split("/", 1)[0] in ("archive", "crawlers", "pipelines", "cli", "cli.py",
                                       "scheduler.py")


def pyspy_path() -> Path:
    return Path(sys.executable).parent / "py-spy"


def profile_modes(asked: list[str] | None, pyspy_installed: bool) -> tuple[list[str], str]:
    """The modes to profile and a note: by default (``asked`` None) the conditional re-check
    if py-spy is installed, else none, with a note saying how to install it."""
    if asked is not None:
        return asked, ""
    if pyspy_installed:
        return ["conditional"], ""
    return [], (f"no profile: {pyspy_path()} not found; install it with: "
                f"{sys.executable} -m pip install py-spy")


def profile_recheck(setup: Setup, mode: str, concurrency: int, rate: int,
                    top: int) -> dict[str, Any]:
    """One re-check under ``py-spy record --subprocesses``: the crawl process's ranking."""
    pyspy = pyspy_path()
    if not pyspy.exists():
        return {"error": f"{pyspy} not found; install it with: "
                         f"{sys.executable} -m pip install py-spy"}
    workdir = setup.out / f"profile-{mode}"
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    home = workdir / "home"
    copy_home(setup.base_home, home, concurrency, clear_validators=mode == "full")
    raw = setup.out / f"pyspy-{mode}.txt"
    began = time.perf_counter()
    done = subprocess.run(
        [str(pyspy), "record", "--subprocesses", "--threads", "--full-filenames",
         "--format", "raw", "--rate", str(rate), "-o", str(raw), "--",
         *recheck_argv(setup.command, home)],
        env=setup.env, cwd=workdir, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - began
    summary = parse_summary(done.stdout) or {}
    shutil.rmtree(home)
    if done.returncode != 0 or not raw.exists():
        return {"error": f"py-spy failed ({done.returncode}): {done.stderr.strip()[-1500:]}"}
    processes = parse_collapsed(raw.read_text(encoding="utf-8"))

    def named(marker: str) -> str | None:
        found = [p for p in processes if marker in p]
        return max(found, key=lambda p: sum(c for _, c in processes[p])) if found else None

    # the Scrapy process, and the archive writer it starts (archive.writer.process)
    process = named("crawlers.runner") or max(
        processes, key=lambda p: sum(c for _, c in processes[p]))
    writer = named("archive.writer.process")
    result = {"mode": mode, "concurrency": concurrency, "rate": rate, "wall_s": wall,
              "checks": summary.get("checked"), "process": process[:160], "raw": str(raw),
              "other_processes": {p[:160]: sum(c for _, c in s) for p, s in processes.items()
                                  if p not in (process, writer)},
              **profile_ranking(processes[process], top)}
    if writer is not None:
        result["writer"] = profile_ranking(processes[writer], top)
    return result


def profile_text(prof: dict[str, Any]) -> str:
    if "error" in prof:
        return f"profile: {prof['error']}"
    rate = prof["rate"]
    threads = "; ".join(f"{t['thread']} {t['share']}%" for t in prof["threads"]
                        if t["share"] >= 1)
    lines = [
        f"### py-spy, {prof['mode']} re-check, c={prof['concurrency']}: {prof['checks']} checks "
        f"in {prof['wall_s']:.1f} s under the profiler",
        "",
        f"Scrapy process: {prof['samples']} samples over its threads at {rate} Hz: "
        f"{prof['idle_samples']} waiting (a lock, a condition, the selector), "
        f"{prof['startup_samples']} importing (start-up), {prof['frameless_samples']} without a "
        f"Python frame; the other {prof['steady_samples']} ({prof['steady_samples'] / rate:.1f} "
        f"thread-seconds running or waiting for the GIL) are ranked below (% of them): "
        f"{threads}.",
        "",
    ]

    def table(title: str, rows: list[tuple[str, float]]) -> None:
        lines.extend([f"| {title} % | function |", "|---:|---|"])
        lines.extend(f"| {p} | `{name}` |" for name, p in rows)
        lines.append("")

    table("own", prof["own"])
    table("cumulative", prof["cumulative"])
    table("memoryhole cumulative", prof["memoryhole_cumulative"])
    table("own, by package", prof["packages"])
    for thread in prof["threads"]:
        if thread["share"] >= 5:
            table(f"own in {thread['thread']}", thread["own"][:8])
    if "writer" in prof:
        writer = prof["writer"]
        lines.extend([f"Archive writer process: {writer['steady_samples']} samples "
                      f"({writer['steady_samples'] / rate:.1f} thread-seconds) ranked below, "
                      f"{writer['startup_samples']} importing.", ""])
        table("writer own", writer["own"])
        table("writer memoryhole cumulative", writer["memoryhole_cumulative"])
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------

def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.recheck_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64])
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--memoryhole", type=Path, default=contenders.default_memoryhole())
    parser.add_argument("--memoryhole-rev", metavar="REV",
                        help="benchmark memoryhole as committed at REV (exported to OUT/src), "
                             "not the working tree")
    parser.add_argument("--profile", nargs="*", choices=("conditional", "full"), default=None,
                        help="re-check modes to profile with py-spy (none: no profile; default: "
                             "conditional if py-spy is installed)")
    parser.add_argument("--profile-rate", type=int, default=100,
                        help="py-spy samples per second (it stops the process for each)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--keep", action="store_true", help="keep the homes of the runs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interference", type=float, default=0.1,
                        help="share of the machine others may use during a run before it is "
                             "run again (default 0.1)")
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--quiet-wait", type=float, default=120,
                        help="seconds to wait for a quiet machine before each run (0: don't)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not nginx_available():
        print(f"{NGINX} not found; install it with: {INSTALL_HINT}", file=sys.stderr)
        return 2
    if not args.memoryhole.exists():
        print(f"{args.memoryhole} not found; run `make venv` or pass --memoryhole",
              file=sys.stderr)
        return 2
    root: Path = args.out.resolve()
    revision, source = None, None
    if args.memoryhole_rev:
        revision, source = contenders.export_revision(args.memoryhole_rev, root / "src")
    elif args.memoryhole == contenders.default_memoryhole():
        contenders.byte_compile(contenders.ROOT)       # the tree the console script imports
    command, env = contenders.memoryhole_invocation(args.memoryhole, source)
    out = root / "recheck"
    out.mkdir(parents=True, exist_ok=True)
    port = _site_port(out / "site")
    site = generate_site(out / "site", args.pages, f"http://127.0.0.1:{port}", args.seed)
    results: dict[str, Any] = {
        "machine": machine_facts(args.memoryhole, revision),
        "params": {"pages": args.pages, "rounds": args.rounds, "concurrency": args.concurrency,
                   "contenders": args.only, "site": asdict(site)},
        "runs": [],
    }
    results_path = root / "recheck.json"
    failures = 0
    with Nginx(Path(site.folder), port=port) as server:
        print(f"site: {site.pages} pages, {site.total_bytes / site.pages / 1024:.1f} KB "
              f"average, served at {server.base_url}", flush=True)
        base_home, crawl = crawl_base(site, out, tuple(command), env, args.concurrency[0],
                                      args.timeout)
        results["base_crawl"] = crawl
        print(f"base crawl: {crawl['urls']} URLs with an ETag, {crawl['wall_s']:.1f} s",
              flush=True)
        targets = out / "targets.jsonl"
        export_targets(base_home, targets)
        setup = Setup(site=site, out=out, base_home=base_home, targets=targets,
                      command=tuple(command), env=env,
                      server_pid=server.process.pid if server.process else None)
        for concurrency in args.concurrency:
            for round_index in range(args.rounds):
                for position, name in enumerate(round_order(list(args.only), round_index)):
                    workdir = out / "runs" / f"c{concurrency}" / f"r{round_index + 1}-{name}"
                    row = run_contender(setup, name, concurrency, workdir, args)
                    row.update(round=round_index + 1, position=position + 1,
                               ok=run_ok(row, site.pages))
                    failures += not row["ok"]
                    results["runs"].append(row)
                    results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
                    print(f"c={concurrency} round {round_index + 1} {name:11s} "
                          f"{row['checks']:6d} checks {row['wall_s']:6.2f} s "
                          f"{row['checks'] / row['wall_s']:7.0f}/s cpu {row['cpu_s']:5.1f} s "
                          f"rss {row['tree_rss_mb']:4.0f} MB nginx {row['server_cpu_s']:4.1f} s "
                          f"others {row['other_cpu_s']:4.1f} s (steal {row['steal_s']:4.1f} s) "
                          f"statuses {row.get('statuses')}"
                          + ("" if row["ok"] else f"  <-- failed, see {row['log']}"),
                          flush=True)
        rows = summarise(results["runs"])
        results["summary"] = rows
        results["targets"] = target_lines(rows)
        print("\n" + summary_table(rows) + "\n\n" + "\n".join(results["targets"]), flush=True)
        results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
        results["profiles"] = []
        modes, note = profile_modes(args.profile, pyspy_path().exists())
        if note:
            print(f"\n{note}", flush=True)
        for mode in modes:
            print(f"\nprofiling a {mode} re-check with py-spy…", flush=True)
            prof = profile_recheck(setup, mode, args.concurrency[0], args.profile_rate,
                                   args.top)
            results["profiles"].append(prof)
            results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
            print(profile_text(prof), flush=True)
            failures += "error" in prof
        errors = [line for line in server.error_log().splitlines() if "[error]" in line]
    results["nginx_errors"] = errors[:20]
    results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"\nresults: {results_path}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
