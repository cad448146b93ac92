"""SIGKILL the archive writer process at a chosen point (RELIABILITY.md point 1).

The test starts the writer as ``python -c "from tests.support.faults import main; main()"``
with ``MEMORYHOLE_FAULT=<point>:<n>``: the n-th time the run reaches ``point`` the process kills
itself with SIGKILL, as a power cut would stop it (the bytes it had handed to the kernel stay,
as they do when only the process dies). The production code has no hook for this: the points are
wrappers put around its functions here, before the writer runs.

Points:

- ``open``: a new WARC file exists as ``.open``, before its warcinfo record;
- ``member``: half of a record's gzip member is written, the rest never (a torn record);
- ``synced``: the records are fsynced, their rows not yet committed;
- ``committed``: a batch of rows is committed;
- ``rename`` / ``renamed``: a full file is about to be renamed without ``.open`` / was renamed,
  its lines not yet merged into the index;
- ``index-write``: the new index is half written to its temporary file;
- ``index-replaced``: the index was replaced, the writer not yet told;
- ``finish``: the run's deletion confirmations are written, not committed.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from typing import Any

import archive.warc.cdxj as cdxj
import archive.warc.writer as warc_writer
from archive.procexit import exit_at_once
from archive.writer import checks, process

POINTS = ("open", "member", "synced", "committed", "rename", "renamed", "index-write",
          "index-replaced", "finish")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str, n: int) -> None:
    """Kill this process the ``n``-th time it reaches ``point``."""
    if point not in POINTS:
        raise ValueError(f"unknown fault point {point!r}; one of {', '.join(POINTS)}")
    seen = [0]

    def due() -> bool:
        seen[0] += 1
        return seen[0] == n

    def after(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if due():
                _die()
            return result
        setattr(owner, name, wrapped)

    def before(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if due():
                _die()
            return original(*args, **kwargs)
        setattr(owner, name, wrapped)

    if point == "open":
        after(warc_writer, "_OpenFile")
    elif point == "member":
        write_record = warc_writer.RotatingWarcWriter._write_record

        def torn(self: Any, f: Any, fields: Any, content_type: str, block: Any) -> Any:
            if due():
                member = b"".join(warc_writer.record_member(self._compressor(), fields,
                                                            content_type, block))
                f.handle.write(member[: len(member) // 2])
                f.handle.flush()
                _die()
            return write_record(self, f, fields, content_type, block)
        warc_writer.RotatingWarcWriter._write_record = torn
    elif point == "synced":
        after(warc_writer.RotatingWarcWriter, "sync")
    elif point == "committed":
        after(process.WriterProcess, "_commit")
    elif point == "rename":
        before(warc_writer, "rename_no_replace")
    elif point == "renamed":
        after(warc_writer, "rename_no_replace")
    elif point == "index-write":
        rewrite = cdxj._rewrite

        def half_written(index_path: Any, combine: Callable[[Iterable[str]], Iterable[str]],
                         read_old: bool = True) -> int:
            def lines(old: Iterable[str]) -> Iterable[str]:
                out = list(combine(old))
                yield from out[: len(out) // 2]
                if due():
                    _die()
                yield from out[len(out) // 2:]
            return rewrite(index_path, lines, read_old)
        cdxj._rewrite = half_written
    elif point == "index-replaced":
        after(cdxj, "_rewrite")
    elif point == "finish":
        after(checks.CheckRecorder, "finish")


def main() -> None:
    """The writer process, with the fault of ``MEMORYHOLE_FAULT`` installed."""
    point, _, n = os.environ["MEMORYHOLE_FAULT"].partition(":")
    install(point, int(n or 1))
    exit_at_once(process.main())
