"""``memoryhole doctor``: is this machine ready to archive? One finding per check, with its fix.

The checks: Chromium (found, and its version), CJK fonts (Chinese pages screenshot as boxes
without them), free disk space in the home against ``[crawl] warc_max_mb``, the clock (NTP
synchronised, and not behind the newest time the catalogue holds), pywb (for replay with
``wayback``), and a TCP connection to each ``[[vantage]]`` proxy. Nothing here reaches a host
the config does not name: the clock is judged from this machine alone.

Statuses: ``ok``; ``warn`` (works, but something is degraded or cannot be told); ``fail``
(something memoryhole needs is broken). Finding Chromium is the crawler's business
(crawlers.browser.chromium): the caller passes what it found.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import socket
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from archive.config import Config, Vantage
from archive.home import Home
from archive.timeutil import iso, utcnow

MIB = 1024 * 1024
DISK_FAIL_FACTOR = 2      # below this many WARC files' worth of free space: fail
DISK_WARN_FACTOR = 5      # below this many: warn
CONNECT_TIMEOUT_S = 3.0
TIME_ERROR = 5            # adjtimex(2): the kernel's clock is not synchronised
PYWB_INSTALL = ("python3 -m venv ~/pywb && ~/pywb/bin/pip install pywb==2.10.0 "
                "(README: Replay with pywb)")


@dataclass(frozen=True)
class Finding:
    """One check's result: ``status`` is ok, warn or fail; ``fix`` says what to do."""

    status: str
    what: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:<4}  {self.what}" + (f"; fix: {self.fix}" if self.fix else "")


def run_doctor(home: Home, config: Config, *, chromium: str | None,
               chromium_problem: str = "") -> list[Finding]:
    """Every check, in order. ``chromium``: the executable the crawler would launch, or None
    with ``chromium_problem`` saying why there is none."""
    return [
        check_chromium(chromium, chromium_problem),
        check_cjk_fonts(),
        check_disk(home, config.crawl.warc_max_mb),
        *check_clock(home),
        check_pywb(),
        *(check_vantage(v, config) for v in config.vantages),
    ]


def check_chromium(path: str | None, problem: str = "") -> Finding:
    fix = ("apt-get install -y chromium, or set [browser] executable (or $MEMORYHOLE_CHROMIUM) "
           "to a working Chromium")
    if path is None:     # the crawler's message names its fix too: keep what it found
        found = problem.split(";")[0].split(": apt-get")[0] or "not found"
        return Finding("fail", f"chromium: {found}", fix)
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("fail", f"chromium: {path} does not run ({exc})", fix)
    version = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    if done.returncode != 0 or not version:
        return Finding("fail", f"chromium: {path} --version exited {done.returncode}", fix)
    return Finding("ok", f"chromium: {path} ({version})")


def check_cjk_fonts() -> Finding:
    fix = "apt-get install -y fonts-noto-cjk (Debian)"
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return Finding("warn", "fonts: fc-list not found, cannot tell whether Chinese fonts "
                       "are installed", "apt-get install -y fontconfig fonts-noto-cjk")
    try:
        done = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("warn", f"fonts: fc-list failed ({exc})", fix)
    families = sorted({line.split(",")[0].strip() for line in done.stdout.splitlines()
                       if line.strip()})
    if not families:
        return Finding("warn", "fonts: no Chinese (CJK) font: screenshots of Chinese pages show "
                       "empty boxes", fix)
    more = f" and {len(families) - 2} more" if len(families) > 2 else ""
    return Finding("ok", f"fonts: CJK fonts installed ({', '.join(families[:2])}{more})")


def check_disk(home: Home, warc_max_mb: float) -> Finding:
    folder = home.root
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    need = warc_max_mb * MIB
    what = (f"disk: {free / 1e9:.1f} GB free at {home.root} ({free / need:.0f}x "
            f"[crawl] warc_max_mb = {warc_max_mb:g})")
    fix = (f"free space there, move the home to a larger disk, or lower [crawl] warc_max_mb; "
           f"at least {DISK_WARN_FACTOR}x warc_max_mb is advised")
    if free < DISK_FAIL_FACTOR * need:
        return Finding("fail", what + ": a WARC file cannot be finished", fix)
    if free < DISK_WARN_FACTOR * need:
        return Finding("warn", what, fix)
    return Finding("ok", what)


def check_clock(home: Home) -> list[Finding]:
    """Is the clock NTP-synchronised (``timedatectl``, else the kernel's adjtimex state), and
    not behind the newest time the catalogue holds? Never asks a time server."""
    out = []
    synced = _timedatectl_synced()
    source = "timedatectl"
    if synced is None:
        synced, source = _kernel_synced(), "the kernel (adjtimex)"
    fix = ("enable NTP (timedatectl set-ntp true, or install chrony or systemd-timesyncd); "
           "in a container, synchronise the host")
    if synced is None:
        out.append(Finding("warn", "clock: cannot tell whether it is synchronised", fix))
    elif synced:
        out.append(Finding("ok", f"clock: synchronised (NTP, says {source})"))
    else:
        out.append(Finding("warn", f"clock: not synchronised, says {source}: capture times "
                           "may drift", fix))
    newest = _newest_catalogue_time(home)
    now = iso(utcnow())
    if newest is not None and newest > now:
        out.append(Finding("fail", f"clock: {now} is before the newest time in the catalogue "
                           f"({newest}): new captures would be dated before older ones",
                           "set the system clock right before the next crawl (" + fix + ")"))
    return out


def _timedatectl_synced() -> bool | None:
    tool = shutil.which("timedatectl")
    if tool is None:
        return None
    try:
        done = subprocess.run([tool, "show", "-p", "NTPSynchronized", "--value"],
                              capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = done.stdout.strip()
    if done.returncode != 0 or value not in ("yes", "no"):
        return None           # no systemd (a container): ask the kernel instead
    return value == "yes"


def _kernel_synced() -> bool | None:
    """adjtimex(2) with no change requested: its return value is the clock's state."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        timex = ctypes.create_string_buffer(512)      # struct timex (208 bytes), modes = 0
        state = libc.adjtimex(timex)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR


def _newest_catalogue_time(home: Home) -> str | None:
    if not home.db_path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{home.db_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    newest = []
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        for table, column in (("captures", "captured_at"), ("checks", "checked_at"),
                              ("runs", "started_at")):
            if table in tables:
                value = conn.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]
                if value:
                    newest.append(value)
    except sqlite3.Error:
        return None               # `memoryhole check` reports a damaged catalogue
    finally:
        conn.close()
    return max(newest) if newest else None


def check_pywb() -> Finding:
    """pywb's ``wayback`` (optional: ``memoryhole serve`` replays by itself): on the PATH, in
    ``~/pywb`` (the README's venv) or in the repository's ``.venv-pywb`` (the tests')."""
    candidates = [shutil.which("wayback"), Path.home() / "pywb" / "bin" / "wayback",
                  Path(__file__).resolve().parents[2] / ".venv-pywb" / "bin" / "wayback"]
    for found in candidates:
        if found and Path(found).is_file() and os.access(found, os.X_OK):
            version = _pywb_version(Path(found))
            return Finding("ok", f"pywb: {found}" + (f" (pywb {version})" if version else ""))
    return Finding("warn", "pywb: not found (only replay with pywb's wayback needs it; "
                   "memoryhole serve replays by itself)", PYWB_INSTALL)


def _pywb_version(wayback: Path) -> str | None:
    venv = wayback.resolve().parent.parent
    for info in sorted(venv.glob("lib/python*/site-packages/pywb-*.dist-info")):
        return info.name.removeprefix("pywb-").removesuffix(".dist-info")
    return None


def check_vantage(vantage: Vantage, config: Config) -> Finding:
    """Does the vantage's proxy accept a TCP connection (within a few seconds)?"""
    parts = urlsplit(vantage.proxy)           # validated at load: a host and a port
    host, port = parts.hostname or "", parts.port or 0
    where = config.path or "memoryhole.toml"
    fix = (f"start the proxy or the tunnel to it, or fix [[vantage]] {vantage.name}'s proxy "
           f"in {where}")
    what = f"vantage {vantage.name}: proxy {parts.scheme}://{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return Finding("fail", f"{what}: cannot connect ({reason})", fix)
    return Finding("ok", f"{what}: accepts connections")
