"""``memoryhole doctor``'s Redis line, when ``[cluster] redis`` is set: the server is reached (with
the config's password), its version is at least 6.2 (``XAUTOCLAIM``, which hands a dead worker's
jobs to another, came in 6.2), and it keeps an append-only file (without one, a Redis restart
loses the jobs queued). The URL is shown without its password (archive.cluster.keys.shown).
"""

from __future__ import annotations

from typing import Any

from archive.cluster.keys import ClusterError, connect, shown
from archive.config import Config
from archive.integrity.doctor import Finding

MIN_VERSION = (6, 2)
TIMEOUT = 3.0


def check_redis(config: Config) -> Finding:
    url = config.cluster.redis
    where = shown(url)
    try:
        client = connect(url, timeout=TIMEOUT)
    except ClusterError as exc:
        return Finding("fail", f"redis: {exc}", "start Redis (>= 6.2) there, or correct "
                       "[cluster] redis (host, port, password)")
    try:
        server: dict[str, Any] = client.info("server")
        persistence: dict[str, Any] = client.info("persistence")
    except Exception as exc:  # noqa: BLE001 - the error's type only: no URL, no password
        return Finding("fail", f"redis: {where} answers INFO with an error "
                       f"({type(exc).__name__})", "give the user of [cluster] redis the "
                       "right to run INFO")
    finally:
        client.close()
    return judge(where, str(server.get("redis_version", "")),
                 bool(int(persistence.get("aof_enabled", 0) or 0)))


def judge(where: str, version: str, aof: bool) -> Finding:
    """The finding for a server at ``where`` (shown without a password) of ``version``."""
    try:
        parts = tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        parts = ()
    if len(parts) < 2 or parts < MIN_VERSION:
        return Finding("fail", f"redis: {where} is version {version or 'unknown'}, memoryhole "
                       "needs >= 6.2 (XAUTOCLAIM)", "upgrade Redis (Debian 12 ships 7.0)")
    if not aof:
        return Finding("warn", f"redis: {where} (version {version}) keeps no append-only file: "
                       "a restart loses the queued jobs",
                       "set appendonly yes in redis.conf (or CONFIG SET appendonly yes)")
    return Finding("ok", f"redis: {where} (version {version}, append-only file on)")
