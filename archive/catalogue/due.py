"""Which watched URLs a re-check run visits: due ones (or all, or named ones), under a
per-domain request budget that favours the youngest URLs (censors act fast: Zhu et al. 2013),
and its control checks: a few URLs last seen alive and unchanged, from as many sites as there
are, and the config's canaries (source ``canaries``), whose answers tell whether the run can be
believed (archive.detect.run)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.timeutil import iso
from archive.urlnorm import canonical_url

_COLUMNS = ("u.id", "u.url", "u.domain", "u.source", "u.platform", "u.etag", "u.last_modified",
            "u.last_text_digest", "u.first_seen_at", "u.state", "u.next_check_at", "c.title",
            "u.last_capture_id", "c.via")


CONTROLS = 3                 # control checks per run
CANARIES = "canaries"        # the source of the config's [recheck] canaries
_CANDIDATES = 200            # stable URLs looked at for controls
# a stable URL: alive at its last check, unchanged, with a known digest (what a control needs);
# these words are those of the partial index idx_urls_stable (archive.catalogue.migrations,
# 0016), which SQLite uses only when a query says them
_STABLE = ("u.state = 'alive' AND u.check_count >= 1 AND u.missing_streak = 0 AND"
           " u.transient_streak = 0 AND u.last_payload_digest IS NOT NULL AND u.item_id IS NULL")


class UnknownUrl(LookupError):
    """A URL asked for by name is not watched."""


@dataclass(frozen=True)
class Selection:
    mode: str = "due"                 # due | all | urls
    urls: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    limit: int | None = None
    domain_budget: int | None = None  # at most this many URLs of one domain per run
    controls: int = CONTROLS          # control checks (none for named URLs)


def _query(db: Any, where: str, params: list[Any],
           order: str = "u.next_check_at, u.id") -> list[dict[str, Any]]:
    sql = (f"SELECT {', '.join(_COLUMNS)} FROM urls u LEFT JOIN captures c"
           f" ON c.id = u.last_capture_id WHERE {where} ORDER BY {order}")
    names = [c.split(".", 1)[1] for c in _COLUMNS]
    return [dict(zip(names, row, strict=True)) for row in db.execute(sql, params).fetchall()]


def select_urls(db: Any, selection: Selection, now: datetime) -> list[dict[str, Any]]:
    """The URL rows to re-check now, in the order to check them."""
    where, params = "1=1", []
    if selection.mode == "urls":
        keys = [canonical_url(u) for u in selection.urls]
        rows = _query(db, f"u.url IN ({', '.join('?' for _ in keys)})", keys)
        missing = sorted(set(keys) - {r["url"] for r in rows})
        if missing:
            raise UnknownUrl(f"not watched: {', '.join(missing)} (watch it first: "
                             f"memoryhole add URL)")
        return rows
    if selection.mode == "due":
        where, params = "u.next_check_at <= ?", [iso(now)]
    if selection.sources:
        where += f" AND u.source IN ({', '.join('?' for _ in selection.sources)})"
        params.extend(selection.sources)
    rows = _query(db, where, params)
    if selection.domain_budget:
        rows = apply_domain_budget(rows, selection.domain_budget)
    if selection.limit is not None:
        rows = rows[: selection.limit]
    return with_controls(db, rows, selection.controls)


def with_controls(db: Any, rows: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``rows`` with their control checks marked (``row["control"]``): the canaries, and up to
    ``count`` stable URLs (alive at their last check, unchanged, with a known digest), one per
    site first. Controls not selected already are added at the end."""
    if count <= 0:
        return rows
    # the canaries, then the others most recently checked: two walks of indexes (the stable
    # URLs' partial index, migration 0016), never a scan of every watched URL
    canaries = _query(db, f"{_STABLE} AND u.source = ?", [CANARIES],
                      f"u.last_checked_at DESC LIMIT {_CANDIDATES}")
    others = _query(db, _STABLE, [], f"u.last_checked_at DESC LIMIT {_CANDIDATES}")
    stable = (canaries + [r for r in others if r["source"] != CANARIES])[:_CANDIDATES]
    chosen: list[dict[str, Any]] = []
    sites: set[str] = set()
    for row in stable:                      # canaries first, then one per site
        if row["source"] == CANARIES or (len(chosen) < count and row["domain"] not in sites):
            chosen.append(row)
            sites.add(row["domain"])
    for row in stable:                      # fewer sites than controls: more of one site
        if len(chosen) >= count:
            break
        if row not in chosen:
            chosen.append(row)
    by_id = {row["id"]: row for row in rows}
    for row in chosen:
        found = by_id.get(row["id"])
        if found is None:
            rows.append(found := row)
        found["control"] = True
    return rows


def apply_domain_budget(rows: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """At most ``budget`` rows per domain; over budget, the most recently first-seen go first.
    The order of the kept rows is unchanged."""
    by_domain: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_domain[row["domain"] or ""].append(row)
    keep: set[int] = set()
    for domain_rows in by_domain.values():
        if len(domain_rows) > budget:
            domain_rows = sorted(domain_rows, key=lambda r: r["first_seen_at"] or "",
                                 reverse=True)[:budget]
        keep.update(r["id"] for r in domain_rows)
    return [r for r in rows if r["id"] in keep]
