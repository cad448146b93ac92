"""One owner at a time per ``[cluster] home_id`` on a Redis server. Two homes that share a Redis
and a ``home_id`` (a copied config, a second machine) would read each other's results: each
owner acknowledges and drops the other run's results as stale, and both runs end short. The run
lock (``HOME/run.lock``) cannot see another home, so the owner also claims the home's key
``owner`` on the server for as long as its run lasts, with a lease renewed as it goes
(:data:`LEASE`): a second owner is refused at once, with one line that says who holds it and how
to keep two homes apart. A claim left by a killed owner ends with its lease.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from archive.cluster.keys import ClusterError, Keys, text

LEASE = 30.0           # seconds a claim lasts unless renewed
RENEW_EVERY = 5.0

# Lua: renew the claim if it is still ours (or take it again if it lapsed, a Redis away for
# longer than the lease); 0 when another owner holds it now
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class OwnerClaim:
    """The claim of one run (``run_id`` of the home at ``home_path``)."""

    def __init__(self, client: Any, keys: Keys, home_path: str, run_id: int) -> None:
        self.client, self.key = client, keys.owner
        self.home_id = keys.home_id
        self.token = (f"run {run_id} of {home_path} on {socket.gethostname()} "
                      f"(pid {os.getpid()})")
        self._renewed = 0.0

    def take(self) -> None:
        """ClusterError when another owner holds the home's claim."""
        if self.client.set(self.key, self.token, nx=True, px=int(LEASE * 1000)):
            self._renewed = time.monotonic()
            return
        holder = self.client.get(self.key)
        raise ClusterError(
            f"another run uses this Redis with [cluster] home_id = \"{self.home_id}\": "
            f"{text(holder) if holder else 'one that just ended'}; give each home a home_id of "
            f"its own (a run that was killed lets go within {LEASE:.0f} s)")

    def renew(self) -> bool:
        """Renew when due; False when another owner took the claim meanwhile."""
        if time.monotonic() - self._renewed < RENEW_EVERY:
            return True
        self._renewed = time.monotonic()
        return bool(self.client.eval(_RENEW, 1, self.key, self.token, int(LEASE * 1000)))

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)
