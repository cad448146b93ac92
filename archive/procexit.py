"""Ending a crawl or archive writer process without the interpreter's teardown.

A crawl or archive-writer process has written, flushed and closed everything it owns by the
time its ``main()`` returns; what Python does after that (freeing every module and object of a
process that has imported Scrapy, lxml and sqlite-utils) only makes the ``memoryhole`` command
wait (BENCHMARKS.md "Timings of single steps"), so it is skipped.
"""

from __future__ import annotations

import logging
import os
import sys


def exit_at_once(code: int) -> None:
    """Flush the log handlers and the standard streams, then end the process with ``code``
    (no atexit handlers, no object teardown: call it only when all work is done)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):      # closed or broken: nothing left to say on it
            pass
    os._exit(code)
