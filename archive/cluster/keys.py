"""The Redis keys of one home, the connection (and its outages: :class:`Outage`), the config
version, and the registry of workers.

Every key of a home starts with ``memoryhole:<home_id>:`` (``[cluster] home_id``): ``jobs`` (a
stream, group ``workers``), ``results`` (a stream, group ``owner``), ``dead`` (the dead-letter
stream), ``run`` (a hash: the run being served and its config version), ``owner`` (the running
owner's claim: archive.cluster.claim), ``workers`` (a set of names) and ``worker:<name>`` (a hash
with an expiry: host, jobs done, last seen).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from archive.config import Config
from archive.timeutil import parse_age
from archive.urlnorm import without_credentials

JOBS_GROUP = "workers"
RESULTS_GROUP = "owner"
OWNER = "owner"                  # the owner's consumer name in the results group


class ClusterError(RuntimeError):
    """Redis cannot be reached or says no; ``str()`` is one line, without the password."""


@dataclass(frozen=True)
class Keys:
    home_id: str

    def key(self, name: str) -> str:
        return f"memoryhole:{self.home_id}:{name}"

    @property
    def jobs(self) -> str:
        return self.key("jobs")

    @property
    def results(self) -> str:
        return self.key("results")

    @property
    def dead(self) -> str:
        return self.key("dead")

    @property
    def run(self) -> str:
        return self.key("run")

    @property
    def workers(self) -> str:
        return self.key("workers")

    def worker(self, name: str) -> str:
        return self.key(f"worker:{name}")

    @property
    def owner(self) -> str:
        return self.key("owner")

    def host_slots(self, host: str) -> str:
        return self.key(f"host:{host}")


def lease_seconds(config: Config) -> float:
    return parse_age(config.cluster.lease).total_seconds()


def config_version(config: Config) -> str:
    """A hash of everything the config says (secrets included, so a worker with another Redis
    password or proxy differs; the hash never shows them), not of where the file lies."""
    data = asdict(config)
    data.pop("path", None)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def shown(url: str) -> str:
    """A Redis URL as logs, errors and the UI may show it."""
    return without_credentials(url)


def connect(url: str, *, timeout: float = 10) -> Any:
    """A synchronous client, checked with a PING (ClusterError: one line, no password)."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout,
                                      socket_connect_timeout=timeout)
        client.ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise ClusterError(f"Redis at {shown(url)} cannot be reached: "
                           f"{_clean(str(exc), url)}") from None
    return client


def async_client(url: str) -> Any:
    """A ``redis.asyncio`` client (it connects on first use) that tries a command once more on a
    new connection when its pooled one was broken (by a Redis restart): only an outage that
    lasts reaches the caller (:class:`Outage`)."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 1))


def _clean(text: str, url: str) -> str:
    """An error text with the URL's password taken out, should a library quote it."""
    from urllib.parse import urlsplit

    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def _groups(keys: Keys) -> tuple[tuple[str, str], ...]:
    return (keys.jobs, JOBS_GROUP), (keys.results, RESULTS_GROUP)


def _made_already(exc: Exception) -> bool:
    return "BUSYGROUP" in str(exc)


def ensure_groups(client: Any, keys: Keys) -> None:
    """The consumer groups of the jobs and results streams (created with the streams)."""
    import redis

    for stream, group in _groups(keys):
        try:
            client.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if not _made_already(exc):
                raise


async def ensure_groups_async(client: Any, keys: Keys) -> None:
    """:func:`ensure_groups` on a ``redis.asyncio`` client (a worker's)."""
    import redis

    for stream, group in _groups(keys):
        try:
            await client.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if not _made_already(exc):
                raise


def text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def list_workers(client: Any, keys: Keys) -> list[dict[str, str]]:
    """The workers seen lately (their hashes expire), by name: name, host, jobs_done,
    last_seen."""
    found = []
    for raw in sorted(client.smembers(keys.workers)):
        name = text(raw)
        data = {text(k): text(v) for k, v in client.hgetall(keys.worker(name)).items()}
        if data:
            found.append(data)
        else:
            client.srem(keys.workers, name)
    return found


def dead_letters(client: Any, keys: Keys, limit: int = 20) -> tuple[int, list[dict[str, str]]]:
    """How many jobs are in the dead-letter stream, and the newest ``limit`` of them (job id,
    url, deliveries, worker, reason)."""
    count = int(client.xlen(keys.dead))
    entries = client.xrevrange(keys.dead, count=limit)
    return count, [{text(k): text(v) for k, v in fields.items()} for _, fields in entries]


def redis_away() -> tuple[type[BaseException], ...]:
    """The errors that mean Redis cannot be reached now (down, restarting, loading its
    append-only file, the network): wait and try again. Anything else is a real error, and so
    is an OSError that is not about a connection (a full disk, say)."""
    import redis

    return (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError)


class Outage:
    """Redis away and back, as one process sees it: one warning when it goes and one line when
    it comes back (never one per try), and the wait before the next try, growing from
    ``FIRST_NAP`` to ``MAX_NAP`` seconds. Not thread-safe: one per thread or event loop."""

    FIRST_NAP = 0.1
    MAX_NAP = 3.0

    def __init__(self, logger: Any, what: str, url: str = "") -> None:
        self.logger, self.what, self.url = logger, what, url
        self.since: float | None = None
        self.tries = 0
        self._nap = self.FIRST_NAP

    def failed(self, exc: BaseException) -> float:
        """A try failed with ``exc`` (one of :func:`redis_away`): the seconds to wait."""
        if self.since is None:
            self.since = time.monotonic()
            self.logger.warning("Redis%s cannot be reached (%s: %s); %s waits and tries again",
                                f" at {shown(self.url)}" if self.url else "",
                                type(exc).__name__, _clean(str(exc), self.url), self.what)
        self.tries += 1
        nap, self._nap = self._nap, min(self.MAX_NAP, self._nap * 2)
        return nap

    def ok(self) -> None:
        """A try went through: says Redis is back, if it was away."""
        if self.since is not None:
            self.logger.info("Redis is back after %.1f s (%d failed tries); %s goes on",
                             time.monotonic() - self.since, self.tries, self.what)
            self.since, self.tries, self._nap = None, 0, self.FIRST_NAP
