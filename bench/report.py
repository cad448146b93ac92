"""Turn bench/out/results.json into the Markdown section of BENCHMARKS.md.

``python -m bench.report [results.json] [--write BENCHMARKS.md]`` prints the section; with
``--write`` it replaces the text between ``<!-- bench:begin -->`` and ``<!-- bench:end -->``
in that file (or appends the block), so the hand-written reading around it stays.

Every figure is the median over rounds. pages/s is end to end (process start to exit, pages
with HTTP 200 divided by wall time); "crawl pages/s" uses Scrapy's own ``elapsed_time_seconds``
(engine start to close) and so leaves out interpreter start-up and, for memoryhole, the CLI.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
ORDER = ("scrapy", "wget", "memoryhole")
LABELS = {"scrapy": "plain Scrapy (defaults, no WARC)", "wget": "wget --warc-file",
          "memoryhole": "memoryhole crawl (WARC + catalogue)"}


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (concurrency, contender) with medians over rounds."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for run in results["runs"]:
        groups.setdefault((run["concurrency"], run["contender"]), []).append(run)
    rows = []
    for (concurrency, name), runs in sorted(
            groups.items(), key=lambda kv: (kv[0][0], ORDER.index(kv[0][1]))):
        rates = [r["pages"] / r["wall_s"] for r in runs if r["wall_s"]]
        crawl = [r["pages"] / r["crawl_s"] for r in runs if r.get("crawl_s")]
        per_page = [r["cpu_s"] * 1000 / r["pages"] for r in runs if r["pages"]]
        warc = [r["warc_bytes"] / r["pages"] for r in runs
                if r.get("warc_bytes") is not None and r["pages"]]
        rows.append({
            "concurrency": concurrency, "contender": name, "rounds": len(runs),
            "pages": _median([r["pages"] for r in runs]),
            "pages_s": _median(rates), "pages_s_min": min(rates, default=None),
            "pages_s_max": max(rates, default=None), "crawl_pages_s": _median(crawl),
            "wall_s": _median([r["wall_s"] for r in runs]),
            "cpu_s": _median([r["cpu_s"] for r in runs]), "cpu_ms_page": _median(per_page),
            "rss_mb": _median([r["tree_rss_mb"] for r in runs]),
            "warc_bytes_page": _median(warc),
            "other_cpu_s": _median([r.get("other_cpu_s") for r in runs]),
            "failed": sum(r["returncode"] != 0 for r in runs),
            "interfered": sum(bool(r.get("interfered")) for r in runs),
        })
    for row in rows:
        base = next((b for b in rows if b["concurrency"] == row["concurrency"]
                     and b["contender"] == "scrapy"), None)
        row["ratio"] = (row["pages_s"] / base["pages_s"]
                        if base and base["pages_s"] and row["pages_s"] else None)
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def summary_table(results: dict[str, Any]) -> str:
    """The Markdown table of medians."""
    lines = [
        "| conc. | contender | pages | pages/s (min–max) | crawl pages/s | CPU s | CPU ms/page "
        "| peak RSS MB | WARC bytes/page | × plain Scrapy | other CPU s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summarise(results):
        spread = f"{_fmt(row['pages_s'], '.0f')} ({_fmt(row['pages_s_min'], '.0f')}–" \
                 f"{_fmt(row['pages_s_max'], '.0f')})"
        conc = "1" if row["contender"] == "wget" else str(row["concurrency"])
        flags = (f" ⚠ {row['failed']} failed run(s)" if row["failed"] else "") + (
            f" ⚠ {row['interfered']} run(s) shared the machine" if row["interfered"] else "")
        lines.append(
            f"| {conc} | {LABELS[row['contender']]}{flags} | {_fmt(row['pages'], '.0f')} "
            f"| {spread} "
            f"| {_fmt(row['crawl_pages_s'], '.0f')} | {_fmt(row['cpu_s'], '.1f')} "
            f"| {_fmt(row['cpu_ms_page'], '.2f')} | {_fmt(row['rss_mb'], '.0f')} "
            f"| {_fmt(row['warc_bytes_page'], ',.0f')} | {_fmt(row['ratio'], '.2f')}× "
            f"| {_fmt(row['other_cpu_s'], '.1f')} |")
    return "\n".join(lines)


def section(results: dict[str, Any]) -> str:
    """The generated part of BENCHMARKS.md: parameters, machine, table."""
    m, p = results["machine"], results["params"]
    site = p["site"]
    return "\n".join([
        BEGIN,
        f"Measured {m['date']} on {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB, "
        f"Linux {m['kernel']}; Python {m['python']}, Scrapy {m['scrapy']}, "
        f"{m['wget'].split(' built on')[0]}, {m['nginx'].replace('nginx version: ', '')}; "
        f"memoryhole at {m['memoryhole_commit']}.",
        "",
        f"Site: {site['pages']} pages, {site['total_bytes'] / site['pages'] / 1024:.1f} KB "
        f"average, {site['gzipped_pages']} of them served gzip-compressed to clients that ask; "
        f"{p['rounds']} rounds, contenders rotated each round; medians over rounds. "
        "wget has no concurrency setting (one connection) and does not ask for gzip.",
        "",
        summary_table(results),
        "",
        "pages/s: HTTP 200 pages / wall time from process start to exit. crawl pages/s: the "
        "same over Scrapy's `elapsed_time_seconds`. CPU: user + system of the process tree "
        "(`os.wait4`). Peak RSS: largest sampled sum over the live process tree. Other CPU: "
        "CPU the rest of the machine used during the run (nginx, the harness, other users; "
        "from /proc/stat), a sign of interference.",
        END,
    ])


def write_section(target: Path, text: str) -> None:
    old = target.read_text(encoding="utf-8") if target.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text + rest.split(END, 1)[1]
    else:
        new = (old.rstrip() + "\n\n" if old else "") + text + "\n"
    target.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="?",
                        default=Path(__file__).resolve().parent / "out" / "results.json")
    parser.add_argument("--write", type=Path, help="update this Markdown file in place")
    args = parser.parse_args(argv)
    text = section(json.loads(args.results.read_text(encoding="utf-8")))
    if args.write:
        write_section(args.write, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
