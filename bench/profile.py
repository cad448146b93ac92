"""Profile one ``memoryhole crawl`` of the benchmark site with py-spy and rank the functions.

``python -m bench.profile [--pages N] [--concurrency C] [--out bench/out] [--top 10]``

Runs the memoryhole contender once under ``py-spy record --subprocesses --format raw`` (so the
Scrapy process the CLI starts is sampled too), keeps the collapsed stacks in
OUT/profile/pyspy.txt and prints, for the process with the most samples (the crawl process),
the functions with the most samples on top of the stack ("self") and anywhere in it ("total").
py-spy comes from ``pip install py-spy`` into the venv; sampling needs ptrace (root, or
``kernel.yama.ptrace_scope = 0``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import contenders
from bench.nginx import Nginx
from bench.run import DEFAULT_OUT, _site_port, wait_for_quiet
from bench.site import generate_site


def parse_collapsed(text: str) -> dict[str, list[tuple[list[str], int]]]:
    """py-spy raw output: stacks grouped by their innermost process frame, leaf last.

    With ``--subprocesses`` a child's stacks start with its parents' process frames; with
    ``--threads`` a ``thread (0x...)`` frame follows the process frame.
    """
    by_process: dict[str, list[tuple[list[str], int]]] = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        last = max(i for i, f in enumerate(frames) if f.startswith("process ")) \
            if frames[0].startswith("process ") else -1
        key = frames[last] if last >= 0 else "process ?"
        by_process.setdefault(key, []).append((frames[last + 1:], int(count)))
    return by_process


def _function(frame: str) -> tuple[str, bool]:
    """``name (/full/path/file.py:123)`` -> (``name (pkg/file.py)``, is it memoryhole's code)."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    if "site-packages" in parts:
        return f"{name} ({'/'.join(parts[parts.index('site-packages') + 1:])})", False
    if path.startswith(str(contenders.ROOT) + "/"):
        return f"{name} ({path[len(str(contenders.ROOT)) + 1:]})", True
    return f"{name} ({'/'.join(parts[-2:])})", False


@dataclass
class Ranking:
    samples: int = 0
    threads: Counter[str] = field(default_factory=Counter)   # samples per thread
    own: Counter[str] = field(default_factory=Counter)       # on top of the stack
    ours: Counter[str] = field(default_factory=Counter)      # anywhere, memoryhole code only


def rank(stacks: list[tuple[list[str], int]]) -> Ranking:
    """Count samples per thread, per leaf function, and per memoryhole function on the stack."""
    result = Ranking()
    for frames, count in stacks:
        result.samples += count
        result.threads[next((f for f in frames if f.startswith("thread ")), "thread ?")] += count
        names = [_function(f) for f in frames if not f.startswith("thread ")]
        if names:
            result.own[names[-1][0]] += count
        for name in {name for name, mine in names if mine}:
            result.ours[name] += count
    return result


def _print_table(title: str, rows: list[tuple[str, int]], samples: int) -> None:
    print(f"\n| {title} % | function |\n|---:|---|")
    for name, count in rows:
        print(f"| {100 * count / samples:.1f} | `{name}` |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memoryhole-rev", metavar="REV",
                        help="profile memoryhole as committed at REV, not the working tree")
    args = parser.parse_args(argv)
    pyspy = Path(sys.executable).parent / "py-spy"
    if not pyspy.exists():
        print(f"{pyspy} not found; install it with: {sys.executable} -m pip install py-spy",
              file=sys.stderr)
        return 2
    out: Path = args.out.resolve()
    port = _site_port(out / "site")
    site = generate_site(out / "site", args.pages, f"http://127.0.0.1:{port}", args.seed)
    workdir = out / "profile"
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    source = (contenders.export_revision(args.memoryhole_rev, out / "src")[1]
              if args.memoryhole_rev else None)
    job = contenders.Job(site=site, concurrency=args.concurrency, workdir=workdir,
                         memoryhole=contenders.default_memoryhole(), memoryhole_src=source)
    command, env = contenders.memoryhole_command(job)
    raw = workdir / "pyspy.txt"
    with Nginx(Path(site.folder), port=port):
        wait_for_quiet(0.1, 300)
        done = subprocess.run([str(pyspy), "record", "--subprocesses", "--threads",
                               "--full-filenames", "--nonblocking", "--format", "raw",
                               "--rate", str(args.rate), "-o", str(raw), "--", *command],
                              env=env, cwd=workdir, check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0 or not raw.exists():
        print(f"py-spy failed ({done.returncode}): {done.stderr.strip()[-2000:]}",
              file=sys.stderr)
        return 1
    print(json.dumps(contenders.memoryhole_collect(job)))
    processes = parse_collapsed(raw.read_text(encoding="utf-8"))
    for process, stacks in sorted(processes.items(), key=lambda kv: -sum(c for _, c in kv[1])):
        ranked = rank(stacks)
        samples = ranked.samples
        print(f"\n## {process[:120]}: {samples} samples ({samples / args.rate:.1f} s on CPU)")
        for thread, count in ranked.threads.most_common():
            print(f"- {thread}: {100 * count / samples:.1f}%")
        _print_table("self", ranked.own.most_common(args.top), samples)
        _print_table("total", ranked.ours.most_common(args.top), samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
