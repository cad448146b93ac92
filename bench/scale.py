"""A run's cost against the archive's size: a 200-page crawl plus its re-check, in an empty home
and in homes of a million captures (issue 14, part 1).

    python -m bench.scale                                  # empty against 1M; 3 rounds
    python -m bench.scale --sizes 100000 300000 1000000    # more points, for the growth
    python -m bench.scale --small                          # smoke test: 5k, 40 pages, 1 round

1. The big homes are generated straight into the formats (bench.scale_home: N watched URLs,
   N captures with their text searchable, 10 N checks, N / 50 deletions, a CDXJ index of N
   lines as one base file) once per size, cached under ``--cache``.
2. The site (bench.site, ``--pages`` pages) is served by Debian's nginx on loopback.
3. Each round runs every home in an order rotated by one each round (empty first in one round,
   last in another). A run starts from a fresh copy of its home (the catalogue file, the
   collections folder, a config: robots off, private addresses allowed, three more pages of
   the site as ``[recheck] canaries``, re-checked once so that they are every run's control
   checks: a big home's generated URLs do not resolve here and would fail as controls), made
   before the clock starts, then measures, each in its own process tree (bench.measure), as a
   user runs them: ``memoryhole crawl --seeds SEEDS`` (one ``page`` source, ``bench``, of the
   pages) and ``memoryhole recheck --all --source bench`` (those pages, all unchanged: 304s,
   and the canaries).
   Then, off the clock, the web UI (archive.web.ui, in this process) serves its front page
   (the deletion log) and a search of it, each timed as the median of 5 after a warm-up.
4. Prints a Markdown table (medians over rounds; the ratio of each home's crawl + re-check
   time to the empty home's in the same round, median over rounds, in wall time and in CPU
   time of the process trees) and a straight-line extrapolation to 10M captures from the
   points; writes OUT/scale.json after every run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import time
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import contenders
from bench.measure import measure
from bench.nginx import INSTALL_HINT, NGINX, Nginx, nginx_available
from bench.recheck_bench import home_config, parse_summary, write_seeds
from bench.run import DEFAULT_OUT, _site_port, machine_facts, round_order
from bench.scale_home import cached_home
from bench.site import SiteInfo, generate_site

TARGET_RATIO = 1.15
DEFAULT_CACHE = Path("/tmp/memoryhole-scale-cache")
SEARCH_WORD = "government"          # in the site's pages and in the generated texts
WEB_REPEATS = 5
CANARIES = 3                        # site pages beside the crawled ones: the control checks


def copy_home(base: Path | None, home: Path, concurrency: int, canaries: list[str]) -> None:
    """A fresh home at ``home``: empty, or a copy of the generated ``base`` (its catalogue,
    checkpointed and closed, copied as a file; its collections folder); with ``canaries``."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    if base is not None:
        shutil.copyfile(base / "memoryhole.db", home / "memoryhole.db")
        shutil.copytree(base / "collections", home / "collections")
    (home / "memoryhole.toml").write_text(
        home_config(concurrency) + f"canaries = {json.dumps(canaries)}\n", encoding="utf-8")


def check_canaries(home: Path, command: list[str], env: dict[str, str], canaries: list[str],
                   workdir: Path) -> None:
    """Watch the canaries and re-check them once (off the clock), so that they are stable URLs
    and every re-check run takes them, and only them, as its control checks
    (archive.catalogue.due)."""
    added = measure([*command, "--home", str(home), "add", "--source", "canaries", *canaries],
                    log_path=workdir / "canaries-add.log", cwd=workdir, env=env)
    argv = [*command, "--home", str(home), "recheck", *(f"--url={u}" for u in canaries)]
    done = measure(argv, log_path=workdir / "canaries.log", cwd=workdir, env=env)
    if added.returncode != 0:
        done = added
    with closing(sqlite3.connect(f"file:{home / 'memoryhole.db'}?mode=ro", uri=True)) as db:
        stable = db.execute("SELECT count(*) FROM urls WHERE source = 'canaries' AND "
                            "check_count >= 1 AND last_payload_digest IS NOT NULL").fetchone()[0]
    if done.returncode != 0 or stable != len(canaries):
        raise RuntimeError(f"the canaries did not become stable URLs; see {workdir}")


def time_web(home: Path) -> dict[str, float]:
    """Milliseconds the web UI's handler takes for its front page (the deletion log) and for a
    search of it (medians; rendering included, the HTTP server and middleware left out)."""
    from starlette.requests import Request

    from archive.home import Home
    from archive.web.ui import WebUI

    ui = WebUI(Home(home), ui_origin="http://127.0.0.1:8765",
               replay_origin="http://127.0.0.1:8766")
    result = {}
    for name, query in (("front_ms", b""), ("search_ms", f"q={SEARCH_WORD}".encode())):
        def get(query: bytes = query) -> int:
            scope = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/",
                     "query_string": query, "headers": [(b"host", b"127.0.0.1:8765")]}
            return ui.deletion_log(Request(scope)).status_code

        if get() != 200:                                # warm-up (and indexing)
            raise RuntimeError(f"the web UI's front page answered an error in {home}")
        samples = []
        for _ in range(WEB_REPEATS):
            began = time.perf_counter()
            get()
            samples.append((time.perf_counter() - began) * 1000)
        result[name] = round(statistics.median(samples), 1)
    return result


def pages_of_last_crawl(home: Path) -> int:
    with closing(sqlite3.connect(f"file:{home / 'memoryhole.db'}?mode=ro", uri=True)) as db:
        return db.execute("SELECT count(*) FROM captures WHERE run_id = (SELECT max(id) FROM "
                          "runs WHERE kind = 'crawl') AND status = 200 AND url LIKE "
                          "'http://127.0.0.1:%'").fetchone()[0]


def run_home(label: str, base: Path | None, workdir: Path, seeds: Path, canaries: list[str],
             command: list[str], env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    home = workdir / "home"
    copy_home(base, home, args.concurrency, canaries)
    check_canaries(home, command, env, canaries, workdir)
    row: dict[str, Any] = {"home": label}
    crawl = measure([*command, "--home", str(home), "crawl", "--seeds", str(seeds)],
                    log_path=workdir / "crawl.log", cwd=workdir, env=env, timeout=args.timeout)
    row.update(crawl_s=round(crawl.wall_s, 2), crawl_cpu_s=round(crawl.cpu_s, 2),
               crawl_rc=crawl.returncode, pages=pages_of_last_crawl(home))
    recheck = measure([*command, "--home", str(home), "recheck", "--all", "--source", "bench"],
                      log_path=workdir / "recheck.log", cwd=workdir, env=env,
                      timeout=args.timeout)
    summary = parse_summary((workdir / "recheck.log").read_text(encoding="utf-8",
                                                                errors="replace")) or {}
    row.update(recheck_s=round(recheck.wall_s, 2), recheck_cpu_s=round(recheck.cpu_s, 2),
               recheck_rc=recheck.returncode, checks=summary.get("checked", 0),
               alive=summary.get("alive", 0))
    row["total_s"] = round(crawl.wall_s + recheck.wall_s, 2)
    row["total_cpu_s"] = round(crawl.cpu_s + recheck.cpu_s, 2)
    if not args.no_web:
        row.update(time_web(home))
    if not args.keep:
        shutil.rmtree(home)
    return row


def summarise(runs: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    """Medians per home over the rounds, and each home's ratio to the empty home (the median
    of the per-round ratios: the homes of one round ran minutes apart)."""
    rows = []
    for label in labels:
        mine = [r for r in runs if r["home"] == label]
        row: dict[str, Any] = {"home": label, "rounds": len(mine)}
        for key in ("crawl_s", "recheck_s", "total_s", "crawl_cpu_s", "recheck_cpu_s",
                    "total_cpu_s",
                    "front_ms", "search_ms", "pages", "checks"):
            values = [r[key] for r in mine if r.get(key) is not None]
            row[key] = statistics.median(values) if values else None
        ratios, cpu_ratios = [], []
        for r in mine:
            empty = next((e for e in runs if e["home"] == "empty" and e["round"] == r["round"]),
                         None)
            if empty:
                ratios.append(r["total_s"] / empty["total_s"])
                cpu_ratios.append(r["total_cpu_s"] / empty["total_cpu_s"])
        row["ratio"] = statistics.median(ratios) if ratios else None
        row["ratio_min"], row["ratio_max"] = min(ratios, default=None), max(ratios, default=None)
        row["cpu_ratio"] = statistics.median(cpu_ratios) if cpu_ratios else None
        rows.append(row)
    return rows


def extrapolate(rows: list[dict[str, Any]], sizes: dict[str, int], key: str = "total_s",
                to: int = 10_000_000) -> dict[str, float] | None:
    """A least-squares line of ``key`` (a median over rounds) against the captures; its value
    at ``to`` and the ratio of that to the empty home's."""
    points = [(sizes[r["home"]], r[key]) for r in rows if r.get(key) is not None]
    if len(points) < 3:             # the empty home and two sizes at least
        return None
    mx = statistics.mean(x for x, _ in points)
    my = statistics.mean(y for _, y in points)
    slope = (sum((x - mx) * (y - my) for x, y in points)
             / max(sum((x - mx) ** 2 for x, _ in points), 1))
    empty = next(r[key] for r in rows if r["home"] == "empty")
    at = my + slope * (to - mx)
    return {"s_per_million": round(slope * 1e6, 3), "at_10m": round(at, 2), "at": to,
            "ratio_at": round(at / empty, 3)}


def table(rows: list[dict[str, Any]]) -> str:
    def f(value: Any, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    lines = ["| home | crawl s | re-check s | total s | × empty (min–max) | crawl CPU s "
             "| re-check CPU s | CPU × empty | front page ms | search ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['home']} | {f(r['crawl_s'], '.2f')} | {f(r['recheck_s'], '.2f')} "
                     f"| {f(r['total_s'], '.2f')} | {f(r['ratio'], '.3f')}× "
                     f"({f(r['ratio_min'], '.2f')}–{f(r['ratio_max'], '.2f')}) "
                     f"| {f(r['crawl_cpu_s'], '.2f')} | {f(r['recheck_cpu_s'], '.2f')} "
                     f"| {f(r['cpu_ratio'], '.3f')}× "
                     f"| {f(r['front_ms'], '.1f')} | {f(r['search_ms'], '.1f')} |")
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000],
                        help="captures (= watched URLs; 10 checks each) of the big homes")
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--small", action="store_true",
                        help="a smoke test: one home of 5,000, 40 pages, one round")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="where generated homes are kept, one per size")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--memoryhole", type=Path, default=contenders.default_memoryhole())
    parser.add_argument("--memoryhole-rev", metavar="REV",
                        help="benchmark memoryhole as committed at REV, not the working tree")
    parser.add_argument("--no-web", action="store_true", help="do not time the web UI")
    parser.add_argument("--keep", action="store_true", help="keep the homes of the runs")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per command")
    args = parser.parse_args(argv)
    if args.small:
        args.sizes, args.pages, args.rounds = [5_000], 40, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not nginx_available():
        print(f"{NGINX} not found; install it with: {INSTALL_HINT}", file=sys.stderr)
        return 2
    root: Path = args.out.resolve()
    revision, source = (contenders.export_revision(args.memoryhole_rev, root / "src")
                        if args.memoryhole_rev else (None, None))
    command, env = contenders.memoryhole_invocation(args.memoryhole, source)
    out = root / "scale"
    out.mkdir(parents=True, exist_ok=True)
    bases: dict[str, Path | None] = {"empty": None}
    sizes = {"empty": 0}
    generated = {}
    for size in sorted(set(args.sizes)):
        label = f"{size:,} captures"
        bases[label], generated[label] = cached_home(args.cache, urls=size)
        sizes[label] = size
    port = _site_port(out / "site")
    site: SiteInfo = generate_site(out / "site", args.pages + CANARIES,
                                   f"http://127.0.0.1:{port}")
    seeds = out / "seeds.toml"
    urls = site.urls()
    write_seeds(seeds, urls[:args.pages])
    canaries = urls[args.pages:]
    results: dict[str, Any] = {"machine": machine_facts(args.memoryhole, revision),
                               "params": {**vars(args), "out": str(args.out),
                                          "cache": str(args.cache),
                                          "memoryhole": str(args.memoryhole),
                                          "site": asdict(site)},
                               "generated": generated, "runs": []}
    results_path = out / "scale.json"
    failures = 0
    labels = list(bases)
    with Nginx(Path(site.folder), port=port):
        for round_index in range(args.rounds):
            for label in round_order(labels, round_index):
                workdir = out / "runs" / f"r{round_index + 1}-{sizes[label]}"
                row = run_home(label, bases[label], workdir, seeds, canaries, command, env, args)
                row["round"] = round_index + 1
                ok = (row["crawl_rc"] == row["recheck_rc"] == 0 and row["pages"] == args.pages
                      and row["alive"] == row["checks"] == args.pages + CANARIES)
                failures += not ok
                results["runs"].append(row)
                results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
                print(f"round {row['round']} {label:>20}: crawl {row['crawl_s']:.2f} s, "
                      f"re-check {row['recheck_s']:.2f} s ({row['checks']} checks), web "
                      f"{row.get('front_ms', '–')} / {row.get('search_ms', '–')} ms"
                      + ("" if ok else f"  <-- failed, see {workdir}"), flush=True)
    rows = summarise(results["runs"], labels)
    results["summary"] = rows
    results["extrapolation"] = {key: extrapolate(rows, sizes, key)
                                for key in ("total_s", "total_cpu_s")}
    results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print()
    print(table(rows))
    for key, e in results["extrapolation"].items():
        if e:
            print(f"{key}, straight line: {e['s_per_million']:+} s per million captures; at "
                  f"{e['at']:,}: {e['at_10m']} s, {e['ratio_at']}× empty "
                  f"(target {TARGET_RATIO}×)")
    print(f"\nresults: {results_path}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
