"""The scheduler daemon (``memoryhole schedule``): seed crawls on their schedules, due re-checks.

One APScheduler 3 ``BlockingScheduler`` per home, in UTC, with its jobs in ``HOME/scheduler.db``
(a SQLAlchemy job store, apart from the catalogue). It holds ``HOME/scheduler.lock`` for its
whole life: two schedulers on one job store run every job twice (NOTES.md), so a second one is
refused at once. The jobs:

- ``source:<name>``: ``memoryhole --home HOME [--config FILE] crawl --source NAME`` on the
  source's ``schedule`` ("every 30m" or a crontab line); a source without one is not scheduled.
- ``recheck``: ``memoryhole --home HOME [--config FILE] recheck --due`` every ``recheck_every``
  seconds; skipped while another run holds ``HOME/run.lock`` (it would only queue behind it).

Each run is a process of its own (Scrapy's reactor cannot restart); the job's thread waits for
it, and the run takes ``HOME/run.lock`` itself. Its output, and a line when each job starts and
ends, go to ``HOME/logs/scheduler.log``.

Job defaults are ``coalesce=True, max_instances=1, misfire_grace_time=None`` (APScheduler's
own defaults drop a run whose time passed while the process was down): after downtime each
missed job runs once. On start the stored jobs are brought in line with the seeds: a job whose
schedule is unchanged keeps its next run time (so the catch-up happens), an edited schedule
starts over, and jobs of sources no longer in the seeds are removed.

Stopping (SIGTERM or Ctrl-C): no new runs start; running ones get ``grace`` seconds (45) to
finish, then SIGTERM to their whole process group (Scrapy's own process too, which then stops
gracefully), then SIGKILL ``kill_after`` seconds (30) later; 45 + 30 stays under systemd's
default 90 s stop timeout. A second Ctrl-C skips the grace. Runs start in a session of their
own, so a Ctrl-C in the terminal reaches only the daemon, which decides. Exit code 0.

Clock steps (archive.timeutil.watch_clock) are logged; set back, each job's next run is computed
again from now (no stall). A job still running when due again is skipped, and that is logged.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import Any, BinaryIO

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_STARTED,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from archive.home import Home
from archive.lock import run_in_progress, scheduler_lock
from archive.seeds import Source
from archive.timeutil import iso, parse_age, utcnow, watch_clock

JOB_DEFAULTS = MappingProxyType({"coalesce": True, "max_instances": 1,
                                 "misfire_grace_time": None})
GRACE_SECONDS = 45.0
KILL_AFTER_SECONDS = 30.0
CLOCK_CHECK_SECONDS = 10.0       # how often the wall clock is held against the monotonic one
RECHECK_JOB = "recheck"
DB_NAME = "scheduler.db"
LOG_NAME = "scheduler.log"
_POLL = 0.2

Launcher = Callable[[Sequence[str], BinaryIO], "subprocess.Popen[bytes]"]

logger = logging.getLogger(__name__)


class _Stop:
    """Shutdown state, set by the signal handler in the main thread, read by the job threads.
    Plain attribute writes only: a handler must never wait for a lock its own thread holds."""

    def __init__(self, grace: float, kill_after: float) -> None:
        self.grace = grace
        self.kill_after = kill_after
        self.requested = False
        self.deadline: float | None = None
        self.failure: str | None = None

    def request(self) -> bool:
        """Ask to stop; True the first time. Asking again ends the grace period now."""
        first = not self.requested
        self.deadline = time.monotonic() + (self.grace if first else 0.0)
        self.requested = True
        return first


# Jobs are loaded back from the job store by reference, with plain arguments only, so the
# daemon's live shutdown state reaches their threads through this variable, which each worker
# thread of the daemon's pool sets once when it starts. Outside the daemon it is None.
_STOP: ContextVar[_Stop | None] = ContextVar("memoryhole_scheduler_stop", default=None)


@dataclass(frozen=True)
class JobSpec:
    id: str
    name: str
    trigger: BaseTrigger
    argv: tuple[str, ...]


def launch(argv: Sequence[str], output: BinaryIO) -> subprocess.Popen[bytes]:
    """Start one run in a session of its own, its output going to ``output``."""
    return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=output,
                            stderr=subprocess.STDOUT, start_new_session=True)


def trigger_for(schedule: str) -> BaseTrigger:
    """``every 30m`` → an interval; anything else is a crontab line (validated by the config)."""
    text = schedule.strip()
    if text.lower().startswith("every "):
        return IntervalTrigger(seconds=parse_age(text[6:]).total_seconds(), timezone=UTC)
    return CronTrigger.from_crontab(text, timezone=UTC)


def job_specs(home: Home, sources: Sequence[Source], *, config_path: Path | None = None,
              recheck_every: float = 60) -> list[JobSpec]:
    """The jobs the daemon should have: the re-check, and one per source with a schedule."""
    base = [sys.executable, "-m", "cli", "--home", str(home.root)]
    if config_path is not None:
        base += ["--config", str(config_path)]
    specs = [JobSpec(RECHECK_JOB, "recheck --due",
                     IntervalTrigger(seconds=recheck_every, timezone=UTC),
                     (*base, "recheck", "--due"))]
    for source in sources:
        if not source.schedule:
            logger.info("source %s has no schedule: not scheduled (run `memoryhole crawl "
                        "--source %s` for it, or give it schedule = \"every 1h\")",
                        source.name, source.name)
            continue
        specs.append(JobSpec(f"source:{source.name}", f"crawl {source.name}",
                             trigger_for(source.schedule),
                             (*base, "crawl", "--source", source.name)))
    return specs


def sync_jobs(scheduler: BaseScheduler, home: Home, specs: Sequence[JobSpec],
              launcher: Launcher = launch) -> None:
    """Make the jobs of a started (paused) scheduler exactly ``specs``; a job whose schedule is
    unchanged keeps its next run time."""
    wanted = {spec.id for spec in specs}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            logger.info("%s: removed (no longer in the seeds, or without a schedule)", job.id)
            scheduler.remove_job(job.id)
    for spec in specs:
        old = scheduler.get_job(spec.id)
        keep: dict[str, Any] = {}
        if old is not None and old.next_run_time and str(old.trigger) == str(spec.trigger):
            keep["next_run_time"] = old.next_run_time
        scheduler.add_job(run_job, spec.trigger, id=spec.id, name=spec.name,
                          args=(str(home.root), spec.id, list(spec.argv), launcher),
                          replace_existing=True, **keep)


def run_job(home: str, job_id: str, argv: list[str], launcher: Launcher = launch) -> int | None:
    """One scheduled run: start ``argv`` through ``launcher``, wait, log start and end.

    Module-level with plain arguments: the job store keeps a reference to it. Returns the exit
    code, or None when the run was not started.
    """
    stop = _STOP.get()
    if job_id == RECHECK_JOB and (holder := run_in_progress(Home(Path(home)))) is not None:
        logger.info("%s: skipped, a run is in progress (%s)", job_id, holder.describe())
        return None
    log_path = Path(home) / "logs" / LOG_NAME
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logger.info("%s: start: %s", job_id, shlex.join(argv))
    started = time.monotonic()
    with open(log_path, "ab") as output:
        try:
            process = launcher(argv, output)
        except OSError as exc:
            logger.error("%s: could not start: %s", job_id, exc)
            return None
    code = _wait(process, stop, job_id)
    took = time.monotonic() - started
    if code == 0:
        logger.info("%s: end: exit code 0 after %.1f s", job_id, took)
    elif code < 0:
        logger.warning("%s: end: killed by %s after %.1f s", job_id,
                       signal.Signals(-code).name, took)
    else:
        logger.warning("%s: end: exit code %d after %.1f s (its output is in %s)", job_id,
                       code, took, log_path)
    return code


def run_daemon(home: Home, sources: Sequence[Source], *, config_path: Path | None = None,
               recheck_every: float = 60, launcher: Launcher = launch,
               grace: float = GRACE_SECONDS, kill_after: float = KILL_AFTER_SECONDS,
               clock_check_every: float = CLOCK_CHECK_SECONDS) -> int:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C; return the exit code (0).
    Raises :class:`archive.lock.HomeBusy` at once if another scheduler runs for ``home``."""
    with scheduler_lock(home), _daemon_log(home) as log_path:
        specs = job_specs(home, sources, config_path=config_path, recheck_every=recheck_every)
        stop = _Stop(grace, kill_after)
        executor = ThreadPoolExecutor(max_workers=len(specs) + 1,
                                      pool_kwargs={"initializer": _STOP.set,
                                                   "initargs": (stop,)})
        scheduler = new_scheduler(_DaemonScheduler, home, executor)
        scheduler.add_listener(functools.partial(_on_submitted, utcnow()), EVENT_JOB_SUBMITTED)
        scheduler.add_listener(_on_overlap, EVENT_JOB_MAX_INSTANCES)
        scheduler.add_listener(
            functools.partial(_on_started, scheduler, stop, home, specs, launcher, log_path),
            EVENT_SCHEDULER_STARTED)
        watching = threading.Event()
        watch_clock(watching, functools.partial(_on_clock_step, scheduler),
                    every=clock_check_every)
        with _restored_signals():
            try:
                scheduler.start(paused=True)  # _on_started syncs the jobs, then resumes
            finally:
                watching.set()
            executor.shutdown(wait=True)  # the running jobs, within grace + kill_after
        logger.info("scheduler stopped")
    return 1 if stop.failure else 0


def new_scheduler(kind: type[BaseScheduler], home: Home,
                  executor: ThreadPoolExecutor | None = None) -> Any:
    """A scheduler of ``kind`` on the home's job store, in UTC, with :data:`JOB_DEFAULTS`."""
    store = SQLAlchemyJobStore(url=f"sqlite:///{home.root / DB_NAME}")
    executors = {"default": executor} if executor is not None else {}
    return kind(jobstores={"default": store}, executors=executors,
                job_defaults=dict(JOB_DEFAULTS), timezone="UTC")


class _DaemonScheduler(BlockingScheduler):
    """APScheduler 3's loop looks for due jobs once more after ``shutdown()``: that pass would
    hand them to the closed pool (an error logged, and the run counted as done, so not caught
    up on the next start). Skip it; the job store keeps them due."""

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


def _on_started(scheduler: BlockingScheduler, stop: _Stop, home: Home, specs: list[JobSpec],
                launcher: Launcher, log_path: Path, _event: object) -> None:
    try:
        sync_jobs(scheduler, home, specs, launcher)
    except Exception as exc:  # e.g. an unpicklable launcher: say so and stop, never sit idle
        stop.failure = f"could not store the jobs in {home.root / DB_NAME}: {exc}"
        logger.error("%s", stop.failure)
        scheduler.shutdown(wait=False)
        return
    jobs = scheduler.get_jobs()
    logger.info("scheduler started (pid %d): %d job(s); log %s", os.getpid(), len(jobs),
                log_path)
    for job in jobs:
        logger.info("%s: %s, next run %s", job.id, job.trigger,
                    iso(job.next_run_time) if job.next_run_time else "never")
    if threading.current_thread() is threading.main_thread():
        handler = functools.partial(_on_signal, scheduler, stop)
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    scheduler.resume()


def _on_signal(scheduler: BlockingScheduler, stop: _Stop, signum: int,
               _frame: FrameType | None) -> None:
    if stop.request():
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.pause()  # no job starts from now on
        # shutdown() takes the scheduler's locks, which this (main) thread may hold right now
        logger.warning("%s: stopping; no new runs, running ones get %.0f s to finish "
                       "(Ctrl-C again to stop them now)", signal.Signals(signum).name, stop.grace)
        threading.Thread(target=_shutdown, args=(scheduler,), name="scheduler-stop",
                         daemon=True).start()
    else:
        logger.warning("%s: stopping the running jobs now", signal.Signals(signum).name)


def _on_clock_step(scheduler: BlockingScheduler, step: float) -> None:
    """The wall clock stepped by ``step`` seconds: forward, what fell due runs once (coalesce);
    back, each job's next run is computed again from now (an interval starts over)."""
    logger.warning("the clock stepped %s by %.0f s%s", "forward" if step > 0 else "back",
                   abs(step), "" if step > 0 else "; next runs computed again from now")
    if step > 0:
        return
    for job in scheduler.get_jobs():
        trigger = job.trigger
        if isinstance(trigger, IntervalTrigger):
            trigger = IntervalTrigger(seconds=trigger.interval.total_seconds(), timezone=UTC)
        with contextlib.suppress(JobLookupError, SchedulerNotRunningError):
            scheduler.reschedule_job(job.id, trigger=trigger)


def _shutdown(scheduler: BlockingScheduler) -> None:
    with contextlib.suppress(SchedulerNotRunningError):
        scheduler.shutdown(wait=False)


def _on_submitted(started_at: datetime, event: JobSubmissionEvent) -> None:
    # the coalesced times reach to the submission, maybe past the start: those before it count
    missed = [due for due in event.scheduled_run_times if due < started_at]
    if missed:
        logger.info("%s: catching up, once, on the runs missed while the scheduler was "
                    "stopped (last due %s)", event.job_id, iso(missed[-1]))


def _on_overlap(event: JobSubmissionEvent) -> None:
    logger.warning("%s: still running from its last start; the run due %s is skipped",
                   event.job_id, iso(event.scheduled_run_times[-1]))


def _wait(process: subprocess.Popen[bytes], stop: _Stop | None, job_id: str) -> int:
    signalled_at: float | None = None
    while True:
        try:
            return process.wait(timeout=_POLL)
        except subprocess.TimeoutExpired:
            pass
        if stop is None or stop.deadline is None:
            continue
        now = time.monotonic()
        if signalled_at is None and now >= stop.deadline:
            logger.warning("%s: still running at shutdown; sending SIGTERM", job_id)
            _signal(process, signal.SIGTERM)
            signalled_at = now
        elif signalled_at is not None and now >= signalled_at + stop.kill_after:
            logger.warning("%s: did not stop after SIGTERM; sending SIGKILL", job_id)
            _signal(process, signal.SIGKILL)
            signalled_at = math.inf


def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the run's process group when it leads one (``launch`` makes it), else the run."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def _daemon_log(home: Home) -> Iterator[Path]:
    """Send this module's INFO lines and APScheduler's warnings to ``HOME/logs/scheduler.log``
    (UTC times) for the daemon's life; they still propagate to the console as before."""
    path = home.root / "logs" / LOG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                  "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    ours, theirs = logging.getLogger(__name__), logging.getLogger("apscheduler")
    level = ours.level
    ours.setLevel(logging.INFO)
    ours.addHandler(handler)
    theirs_handler = logging.FileHandler(path, encoding="utf-8")
    theirs_handler.setFormatter(formatter)
    theirs_handler.setLevel(logging.WARNING)
    theirs.addHandler(theirs_handler)
    try:
        yield path
    finally:
        ours.removeHandler(handler)
        theirs.removeHandler(theirs_handler)
        ours.setLevel(level)
        handler.close()
        theirs_handler.close()


@contextlib.contextmanager
def _restored_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
