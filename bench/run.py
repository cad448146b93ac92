"""Run the loopback crawl benchmark: plain Scrapy vs ``wget --warc-file`` vs memoryhole.

``python -m bench.run [--pages N] [--rounds R] [--concurrency C [C ...]] [--out bench/out]``

Generates the site once (bench.site, into OUT/site), serves it with nginx (bench.nginx) on a
free loopback port, then for every concurrency and round runs the contenders one after another,
each in its own subprocess measured by bench.measure, rotating their order every round so no
contender always goes first. Writes OUT/results.json after every run and prints the summary
table (bench.report). Run folders (WARCs, homes, logs) live in OUT/runs; WARCs and homes are
deleted after counting unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import contenders, report
from bench.measure import measure
from bench.nginx import INSTALL_HINT, NGINX, Nginx, free_port, nginx_available, port_is_free
from bench.site import generate_site

DEFAULT_OUT = Path(__file__).resolve().parent / "out"


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        return f"unavailable ({exc.strerror})"
    return ((done.stdout or done.stderr).strip().splitlines() or ["?"])[0]


def machine_facts(memoryhole: Path, revision: str | None) -> dict[str, Any]:
    """What the numbers were measured on and with."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    root = contenders.ROOT
    dirty = _first_line(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "scrapy": version("scrapy"),
        "wget": _first_line([contenders.WGET, "--version"]),
        "nginx": _first_line([NGINX, "-v"]),
        "memoryhole_commit": revision or (
            _first_line(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
            + (" + uncommitted changes" if dirty and dirty != "?" else "")),
        "memoryhole": f"git archive of {revision}" if revision else str(memoryhole),
    }


def round_order(names: list[str], round_index: int) -> list[str]:
    """Rotate the contenders by one place per round (every one goes first once in N rounds)."""
    shift = round_index % len(names)
    return names[shift:] + names[:shift]


def machine_busy_s() -> float:
    """CPU seconds every process on the machine has used since boot (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_one(name: str, job: contenders.Job, timeout: float) -> dict[str, Any]:
    if job.workdir.exists():
        shutil.rmtree(job.workdir)
    job.workdir.mkdir(parents=True)
    argv, env = contenders.COMMANDS[name](job)
    busy = machine_busy_s()
    taken = measure(argv, log_path=job.workdir / "output.log", cwd=job.workdir, env=env,
                    timeout=timeout)
    busy = machine_busy_s() - busy
    # everything else that ran meanwhile: nginx, this harness, and anyone else on the machine
    row: dict[str, Any] = {"contender": name, "concurrency": job.concurrency,
                           **asdict(taken), "cpu_s": taken.cpu_s,
                           "other_cpu_s": round(max(busy - taken.cpu_s, 0.0), 2)}
    row.update(contenders.COLLECTORS[name](job))
    row["log"] = str(job.workdir / "output.log")
    return row


def machine_load(seconds: float = 1.0) -> float:
    """Share of all cores busy over the next ``seconds``."""
    before = machine_busy_s()
    time.sleep(seconds)
    return (machine_busy_s() - before) / seconds / (os.cpu_count() or 1)


def wait_for_quiet(threshold: float, max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) until other work uses under ``threshold`` of the machine."""
    if max_wait <= 0:
        return -1.0                      # not checked
    deadline = time.monotonic() + max_wait
    load = machine_load()
    while load > threshold and time.monotonic() < deadline:
        print(f"  machine {100 * load:.0f}% busy with other work; waiting", flush=True)
        time.sleep(5)
        load = machine_load()
    return load


def _line(row: dict[str, Any]) -> str:
    return (f"{row['pages']:5d} pages {row['wall_s']:6.1f} s "
            f"{row['pages'] / row['wall_s']:6.1f} pages/s cpu {row['cpu_s']:6.1f} s "
            f"rss {row['tree_rss_mb']:6.0f} MB (others {row['other_cpu_s']:4.1f} s)")


def _attempts(name: str, job: contenders.Job, args: argparse.Namespace,
              results: dict[str, Any]) -> dict[str, Any]:
    """Run once on a quiet machine; run again (``--retries``) when other processes took more
    than ``--interference`` of the machine meanwhile. Discarded runs stay in results.json."""
    cores = os.cpu_count() or 1
    for attempt in range(args.retries + 1):
        load = wait_for_quiet(args.interference, args.quiet_wait)
        row = run_one(name, job, args.timeout)
        row["load_before"] = round(load, 3)
        if not args.keep:
            _discard_outputs(job.workdir)
        row["interfered"] = row["other_cpu_s"] > args.interference * row["wall_s"] * cores
        if not row["interfered"] or attempt == args.retries:
            return row
        kept = job.workdir.with_name(f"{job.workdir.name}-discarded{attempt + 1}")
        if kept.exists():
            shutil.rmtree(kept)
        job.workdir.rename(kept)          # its logs stay readable
        row["log"] = str(kept / "output.log")
        print(f"  {name}: discarded, others used {row['other_cpu_s']:.1f} CPU s: "
              + _line(row), flush=True)
        results.setdefault("discarded", []).append(row)
    raise AssertionError("unreachable")


def _discard_outputs(workdir: Path) -> None:
    for path in contenders.warc_files(workdir):
        path.unlink()
    home = workdir / "home"
    if home.exists():
        shutil.rmtree(home)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="+", choices=contenders.NAMES,
                        default=list(contenders.NAMES), help="contenders to run")
    parser.add_argument("--memoryhole", type=Path, default=contenders.default_memoryhole(),
                        help="the memoryhole command (default: next to this Python)")
    parser.add_argument("--memoryhole-rev", metavar="REV",
                        help="benchmark memoryhole as committed at REV (exported to "
                             "OUT/src), not the working tree")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--keep", action="store_true", help="keep WARCs and homes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interference", type=float, default=0.1,
                        help="share of the machine other processes may use during a run "
                             "before it is run again (default 0.1)")
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--quiet-wait", type=float, default=300,
                        help="seconds to wait for a quiet machine before each run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not nginx_available():
        print(f"{NGINX} not found; install it with: {INSTALL_HINT}", file=sys.stderr)
        return 2
    if "memoryhole" in args.only and not args.memoryhole.exists():
        print(f"{args.memoryhole} not found; run `make venv` or pass --memoryhole",
              file=sys.stderr)
        return 2
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    revision, source = (contenders.export_revision(args.memoryhole_rev, out / "src")
                        if args.memoryhole_rev else (None, None))
    port = _site_port(out / "site")
    site = generate_site(out / "site", args.pages, f"http://127.0.0.1:{port}", args.seed)
    results: dict[str, Any] = {
        "machine": machine_facts(args.memoryhole, revision),
        "params": {"pages": args.pages, "rounds": args.rounds,
                   "concurrency": args.concurrency, "contenders": args.only,
                   "site": {**asdict(site), "urls_file": str(site.urls_file)}},
        "runs": [],
    }
    results_path = out / "results.json"
    failures = 0
    with Nginx(Path(site.folder), port=port) as server:
        print(f"site: {site.pages} pages, {site.total_bytes / site.pages / 1024:.1f} KB "
              f"average, served at {server.base_url}", flush=True)
        for concurrency in args.concurrency:
            for round_index in range(args.rounds):
                for position, name in enumerate(round_order(list(args.only), round_index)):
                    job = contenders.Job(site=site, concurrency=concurrency,
                                         workdir=out / "runs" / f"c{concurrency}"
                                         / f"r{round_index + 1}-{name}",
                                         memoryhole=args.memoryhole,
                                         memoryhole_src=source)
                    row = _attempts(name, job, args, results)
                    row.update(round=round_index + 1, position=position + 1)
                    results["runs"].append(row)
                    results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
                    ok = row["returncode"] == 0 and row["pages"] == site.pages
                    failures += not ok
                    print(f"c={concurrency} round {round_index + 1} {name:10s} "
                          + _line(row)
                          + ("" if ok else f"  <-- exit {row['returncode']}, see {row['log']}"),
                          flush=True)
        errors = [line for line in server.error_log().splitlines() if "[error]" in line]
    results["nginx_errors"] = errors[:20]
    results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print()
    print(report.summary_table(results))
    print(f"\nresults: {results_path}")
    return 1 if failures else 0


def _site_port(folder: Path) -> int:
    """The port an earlier generated site links to, if still free (no regeneration), else any."""
    manifest = folder / "site.json"
    if manifest.exists():
        port = int(json.loads(manifest.read_text())["base_url"].rsplit(":", 1)[1])
        if port_is_free(port):
            return port
    return free_port()


if __name__ == "__main__":
    raise SystemExit(main())
