"""scheduler: jobs from the seeds, a compressed schedule run by a real daemon process with a
cheap injected launcher, clean SIGTERM, one scheduler per home, one catch-up after downtime,
the grace period, and the ``schedule`` command."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

import scheduler
from archive.home import Home
from archive.lock import run_lock, scheduler_lock
from archive.seeds import Source
from tests.support.helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent

DAEMON = """
import json, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from archive.seeds import Source
from archive.home import Home
from archive.lock import HomeBusy
import scheduler
import tests.test_scheduler as launchers
spec = json.loads(sys.argv[1])
sources = [Source(name=n, kind="page", urls=("https://example.org/" + n,), schedule=s)
           for n, s in spec["sources"]]
try:
    code = scheduler.run_daemon(
        Home(Path(spec["home"])), sources, recheck_every=spec.get("recheck_every", 3600),
        launcher=getattr(launchers, spec["launcher"]), grace=spec.get("grace", 45),
        kill_after=spec.get("kill_after", 30),
        **({{"clock_check_every": spec["clock_check_every"]}}
           if "clock_check_every" in spec else {{}}))
except HomeBusy as exc:
    print(exc, file=sys.stderr)
    code = 1
sys.exit(code)
"""


# -- launchers the daemon is given (module level: the job store keeps references to them) --

def _record(argv: Sequence[str]) -> None:
    home = Path(argv[list(argv).index("--home") + 1])
    line = {"t": time.time(), "pid": os.getpid(),
            "cmd": " ".join(argv[list(argv).index("--home") + 2:])}
    with open(home / "runs.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def record_launch(argv: Sequence[str], output: BinaryIO) -> subprocess.Popen[bytes]:
    """Record the run in HOME/runs.jsonl and run nothing of substance."""
    _record(argv)
    return subprocess.Popen(["true"], stdout=output, stderr=subprocess.STDOUT)


def slow_launch(argv: Sequence[str], output: BinaryIO) -> subprocess.Popen[bytes]:
    """A run that takes 2 s and succeeds."""
    _record(argv)
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"], stdout=output,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stuck_launch(argv: Sequence[str], output: BinaryIO) -> subprocess.Popen[bytes]:
    """Source "stuck" sleeps and obeys SIGTERM; any other ignores SIGTERM."""
    _record(argv)
    ignore = "" if "stuck" in argv else "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    code = f"import signal, time; {ignore}time.sleep(120)"
    return subprocess.Popen([sys.executable, "-c", code], stdout=output,
                            stderr=subprocess.STDOUT, start_new_session=True)


# -- helpers --

def _runs(home: Path) -> list[dict[str, Any]]:
    path = home / "runs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _log(home: Path) -> str:
    path = home / "logs" / "scheduler.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _wait_for(predicate: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.fixture
def daemon(tmp_home: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(sources: list[tuple[str, str]], launcher: str = "record_launch",
              env: dict[str, str] | None = None, **options: Any) -> subprocess.Popen[str]:
        spec = {"home": str(tmp_home), "sources": sources, "launcher": launcher, **options}
        proc = subprocess.Popen([sys.executable, "-c", DAEMON.format(root=str(ROOT)),
                                 json.dumps(spec)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **(env or {})})
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _stop(proc: subprocess.Popen[str], timeout: float = 15) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _stored_jobs(home: Path) -> dict[str, Any]:
    """The jobs as stored in HOME/scheduler.db, read without starting a scheduler."""
    store = SQLAlchemyJobStore(url=f"sqlite:///{home / 'scheduler.db'}")
    store.start(BlockingScheduler(timezone="UTC"), "default")
    try:
        return {job.id: job for job in store.get_all_jobs()}
    finally:
        store.shutdown()


def _sync(home: Home, specs: list[scheduler.JobSpec]) -> None:
    sched = scheduler.new_scheduler(BackgroundScheduler, home)
    sched.start(paused=True)
    try:
        scheduler.sync_jobs(sched, home, specs, record_launch)
    finally:
        sched.shutdown(wait=False)


def _source(name: str, schedule: str | None) -> Source:
    return Source(name=name, kind="page", urls=(f"https://example.org/{name}",),
                  schedule=schedule)


# -- tests --

def test_job_defaults_are_pinned():
    assert dict(scheduler.JOB_DEFAULTS) == {"coalesce": True, "max_instances": 1,
                                            "misfire_grace_time": None}


def test_triggers_from_schedules():
    every = scheduler.trigger_for("every 30m")
    assert isinstance(every, IntervalTrigger) and every.interval.total_seconds() == 1800
    cron = scheduler.trigger_for("*/15 * * * *")
    assert isinstance(cron, CronTrigger) and "minute='*/15'" in str(cron)


def test_job_specs_commands_and_unscheduled_sources(tmp_home, caplog):
    caplog.set_level(logging.INFO, logger="scheduler")
    config = tmp_home / "m.toml"
    specs = scheduler.job_specs(Home(tmp_home), [_source("a", "every 5m"), _source("b", None)],
                                config_path=config, recheck_every=90)
    base = [sys.executable, "-m", "cli", "--home", str(tmp_home), "--config", str(config)]
    assert [(s.id, list(s.argv)) for s in specs] == [
        ("recheck", [*base, "recheck", "--due"]),
        ("source:a", [*base, "crawl", "--source", "a"]),
    ]
    assert specs[0].trigger.interval.total_seconds() == 90
    assert "source b has no schedule: not scheduled" in caplog.text
    plain = scheduler.job_specs(Home(tmp_home), [])
    assert "--config" not in plain[0].argv


def test_sync_keeps_unchanged_schedules_and_drops_removed_sources(tmp_home):
    home = Home(tmp_home)
    tmp_home.mkdir()
    sources = [_source("a", "every 1h"), _source("b", "0 3 * * *"), _source("c", "every 2h")]
    _sync(home, scheduler.job_specs(home, sources))
    first = _stored_jobs(tmp_home)
    assert sorted(first) == ["recheck", "source:a", "source:b", "source:c"]
    for job in first.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)
        assert job.func is scheduler.run_job and job.args[3] is record_launch
    time.sleep(0.05)
    edited = [_source("a", "every 1h"), _source("b", "30 4 * * *")]
    _sync(home, scheduler.job_specs(home, edited, config_path=Path("/x.toml")))
    second = _stored_jobs(tmp_home)
    assert sorted(second) == ["recheck", "source:a", "source:b"]
    assert second["source:a"].next_run_time == first["source:a"].next_run_time
    assert second["source:b"].next_run_time.hour == 4
    assert "--config" in second["source:a"].args[2]


def test_daemon_runs_sources_and_recheck_then_stops_cleanly(tmp_home, daemon):
    proc = daemon([("a", "every 1s"), ("b", "every 1s")], recheck_every=1)
    _wait_for(lambda: {"crawl --source a", "crawl --source b", "recheck --due"}
              <= {r["cmd"] for r in _runs(tmp_home)})
    time.sleep(1.5)
    code, err = _stop(proc)
    assert code == 0, err
    runs = _runs(tmp_home)
    assert sum(r["cmd"] == "crawl --source a" for r in runs) >= 2
    assert {r["pid"] for r in runs} == {proc.pid}
    log = _log(tmp_home)
    assert "source:a: start: " in log and "source:b: end: exit code 0" in log
    assert "recheck: end: exit code 0" in log and log.rstrip().endswith("scheduler stopped")
    with scheduler_lock(Home(tmp_home)):  # released
        pass
    stored = _stored_jobs(tmp_home)
    assert sorted(stored) == ["recheck", "source:a", "source:b"]
    assert all((j.coalesce, j.max_instances, j.misfire_grace_time) == (True, 1, None)
               for j in stored.values())


def test_second_scheduler_exits_1_and_runs_nothing(tmp_home, daemon):
    first = daemon([("a", "every 1s"), ("b", "every 1s")])
    _wait_for(lambda: len(_runs(tmp_home)) >= 2)
    second = subprocess.run([sys.executable, "-m", "cli", "--home", str(tmp_home), "schedule"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: another scheduler is running for {tmp_home} (pid {first.pid}, since ")
    # the second one did not touch the job store: the first still runs a and b its own way
    count = len(_runs(tmp_home))
    _wait_for(lambda: {"crawl --source a", "crawl --source b"}
              <= {r["cmd"] for r in _runs(tmp_home)[count:]})
    assert {r["pid"] for r in _runs(tmp_home)} == {first.pid}
    assert _stop(first)[0] == 0


def test_restart_after_downtime_runs_a_missed_job_once(tmp_home, daemon):
    proc = daemon([("a", "every 1s")])
    _wait_for(lambda: len(_runs(tmp_home)) >= 1)
    assert _stop(proc)[0] == 0
    with sqlite3.connect(tmp_home / "scheduler.db") as conn:
        (due,) = conn.execute("SELECT next_run_time FROM apscheduler_jobs "
                              "WHERE id = 'source:a'").fetchone()
    time.sleep(3)  # due, due+1 and due+2 are missed while stopped
    assert time.time() > due + 2
    before_runs, before_log = len(_runs(tmp_home)), len(_log(tmp_home))
    restarted = time.time()
    proc = daemon([("a", "every 1s")])
    _wait_for(lambda: len(_runs(tmp_home)) > before_runs)
    time.sleep(0.8)
    assert _stop(proc)[0] == 0
    after = [r["t"] for r in _runs(tmp_home)[before_runs:]]
    assert after[0] - restarted < 5  # caught up at start, not an interval later
    # coalesced: never three runs in a burst (uncoalesced, the missed runs go back to back)
    assert all(after[i + 2] - after[i] > 0.5 for i in range(len(after) - 2)), after
    log = _log(tmp_home)[before_log:]
    assert log.count("source:a: catching up, once") == 1


def test_shutdown_lets_runs_finish_within_the_grace_period(tmp_home, daemon):
    proc = daemon([("a", "every 1s")], launcher="slow_launch", grace=20)
    _wait_for(lambda: "source:a: start" in _log(tmp_home))
    started = time.monotonic()
    code, err = _stop(proc)
    assert code == 0, err
    assert time.monotonic() - started < 20       # within the grace period, not after it
    log = _log(tmp_home)
    assert "source:a: end: exit code 0" in log and "SIGTERM" not in log.split("stopping")[1]
    assert len(_runs(tmp_home)) == 1  # nothing new started while stopping


def test_shutdown_terminates_then_kills_runs_after_the_grace_period(tmp_home, daemon):
    proc = daemon([("stuck", "every 1s"), ("stubborn", "every 1s")], launcher="stuck_launch",
                  grace=0.5, kill_after=1)
    _wait_for(lambda: len(_runs(tmp_home)) >= 2)
    time.sleep(0.5)  # let the stubborn one install its SIGTERM handler
    started = time.monotonic()
    code, err = _stop(proc)
    assert code == 0, err
    assert time.monotonic() - started < 30       # a deadline: the log below gives the order
    log = _log(tmp_home)
    assert "source:stuck: end: killed by SIGTERM" in log
    assert "source:stubborn: did not stop after SIGTERM; sending SIGKILL" in log
    assert "source:stubborn: end: killed by SIGKILL" in log


def test_recheck_is_skipped_while_a_run_is_in_progress(tmp_home, caplog):
    caplog.set_level(logging.INFO, logger="scheduler")
    argv = ["cmd", "--home", str(tmp_home), "recheck", "--due"]
    with run_lock(Home(tmp_home), "crawl", wait=0):
        assert scheduler.run_job(str(tmp_home), "recheck", argv, record_launch) is None
    assert "recheck: skipped, a run is in progress" in caplog.text and not _runs(tmp_home)
    assert scheduler.run_job(str(tmp_home), "recheck", argv, record_launch) == 0
    assert [r["cmd"] for r in _runs(tmp_home)] == ["recheck --due"]


def test_schedule_command_with_an_invalid_schedule_exits_2(tmp_home):
    tmp_home.mkdir()
    (tmp_home / "seeds.toml").write_text(
        '[[source]]\nname = "x"\nurl = "https://example.org/"\nschedule = "every blue moon"\n',
        encoding="utf-8")
    (tmp_home / "memoryhole.toml").write_text('seeds = ["seeds.toml"]\n', encoding="utf-8")
    result = run_cli(tmp_home, "schedule", expect=2)
    assert "seeds.toml: source[0] (x).schedule: 'every blue moon'" in result.output
    assert not (tmp_home / "scheduler.db").exists()


def test_the_real_schedule_command_crawls_rechecks_and_stops(tmp_home, fresh_mockserver):
    """`memoryhole schedule` as a user runs it, with its real launcher: each source's crawl is
    a real `memoryhole crawl` (captures reach the catalogue), due re-checks run, the run lock
    keeps them one at a time, and SIGTERM stops it with exit 0."""
    from tests.support.helpers import rows, write_config

    config = write_config(tmp_home, concurrency=2)
    config.write_text('seeds = ["seeds.toml"]\n' + config.read_text(encoding="utf-8")
                      + '[recheck]\noffsets = ["1s"]\n', encoding="utf-8")
    feed = fresh_mockserver.url("/articles-feed.xml?n=5")
    (tmp_home / "seeds.toml").write_text(
        f'[[source]]\nname = "news"\nkind = "feed"\nurl = "{feed}"\nschedule = "every 2s"\n',
        encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "--home", str(tmp_home), "schedule",
                             "--recheck-every", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        def done() -> bool:
            try:
                finished = rows(tmp_home, "SELECT kind FROM runs WHERE status != 'running'")
            except sqlite3.Error:            # no catalogue yet, or not migrated yet
                return False
            return {"crawl", "recheck"} <= {r["kind"] for r in finished} and bool(
                rows(tmp_home, "SELECT id FROM checks"))
        _wait_for(done, timeout=120)
        code, err = _stop(proc)
        assert code == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    captures = rows(tmp_home, "SELECT url FROM captures")
    assert len({c["url"] for c in captures}) >= 5
    checks = rows(tmp_home, "SELECT outcome FROM checks")
    assert checks and all(c["outcome"] == "alive" for c in checks)
    runs = rows(tmp_home, "SELECT kind, status FROM runs")
    assert {r["status"] for r in runs} <= {"finished", "running"}, runs
    log = _log(tmp_home)
    assert "source:news: end: exit code 0" in log and "recheck: end: exit code 0" in log


def test_a_scheduler_stopped_for_a_while_catches_up_once(tmp_home, daemon):
    """SIGSTOP (a suspended laptop, a stalled VM) past several due times: on SIGCONT the job
    runs once at once, coalesced, then on its schedule again."""
    proc = daemon([("a", "every 1s")])
    _wait_for(lambda: len(_runs(tmp_home)) >= 2)
    proc.send_signal(signal.SIGSTOP)
    stopped_at = time.time()
    time.sleep(3.5)                    # the time it is stopped: due, due+1, due+2 are missed
    count = len(_runs(tmp_home))
    proc.send_signal(signal.SIGCONT)
    _wait_for(lambda: len(_runs(tmp_home)) >= count + 3)
    assert _stop(proc)[0] == 0
    after = [r["t"] for r in _runs(tmp_home)[count:] if r["cmd"] == "crawl --source a"]
    assert after[0] - stopped_at < 3.5 + 5                      # caught up at once
    assert all(after[i + 2] - after[i] > 0.5 for i in range(len(after) - 2)), after


FAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))),
                Path("/usr/lib/faketime/libfaketime.so.1"))


@pytest.mark.parametrize("step", ["+1d", "-1d"])
def test_a_clock_step_neither_stalls_nor_bursts_the_schedule(tmp_home, daemon, step):
    """The wall clock steps a day forward or back under the running daemon (libfaketime, for
    its process only; its monotonic clock runs on): the job keeps running every second, once
    per due time, never a burst of the missed ones and never a day's stall."""
    assert FAKETIME.exists(), "libfaketime is needed: apt-get install faketime (.ci/run does)"
    tmp_home.mkdir(parents=True, exist_ok=True)
    clock = tmp_home / "faketime"
    clock.write_text("+0\n")
    env = {"LD_PRELOAD": str(FAKETIME), "FAKETIME_TIMESTAMP_FILE": str(clock),
           "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    proc = daemon([("a", "every 1s")], env=env, clock_check_every=0.5)
    _wait_for(lambda: len(_runs(tmp_home)) >= 2)
    count = len(_runs(tmp_home))
    clock.write_text(step + "\n")
    _wait_for(lambda: sum(r["cmd"] == "crawl --source a" for r in _runs(tmp_home)[count:])
              >= 4, timeout=20)
    assert _stop(proc)[0] == 0
    # the source's runs, on the faked wall clock (a day forward, the hourly re-check is due
    # too and runs once: it is not the source's burst)
    after = [r["t"] for r in _runs(tmp_home)[count:] if r["cmd"] == "crawl --source a"]
    assert len(after) >= 3, _runs(tmp_home)
    assert all(after[i + 2] - after[i] > 0.5 for i in range(len(after) - 2)), after
    assert "the clock stepped" in _log(tmp_home)


def test_a_run_still_going_when_its_job_falls_due_again_is_skipped_and_logged(tmp_home, daemon):
    """A source's run takes longer than its interval: never two runs of it at once, and the
    skipped due time is in the log (APScheduler's max-instances event)."""
    proc = daemon([("a", "every 1s")], launcher="slow_launch")
    _wait_for(lambda: "still running from its last start" in _log(tmp_home), timeout=30)
    assert _stop(proc)[0] == 0
    runs = [r["t"] for r in _runs(tmp_home)]
    assert all(runs[i + 1] - runs[i] >= 1.9 for i in range(len(runs) - 1)), runs


def test_a_catch_up_is_told_when_the_coalesced_runs_reach_past_the_start(caplog) -> None:
    """The run times a coalesced submission carries reach up to when it is made, which can be
    a moment after the scheduler started: runs due before the start still make it a catch-up
    (a loaded machine took longer than the 1 s interval to get there, and none was told)."""
    import logging
    from datetime import UTC, datetime, timedelta

    from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent

    import scheduler

    started = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
    times = [started - timedelta(seconds=2), started - timedelta(seconds=1),
             started + timedelta(milliseconds=300)]
    with caplog.at_level(logging.INFO, logger="scheduler"):
        scheduler._on_submitted(started, JobSubmissionEvent(EVENT_JOB_SUBMITTED, "source:a",
                                                            "default", times))
        scheduler._on_submitted(started, JobSubmissionEvent(EVENT_JOB_SUBMITTED, "source:b",
                                                            "default", times[-1:]))
    told = [r.getMessage() for r in caplog.records if "catching up" in r.getMessage()]
    assert told == ["source:a: catching up, once, on the runs missed while the scheduler was "
                    "stopped (last due 2026-12-03T11:59:59.000000Z)"]
