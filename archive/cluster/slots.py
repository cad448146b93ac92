"""Per-host download slots shared by every worker of a home: ``per_domain`` holds across workers.

A host's slots are a sorted set (``Keys.host_slots``): one member per request being downloaded
from it, scored with the time its lease ends (the Redis server's clock, so the workers' clocks do
not matter). :meth:`HostSlots.acquire` adds a member only while fewer than ``limit`` members are
unexpired (one Lua script: the check and the add are one step); :meth:`HostSlots.release` removes
it as the answer comes in; :meth:`HostSlots.renew` pushes the leases of the slots still held
forward, so a slow download keeps its slot, while a dead worker's slots free themselves when their
lease ends. All calls use ``redis.asyncio`` and never block the event loop; a slot not free yet is
asked for again after a short, growing wait (at most :data:`MAX_WAIT` seconds). A slot that could
not be given back (Redis away) is given back before the next one is taken, not left to its lease.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

from archive.cluster.keys import Keys

MAX_WAIT = 0.25                  # seconds between two tries for a full host's slot, at most
FIRST_WAIT = 0.01

# KEYS[1] the host's set; ARGV: token, limit, lease (ms). 1: taken, 0: the host is full.
ACQUIRE = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
  return 1
end
return 0
"""

# KEYS: hosts' sets; ARGV[1] the lease (ms), ARGV[1 + i] the token held in KEYS[i]. Only slots
# still held are renewed (an expired one is gone: it is not taken back past the limit).
RENEW = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lease = tonumber(ARGV[1])
local kept = 0
for i, key in ipairs(KEYS) do
  if redis.call('ZSCORE', key, ARGV[i + 1]) then
    redis.call('ZADD', key, 'XX', now + lease, ARGV[i + 1])
    redis.call('PEXPIRE', key, 2 * lease)
    kept = kept + 1
  end
end
return kept
"""


class HostSlots:
    """The slots this worker holds, on a ``redis.asyncio`` client."""

    def __init__(self, client: Any, keys: Keys, worker: str, lease: float) -> None:
        self.client = client
        self.keys = keys
        self.worker = worker
        self.lease_ms = max(1000, int(lease * 1000))
        self.held: dict[str, str] = {}          # token -> host
        self.unreleased: dict[str, str] = {}    # token -> host: not given back (Redis away)
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)

    async def acquire(self, host: str, limit: int) -> str:
        """Wait until one of ``host``'s ``limit`` slots is free and take it; its token."""
        await self.give_back()
        token = f"{self.worker}:{uuid.uuid4().hex[:16]}"
        key = self.keys.host_slots(host)
        wait = FIRST_WAIT
        while not await self._acquire(keys=[key], args=[token, max(1, limit), self.lease_ms]):
            await asyncio.sleep(wait * random.uniform(0.5, 1.5))
            wait = min(MAX_WAIT, wait * 2)
        self.held[token] = host
        return token

    async def release(self, token: str) -> None:
        host = self.held.pop(token, None)
        if host is not None:
            self.unreleased[token] = host     # kept there until Redis takes it back
            await self.give_back()

    async def give_back(self) -> None:
        """The slots whose release failed, given back now (each by one caller: acquires run
        side by side)."""
        for token in list(self.unreleased):
            host = self.unreleased.pop(token, None)
            if host is not None:
                try:
                    await self.client.zrem(self.keys.host_slots(host), token)
                except BaseException:
                    self.unreleased[token] = host
                    raise

    async def renew(self) -> int:
        """Push the held slots' leases forward; how many were still held."""
        if not self.held:
            return 0
        tokens = list(self.held)
        return int(await self._renew(keys=[self.keys.host_slots(self.held[t]) for t in tokens],
                                     args=[self.lease_ms, *tokens]))

    async def release_all(self) -> None:
        await self.give_back()
        for token in list(self.held):
            await self.release(token)

