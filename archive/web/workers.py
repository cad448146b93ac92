"""The UI's ``/workers`` page: a cluster's ``memoryhole worker`` processes seen lately (name, host,
jobs done, last seen; archive.cluster.keys.list_workers), and how many jobs wait. Only when
``[cluster] redis`` is set (else the page does not exist). The Redis URL is never shown, not even
without its password: the page names no server; Redis values are shown escaped (the template
escapes them, as everything), since whoever can write to Redis could put markup there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from archive.cluster.keys import ClusterError, Keys, connect, list_workers

logger = logging.getLogger(__name__)

Render = Callable[..., Response]
TIMEOUT = 2.0            # seconds the page waits for Redis


class WorkersPage:
    """``page`` is the Starlette endpoint; ``render(template, status, **values)`` the UI's."""

    def __init__(self, redis_url: str, home_id: str, render: Render) -> None:
        self._url = redis_url
        self.keys = Keys(home_id)
        self.render = render

    def page(self, request: Request) -> Response:
        try:
            client = connect(self._url, timeout=TIMEOUT)
            try:
                workers = list_workers(client, self.keys)
                waiting = int(client.xlen(self.keys.jobs))
            finally:
                client.close()
        except (ClusterError, OSError) as exc:
            logger.warning("workers page: %s", exc)
            return self.render("workers.html", 503, title="Workers", workers=[], waiting=None,
                               error="The cluster's Redis cannot be reached (memoryhole doctor "
                                     "says why).")
        except Exception as exc:  # noqa: BLE001 - a Redis error must not show the URL
            logger.warning("workers page: %s", type(exc).__name__)
            return self.render("workers.html", 503, title="Workers", workers=[], waiting=None,
                               error="The cluster's Redis answered with an error.")
        return self.render("workers.html", 200, title="Workers", workers=_rows(workers),
                           waiting=waiting, error=None)


def _rows(workers: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [{"name": w.get("name", ""), "host": w.get("host", ""),
             "jobs_done": w.get("jobs_done", ""), "last_seen": w.get("last_seen", "")}
            for w in workers]
