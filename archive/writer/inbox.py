"""The writer process's read-ahead: what it has taken from the crawl process and not yet handled.

The writer process's input thread reads frames from its stdin into an :class:`Inbox`, and the
writer takes them out in order. The inbox is bounded twice: by items (``queue_size``) and by the
bytes of the frames it holds (``queue_bytes``), since one item may carry a body of up to
``max_response_mb`` (a thousand of those would be tens of gigabytes). When either bound is
reached, the input thread waits; the pipe from the crawl process then fills, and the crawl
process's next ``submit_*`` waits in its write until the writer has caught up: back-pressure, with
nothing dropped. One item always fits into an empty inbox, however big, so a body larger than the
bound still goes through (alone).

Bytes in flight are then at most ``queue_bytes`` plus about two items (the one being handled and
the one the input thread holds) plus the pipe (about 1 MB).
"""

from __future__ import annotations

import logging
import queue
import time
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["Inbox"]

# A writer that holds the crawl back says so in its log at most this often.
_LOG_EVERY_SECONDS = 60.0
_MIB = 1024 * 1024


class Inbox(queue.Queue[Any]):
    """A FIFO bounded by ``max_items`` and ``max_bytes`` (0: no bound). :meth:`put_sized` waits
    for room; :meth:`get` and :meth:`empty` are :class:`queue.Queue`'s. ``waits`` counts the times
    the input had to wait for room."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        super().__init__(maxsize=0)          # the bounds are enforced by put_sized
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.bytes = 0                       # bytes of the frames held now
        self.peak_bytes = 0
        self.waits = 0
        self._logged_at: float | None = None

    def put_sized(self, item: Any, size: int) -> None:
        """Append ``item``, a frame of ``size`` bytes, once there is room for it."""
        with self.not_full:
            if self._no_room(size):
                self.waits += 1
                self._log_wait()
                while self._no_room(size):
                    self.not_full.wait()
            self.queue.append((item, size))
            self.bytes += size
            self.peak_bytes = max(self.peak_bytes, self.bytes)
            self.unfinished_tasks += 1
            self.not_empty.notify()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """An item of no size (the end of the input): bounded by count only."""
        self.put_sized(item, 0)

    def _no_room(self, size: int) -> bool:
        if not self.queue:
            return False
        return ((self.max_items > 0 and len(self.queue) >= self.max_items)
                or (self.max_bytes > 0 and self.bytes + size > self.max_bytes))

    def _log_wait(self) -> None:
        now = time.monotonic()
        if self._logged_at is None or now - self._logged_at >= _LOG_EVERY_SECONDS:
            self._logged_at = now
            logger.info("the archive writer is %d item(s), %.1f MiB behind: the crawl waits for "
                        "it (queue bounds: %d items, %.0f MiB)", len(self.queue),
                        self.bytes / _MIB, self.max_items, self.max_bytes / _MIB)

    # queue.Queue's storage hooks: entries are (item, size)
    def _put(self, item: Any) -> None:
        self.queue.append((item, 0))

    def _get(self) -> Any:
        item, size = self.queue.popleft()
        self.bytes -= size
        return item
