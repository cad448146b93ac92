"""The owner's ingest rate: how many worker results (and pages) per second the owner alone stores
when the results are already waiting, for bench.cluster's crawl mode.

Two steps, each a process of its own (``python -m bench.cluster_ingest record|replay ...``):

1. ``record HOME SEEDS OUT``: a real cluster crawl (``memoryhole crawl``, the workers already
   running), in this process with two things added to archive.cluster.owner.Owner: when the run
   starts (its row is in the catalogue, nothing stored yet) the catalogue is copied to
   ``OUT/snapshot.db``; every result the owner reads is also written, as the bytes the worker
   sent, to ``OUT/results.jsonl``, with the time it was read (``OUT/arrivals.json``).
2. ``replay HOME OUT``: a copy of the crawled home with the snapshot as its catalogue (the
   workers' WARC files are there, the index is not), and every recorded result put on the queue
   of a new archive.cluster.ingest.Ingest before it starts, then a ``stop``: its ``run()`` stores
   them as the owner's ingest thread does (decoding included; Redis reads and acknowledgements
   not), then the records are added to the index as the owner does. Wall and CPU of that, and
   the captures stored (must equal the real run's), go to ``OUT/replay.json``.
"""

from __future__ import annotations

import json
import queue
import shutil
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any


def record(home: Path, seeds: Path, out: Path) -> int:
    from archive.cluster import owner as owner_module
    from cli import main as cli_main

    out.mkdir(parents=True, exist_ok=True)
    results = open(out / "results.jsonl", "wb")     # noqa: SIM115 - closed below
    arrivals: list[float] = []
    take, run = owner_module.Owner._take, owner_module.Owner.run

    def run_recorded(self: Any, jobs: list[dict[str, Any]]) -> dict[str, Any]:
        with closing(sqlite3.connect(self.home.db_path)) as src, \
                closing(sqlite3.connect(out / "snapshot.db")) as dst:
            src.backup(dst)
        arrivals.append(time.monotonic())
        return run(self, jobs)

    def take_recorded(self: Any, entry_id: Any, fields: dict[Any, Any]) -> None:
        results.write(fields.get(b"result", b"").replace(b"\n", b"") + b"\n")
        arrivals.append(time.monotonic())
        take(self, entry_id, fields)

    owner_module.Owner._take = take_recorded          # type: ignore[method-assign]
    owner_module.Owner.run = run_recorded             # type: ignore[method-assign]
    sys.argv = ["memoryhole", "--home", str(home), "crawl", "--seeds", str(seeds)]
    code = 0
    try:
        cli_main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        results.close()
        (out / "arrivals.json").write_text(json.dumps(arrivals), encoding="utf-8")
    return code


def replay(home: Path, out: Path) -> dict[str, Any]:
    from archive.cluster import codec
    from archive.cluster.ingest import Ingest
    from archive.cluster.owner import writer_settings
    from archive.config import load_config
    from archive.home import Home
    from archive.warc.cdxj import cdxj_lines
    from archive.warc.cdxj_tiers import add_to_index

    target = out / "replay-home"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(home, target, ignore=shutil.ignore_patterns("memoryhole.db*", "indexes"))
    shutil.copyfile(out / "snapshot.db", target / "memoryhole.db")
    replay_home = Home(target)
    config = load_config(replay_home.config_path)
    replay_home.ensure(config.collection)
    with closing(sqlite3.connect(target / "memoryhole.db")) as db:
        run_id = db.execute("SELECT max(id) FROM runs").fetchone()[0]
    raw = (out / "results.jsonl").read_bytes().splitlines()
    items: queue.Queue[Any] = queue.Queue()
    records: list[Any] = []
    ingest = Ingest(replay_home, writer_settings(config, None), run_id, items,
                    lambda _acks, added: records.extend(added))
    wall, cpu = time.perf_counter(), time.process_time()
    pages = 0
    for data in raw:
        message = codec.loads(data)
        pages += sum(1 for item in message.get("items", []) if item.get("t") == "page")
        items.put(("result", message, (None, [])))
    items.put(("stop",))
    stats = ingest.run()
    store_wall, store_cpu = time.perf_counter() - wall, time.process_time() - cpu
    add_to_index(replay_home.index_path(config.collection), cdxj_lines(records))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with closing(sqlite3.connect(target / "memoryhole.db")) as db:
        captures = db.execute("SELECT count(*) FROM captures WHERE run_id = ?",
                              (run_id,)).fetchone()[0]
    shutil.rmtree(target)
    return {"results": len(raw), "page_items": pages, "captures": captures,
            "jobs": stats.get("cluster/jobs", 0), "store_wall_s": round(store_wall, 3),
            "store_cpu_s": round(store_cpu, 3), "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "results_per_s": round(len(raw) / wall, 1),
            "captures_per_s": round(captures / wall, 1)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 4 and args[0] == "record":
        return record(Path(args[1]), Path(args[2]), Path(args[3]))
    if len(args) == 3 and args[0] == "replay":
        out = Path(args[2])
        result = replay(Path(args[1]), out)
        (out / "replay.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(json.dumps(result))
        return 0
    print("usage: python -m bench.cluster_ingest record HOME SEEDS OUT | replay HOME OUT",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
