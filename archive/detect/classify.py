"""Classify one re-check answer: alive, missing (and why), blocked or transient.

The walk, first answer wins (DESIGN.md "Outcomes and reasons"):

1. No HTTP response: ``transient`` with the transport failure (timeout, dns, refused, tls, reset,
   connect, transport, no_response).
2. 304: ``alive``/not_modified. Other 3xx: the ``location_regex`` rules (every platform's walls:
   login, captcha, consent, challenge; then the platform's own), then the judgement of
   :mod:`archive.detect.redirect` (same page, home or section, not-found page, similar slug).
3. 4xx/5xx: walls first (a Cloudflare challenge on 403/503 says ``challenge``; on 404/410 only
   walls that list the status), then the statuses that are never a deletion (401/407 login_wall,
   408 timeout, 429 rate_limited, 451 geo_blocked, 5xx http_5xx; Retry-After kept for 429 and
   503), then platform deletion rules that list the status (a censorship notice served as 404 is
   ``censored``, not ``gone``), then 404/410 ``gone``, 403 ``blocked``/challenge, other 4xx
   ``transient``.
4. 2xx: a truncated body (or one that came with a transport error) and an empty body are
   ``transient``; then walls (captcha, risk control, challenge, login, geo), platform deletion
   rules, platform fallbacks (a recognised error page with unknown wording: ``transient``), a
   page with no text and no article container where an article was (``transient``/
   empty_replacement: a wall or a replacement written by script), the soft-404 probe, and
   ``alive``.

Nothing reaches ``missing`` without a platform rule, a 404/410, a home/section/not-found
redirect or a probe match; truncated, empty, 5xx, 429, 451, 401 and transport failures never
reach the deletion rules at all.

Rules are data (``archive/detect/rules/*.toml``, see :mod:`archive.detect.ruleset`); verdicts from
the built-in walk cite ``http/...``, ``transport/...``, ``body/...``, ``redirect/...``,
``probe/...`` and ``page/...`` rules at :data:`archive.detect.redirect.CORE_VERSION`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from urllib.parse import quote, urlsplit, urlunsplit

from archive.detect.css import Selector
from archive.detect.match import Page, match_body
from archive.detect.redirect import core_ref, judge_redirect, same_site, verdict
from archive.detect.ruleset import PlatformRules, RuleSet, load_rules, normalise
from archive.detect.verdict import Observation, SiteProbe, Verdict
from archive.platforms.registry import PLATFORMS, platform_for
from archive.urlnorm import domain_of

__all__ = ["classify", "is_probe_match", "probe_url"]

PROBE_SIMILARITY = 0.8
_EXTENSION_RE = re.compile(r"\.[A-Za-z0-9]{1,6}$")
_TOKEN_RE = re.compile(r"[^\W\d_]+", re.UNICODE)
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_PATHISH_RE = re.compile(r"\S*/\S*|mh-probe-[\w-]+", re.IGNORECASE)
_NEVER_MISSING_FIXED: Mapping[int, tuple[str, str]] = MappingProxyType({
    401: ("blocked", "login_wall"), 407: ("blocked", "login_wall"),
    408: ("transient", "timeout"), 429: ("transient", "rate_limited"),
    451: ("blocked", "geo_blocked"),
})


def probe_url(url: str, token: str) -> str:
    """A random sibling of ``url``: same scheme and host, same directory, the last path segment
    replaced by ``mh-probe-<token>`` (keeping an extension such as ``.html``), no query."""
    parts = urlsplit(url)
    path = parts.path or "/"
    trailing = path.endswith("/") and path != "/"
    segments = path.strip("/").split("/") if path.strip("/") else []
    last = segments.pop() if segments else ""
    extension = _EXTENSION_RE.search(last) if not trailing else None
    name = "mh-probe-" + quote(token, safe="-_.~") + (extension.group(0) if extension else "")
    new_path = "/" + "/".join([*segments, name]) + ("/" if trailing else "")
    return urlunsplit((parts.scheme, parts.netloc, new_path, "", ""))


def is_probe_match(page_text: str, page_title: str | None, probe: SiteProbe) -> bool:
    """Whether a page looks like what the site answers for a random URL (a soft 404).

    Only a probe that answered 200 counts. Texts are compared as sets of words (CJK as
    character pairs) after dropping digits, URL-like tokens and the probe token, since sites
    echo the requested path and show dates and counters; the Jaccard similarity must reach
    :data:`PROBE_SIMILARITY`. Titles, when either has one, must match the same way. An empty
    text never matches (a script-only page says nothing).
    """
    if probe.status != 200:
        return False
    page_words, probe_words = _words(page_text), _words(probe.text)
    if not page_words or not probe_words:
        return False
    if _jaccard(page_words, probe_words) < PROBE_SIMILARITY:
        return False
    if page_title or probe.title:
        page_t, probe_t = _words(page_title or ""), _words(probe.title or "")
        if not page_t or not probe_t:
            return normalise(page_title or "") == normalise(probe.title or "")
        return _jaccard(page_t, probe_t) >= PROBE_SIMILARITY
    return True


def _words(text: str) -> set[str]:
    text = _PATHISH_RE.sub(" ", normalise(text))
    words: set[str] = set()
    for token in _TOKEN_RE.findall(text):
        if _CJK_RE.search(token):
            chars = list(token)
            words.update(a + b for a, b in zip(chars, chars[1:], strict=False))
            if len(chars) == 1:
                words.add(token)
        else:
            words.add(token)
    return words


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


def classify(obs: Observation, rules: RuleSet | None = None) -> Verdict:
    """The verdict on one re-check answer (see the module docstring for the walk)."""
    status = obs.status
    if status is None:                 # the first two steps need no rules
        reason = _transport_reason(obs.error)
        return verdict("transient", reason, core_ref("transport", reason),
                       f"no HTTP response: {obs.error or 'nothing received'}", None)
    if status == 304:
        return verdict("alive", "not_modified", core_ref("http", "304"),
                       "304 Not Modified: unchanged since the last capture", status)
    ruleset = rules if rules is not None else load_rules()
    platform = platform_for(obs.url, obs.platform)
    platform_rules = ruleset.rules_for(platform)
    if 300 <= status < 400:
        location = obs.location or _header(obs.headers, "location")
        return judge_redirect(obs.url, location, status, platform_rules, obs.previous_title)
    page = Page(obs.body, _header(obs.headers, "content-type"))
    if 200 <= status < 300:
        return _judge_page(obs, status, page, platform_rules, platform)
    return _judge_error_status(obs, status, page, platform_rules)


def _judge_error_status(obs: Observation, status: int, page: Page,
                        rules: PlatformRules) -> Verdict:
    retry_after = _retry_after(obs.headers) if status in (429, 503) else None
    for rule in rules.walls:
        if status in (404, 410) and rule.status is None:
            continue  # a login box on a 404 page does not hide the 404
        if found := match_body(rule, page, status):
            return verdict(rule.outcome, rule.reason, rule.ref, f"HTTP {status}; {found}",
                           status, retry_after)
    if status in _NEVER_MISSING_FIXED or 500 <= status < 600:
        outcome, reason = _NEVER_MISSING_FIXED.get(status, ("transient", "http_5xx"))
        name = "5xx" if status >= 500 else str(status)
        return verdict(outcome, reason, core_ref("http", name), f"HTTP {status}", status,
                       retry_after)
    if not (obs.truncated or obs.error):  # a cut body refines nothing
        for rule in rules.deletions:
            if rule.status is not None and status in rule.status:
                if found := match_body(rule, page, status):
                    return verdict(rule.outcome, rule.reason, rule.ref,
                                   f"HTTP {status}; {found}", status)
    if status in (404, 410):
        return verdict("missing", "gone", core_ref("http", str(status)), f"HTTP {status}", status)
    if status == 403:
        return verdict("blocked", "challenge", core_ref("http", "403"),
                       "HTTP 403 Forbidden: refused to us, not a deletion", status)
    if 400 <= status < 500:
        return verdict("transient", "http_4xx", core_ref("http", "4xx"),
                       f"HTTP {status}: unexpected client error, not a deletion", status)
    return verdict("transient", "http_status", core_ref("http", "status"),
                   f"HTTP {status}: unexpected status", status)


def _judge_page(obs: Observation, status: int, page: Page, rules: PlatformRules,
                platform: str) -> Verdict:
    if obs.truncated or obs.error:
        why = f"transport error {obs.error}" if obs.error else "body cut short"
        return verdict("transient", "truncated", core_ref("body", "truncated"),
                       f"HTTP {status}, {len(obs.body)} bytes: {why}", status)
    if not obs.body.strip():
        return verdict("transient", "empty_body", core_ref("body", "empty"),
                       f"HTTP {status} with an empty body", status)
    for group in (rules.walls, rules.deletions, rules.fallbacks):
        for rule in group:
            if found := match_body(rule, page, status):
                return verdict(rule.outcome, rule.reason, rule.ref, f"HTTP {status}; {found}",
                               status)
    title, text = page.fast.title, page.fast.text
    if obs.had_text and not text.strip() and not page.is_json and not _has_article(page, platform):
        return verdict("transient", "empty_replacement", core_ref("page", "empty-replacement"),
                       f"HTTP {status}; no text and no article where an article was (title "
                       f"{title!r}): a page written by script, or a wall", status)
    if obs.probe is not None and _probe_applies(obs, title) and is_probe_match(text, title,
                                                                               obs.probe):
        return verdict("missing", "soft_404", core_ref("probe", "match"),
                       f"HTTP {status}; the page looks like the answer to a random sibling URL"
                       f" (title {title!r}, probe title {obs.probe.title!r})", status)
    seen = "a JSON answer" if page.is_json else f"title {title!r}, {len(text)} characters of text"
    return verdict("alive", None, core_ref("page", "alive"),
                   f"HTTP {status}; no rule matched ({seen})", status)


def _has_article(page: Page, platform: str) -> bool:
    """Whether the page holds what a live page of ``platform`` holds its article in (a
    platform that names no such element: never)."""
    known = PLATFORMS.get(platform)
    if known is None or known.article_css is None:
        return False
    return bool(page.select(_selector(known.article_css)))


@functools.lru_cache(maxsize=16)
def _selector(css: str) -> Selector:
    return Selector.compile(css)


def _probe_applies(obs: Observation, title: str | None) -> bool:
    """A probe says nothing about a site's home page, about a page that still carries the last
    capture's title, or when it was sent somewhere else."""
    parts = urlsplit(obs.url)
    if parts.path.strip("/") == "" and not parts.query:
        return False
    if obs.previous_title and title and normalise(obs.previous_title) == normalise(title):
        return False
    probe = obs.probe
    return probe is not None and (not probe.final_url
                                  or same_site(domain_of(probe.final_url), domain_of(obs.url)))


def _transport_reason(error: str | None) -> str:
    name = (error or "").lower()
    if not name:
        return "no_response"
    for needle, reason in (("proxydown", "proxy_down"), ("timeout", "timeout"),
                           ("timedout", "timeout"), ("dns", "dns"),
                           ("gaierror", "dns"), ("nameresolution", "dns"),
                           ("refused", "refused"), ("ssl", "tls"), ("tls", "tls"),
                           ("certificate", "tls"), ("connectionlost", "reset"),
                           ("reset", "reset"), ("neverreceived", "reset"),
                           ("connectiondone", "reset"), ("aborted", "reset"),
                           ("responsefailed", "reset"), ("dataloss", "reset"),
                           ("noroute", "connect"), ("unreachable", "connect"),
                           ("connect", "connect")):
        if needle in name:
            return reason
    return "transport"


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _retry_after(headers: Sequence[tuple[str, str]]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    value = (_header(headers, "retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
