"""The Redis keys of one home, the connection, the config version, and the registry of workers.

Every key of a home starts with ``memoryhole:<home_id>:`` (``[cluster] home_id``): ``jobs`` (a
stream, group ``workers``), ``results`` (a stream, group ``owner``), ``dead`` (the dead-letter
stream), ``run`` (a hash: the run being served and its config version), ``workers`` (a set of
names) and ``worker:<name>`` (a hash with an expiry: host, jobs done, last seen).
"""

from __future__ import annotations

import hashlib
import json
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


def _clean(text: str, url: str) -> str:
    """An error text with the URL's password taken out, should a library quote it."""
    from urllib.parse import urlsplit

    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def ensure_groups(client: Any, keys: Keys) -> None:
    """The consumer groups of the jobs and results streams (created with the streams)."""
    import redis

    for stream, group in ((keys.jobs, JOBS_GROUP), (keys.results, RESULTS_GROUP)):
        try:
            client.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
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
