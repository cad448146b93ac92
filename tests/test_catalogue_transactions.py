"""Two processes writing one catalogue at once (RELIABILITY.md point 25).

Two processes (say the crawl's writer and the scheduler's bookkeeping) each run 1,000
read-then-write transactions on the real catalogue file, as memoryhole writes it
(archive.catalogue.db.immediate: ``BEGIN IMMEDIATE`` with the busy timeout): no "database is
locked" escapes and no update is lost. The negative control runs the same work in deferred
transactions (sqlite-utils' ``atomic()``): a read lock upgraded to a write lock while the other
process writes fails at once, whatever the busy timeout, which is why memoryhole never does that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from archive.catalogue.db import open_catalogue

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 1000

WORKER = """
import json, sqlite3, sys
from archive.catalogue.db import immediate, open_catalogue
path, who, rounds, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
db = open_catalogue(path)
print("ready", flush=True)
sys.stdin.readline()                       # both start together
done = errors = 0
for _ in range(rounds):
    try:
        with (immediate(db) if mode == "immediate" else db.atomic()):
            (n,) = db.execute("SELECT n FROM counter WHERE id = 1").fetchone()
            db.execute("UPDATE counter SET n = ? WHERE id = 1", [n + 1])
            db.execute("INSERT INTO counted (who, n) VALUES (?, ?)", [who, n + 1])
        done += 1
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        errors += 1
print(json.dumps({"done": done, "errors": errors}))
"""


def _race(path: Path, mode: str) -> list[dict[str, int]]:
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), who, str(ROUNDS), mode],
                                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for who in ("writer", "scheduler")]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _fresh(path: Path) -> None:
    db = open_catalogue(path)
    db.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    db.execute("CREATE TABLE counted (who TEXT NOT NULL, n INTEGER NOT NULL UNIQUE)")
    db.execute("INSERT INTO counter (id, n) VALUES (1, 0)")
    db.conn.close()


def test_two_processes_of_read_then_write_transactions_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "memoryhole.db"
    _fresh(path)
    results = _race(path, "immediate")
    assert results == [{"done": ROUNDS, "errors": 0}] * 2
    db = open_catalogue(path)
    assert db.execute("SELECT n FROM counter").fetchone() == (2 * ROUNDS,)
    assert db.execute("SELECT COUNT(*), MIN(n), MAX(n) FROM counted").fetchone() == (
        2 * ROUNDS, 1, 2 * ROUNDS)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_negative_control_deferred_transactions_fail(tmp_path: Path) -> None:
    path = tmp_path / "memoryhole.db"
    _fresh(path)
    results = _race(path, "deferred")
    assert sum(r["errors"] for r in results) > 0, results
    db = open_catalogue(path)
    (n,) = db.execute("SELECT n FROM counter").fetchone()
    assert n == sum(r["done"] for r in results) < 2 * ROUNDS
