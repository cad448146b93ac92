"""Whether a re-check run can be believed (DESIGN.md "Trust: what a verdict rests on").

A run is degraded, and confirms nothing, when what failed or what answered says the network
between memoryhole and the sites spoke instead of the sites:

- ``transport``: most checks could not connect (our own network is down);
- ``network_auth``: something answered 511 Network Authentication Required (a captive portal);
- ``same_answer``: unrelated sites gave one and the same answer (the same page, the same
  redirect target) that no platform rule explains: a portal, a middlebox's block page. Counted
  across distinct sites only: one site's deleted articles all showing its one tombstone is a
  censorship sweep, not the network;
- ``controls``: most control checks (URLs last seen alive and unchanged, and the config's
  ``canaries``) did not come back as they were, or a canary did not (the config promises they
  do). A control that answers a deletion its status, its wording or its redirect proves (404,
  410, a rule's notice) is a deletion, not a network failure, and a platform's own wall is the
  platform's: neither is counted. What a network can make of any page is counted: a page that
  changed or collapsed into another, a probe match, a wall, a failure.

The soft-404 probe never counts when its answer is also the answer of a page known to be alive
(a control, or a page that came back unchanged): a portal answers the probe like everything else.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SAME_ANSWER_SITES = 3     # one answer from this many sites is the network's, not theirs
NETWORK_AUTH = 511

REASONS = {
    "transport": "most checks could not connect",
    "network_auth": "the network asked to log in (HTTP 511)",
    "same_answer": "unrelated sites gave the same answer",
    "controls": "the control checks did not come back as they were",
}


def answer_fingerprint(status: int | None, location: str | None, body: bytes) -> str | None:
    """What a check was answered, comparable across URLs: the status and the redirect target
    (without its query, which names the URL asked for) or the body's digest. None for no
    answer and for 304 (which only says: as before)."""
    if status is None or status == 304:
        return None
    if 300 <= status < 400:
        parts = urlsplit(location or "")
        return f"{status} {parts.scheme}://{parts.netloc.lower()}{parts.path}"
    return f"{status} sha256:{hashlib.sha256(body).hexdigest()[:32]}"


@dataclass
class RunEvidence:
    """What a run's checks said, gathered check by check (:meth:`add`)."""

    checks: int = 0
    transport_failures: int = 0
    network_auth: int = 0
    controls: int = 0
    controls_failed: list[str] = field(default_factory=list)
    canaries_failed: list[str] = field(default_factory=list)
    answers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    live_answers: set[str] = field(default_factory=set)

    def add(self, *, url: str, site: str, outcome: str, reason: str | None, rule: str,
            http_status: int | None, answer: str | None, control: bool,
            canary: bool = False) -> None:
        self.checks += 1
        if http_status is None and outcome == "transient":
            self.transport_failures += 1
        if http_status == NETWORK_AUTH:
            self.network_auth += 1
        if answer is not None and not _platform_rule(rule):
            self.answers[answer].add(site)
        if answer is not None and (control or outcome == "alive"):
            self.live_answers.add(answer)          # what a page known alive answered
        if control:
            if outcome == "missing" and not rule.startswith(("page/", "probe/")):
                return          # a deletion by status, wording or redirect: not the network
            if _platform_rule(rule):
                return                                # the platform's own wall or notice
            self.controls += 1
            if outcome != "alive":
                self.controls_failed.append(url)
                if canary:
                    self.canaries_failed.append(url)

    def reasons(self) -> list[str]:
        """The keys of :data:`REASONS` that hold; empty for a run that can be believed."""
        found = []
        if self.checks and self.transport_failures * 2 > self.checks:
            found.append("transport")
        if self.network_auth:
            found.append("network_auth")
        if any(len(sites) >= SAME_ANSWER_SITES for sites in self.answers.values()):
            found.append("same_answer")
        if self.canaries_failed or (self.controls
                                    and len(self.controls_failed) * 2 > self.controls):
            found.append("controls")
        return found

    def describe(self) -> str:
        """One line: why the run is degraded."""
        parts = [REASONS[key] for key in self.reasons()]
        shared = max(self.answers.values(), key=len, default=set())
        if "same_answer" in self.reasons():
            parts[parts.index(REASONS["same_answer"])] += f" ({len(shared)} sites)"
        if "controls" in self.reasons():
            parts[parts.index(REASONS["controls"])] += (
                f" ({len(self.controls_failed)} of {self.controls})")
        return "; ".join(parts)


def _platform_rule(rule: str) -> bool:
    """A verdict a platform's own rules gave: its walls and notices answer alike by design."""
    platform = rule.split("/", 1)[0]
    return platform not in ("news", "http", "transport", "body", "redirect", "probe", "page")
