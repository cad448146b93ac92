"""Shared test helpers: a home with a test config, the CLI, WARC and catalogue read-back."""

from __future__ import annotations

import gzip
import http.client
import socket
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from click.testing import CliRunner, Result
from warcio.archiveiterator import ArchiveIterator

from cli import cli


def write_config(home: Path, **crawl: Any) -> Path:
    """HOME/memoryhole.toml for tests: loopback allowed unless the test says otherwise."""
    home.mkdir(parents=True, exist_ok=True)
    values = {"allow_private_addresses": True, "obey_robots": True, "timeout": 20, **crawl}
    lines = ["[crawl]"]
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        else:
            lines.append(f"{key} = {value}")
    path = home / "memoryhole.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(home: Path, *args: str, expect: int | None = 0) -> Result:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    if expect is not None:
        assert result.exit_code == expect, (result.exit_code, result.output)
    return result


def warc_files(home: Path, pattern: str = "*.warc.gz") -> list[Path]:
    return sorted((home / "collections").glob(f"*/archive/{pattern}"))


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a WARC, digests checked (block and payload), streams drained."""
    out: list[dict[str, Any]] = []
    with open(path, "rb") as handle:
        iterator = ArchiveIterator(handle, check_digests=True)
        for record in iterator:
            raw = record.raw_stream.read()
            assert record.digest_checker.passed is not False, (path, record.digest_checker.problems)
            out.append({
                "type": record.rec_type,
                "uri": record.rec_headers.get_header("WARC-Target-URI"),
                "headers": record.rec_headers,
                "http": record.http_headers,
                "raw": raw,
                "offset": iterator.get_record_offset(),
                "length": iterator.get_record_length(),
            })
    return out


def all_records(home: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in warc_files(home):
        for record in read_records(path):
            record["file"] = path.name
            records.append(record)
    return records


def responses_for(home: Path, url: str) -> list[dict[str, Any]]:
    return [r for r in all_records(home) if r["uri"] == url and r["type"] in
            ("response", "revisit")]


def rows(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(home / "memoryhole.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def gunzip(data: bytes) -> bytes:
    return gzip.decompress(data)


def started_by(parent: int) -> list[int]:
    """Processes whose environment says ``parent`` started them (crawlers.launch sets it)."""
    marker = f"MEMORYHOLE_PARENT_PID={parent}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now (for servers that must know theirs in advance)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(base: str, path: str, headers: dict[str, str] | None = None
        ) -> tuple[int, dict[str, str], bytes]:
    """A GET with ``path`` sent exactly as given (no client-side normalisation)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", (headers or {}).pop("Host", parts.netloc))
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def memory_of(pid: int | str = "self", field: str = "VmHWM") -> int:
    """A memory figure of a process from /proc (VmHWM: its peak RSS, VmRSS: now), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


def reset_peak_memory() -> int:
    """Reset this process's peak RSS (VmHWM) to its RSS now (Linux ``clear_refs`` 5), so that
    what follows is measured alone; returns it."""
    Path("/proc/self/clear_refs").write_text("5")
    return memory_of()


def index_text(home: Path, collection: str = "main") -> str:
    """The whole index of a collection (every file of it: archive.warc.cdxj_tiers), a line
    each, sorted."""
    from archive.warc.cdxj_tiers import read_lines

    path = home / "collections" / collection / "indexes" / "index.cdxj"
    return "".join(line + "\n" for line in read_lines(path))


def remove_index(home: Path, collection: str = "main") -> None:
    """Delete every file of a collection's index (as if it had been lost)."""
    from archive.warc.cdxj_tiers import index_files

    for path in index_files(home / "collections" / collection / "indexes" / "index.cdxj"):
        path.unlink()
