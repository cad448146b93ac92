"""Detection rules as data: load and validate ``archive/detect/rules/*.toml``.

One TOML file per platform (``news``, ``wechat``, ``weibo``, ``telegram``)::

    version = 1
    platform = "wechat"

    [[rule]]
    id = "violation"                      # unique in the file; cited as "wechat/violation@1"
    outcome = "missing"                   # missing | blocked | transient
    reason = "censored"                   # from the vocabulary of that outcome (see REASONS)
    css = "div.global_error_msg, .weui-msg__title"   # elements that must exist
    text_contains = ["此内容因违规无法查看"]   # any of them, inside a selected element
    absent = "#js_content"                # elements that must NOT exist (a live article)

Conditions (all given ones must hold; a list holds when any item does):

* ``css``: a selector list in a small CSS subset (``tag``, ``*``, ``.class``, ``#id``,
  ``[attr]``, ``[attr=v]``, ``[attr~=v]``, ``[attr^=v]``, ``[attr$=v]``, ``[attr*=v]``,
  descendant and ``>`` combinators, commas), translated to XPath by
  :func:`archive.detect.css.css_to_xpath`: ``cssselect`` is only a transitive dependency
  of Scrapy, and ``archive/`` must not need Scrapy.
* ``text_contains`` / ``text_regex``: wording, looked for inside the ``css`` elements when
  ``css`` is given, else on the lines of the page (its title and each block of its fast text,
  ``archive.text.extract.fast_page_text``) that are at most ``NOTICE_LINE_SLACK`` (60) characters
  longer than the wording: a notice stands on its own line, a paragraph quoting it does not.
  Texts are compared after NFKC, case folding, curly-quote folding and whitespace collapse.
* ``max_element_text``: with ``css``, the selected element's text may be at most this many
  characters longer than the wording (a ``<title>`` that *is* "404 - page not found", not a
  headline that mentions it).
* ``absent``: a selector list that must match nothing.
* ``source_contains``: strings in the decoded HTML source (scripts and attributes included).
* ``or_source = true``: with ``css``, ``text_contains`` and ``absent``, the wording may also
  stand anywhere in the source when no selected element holds it: a notice a script writes
  after load (``document.write``) leaves no element in the HTML, only its words.
* ``max_text``: the page's fast text is at most this many characters. Wording searched in the
  whole page defaults to 2000, so an article *about* a deletion notice never reads as one.
* ``json_any``: the body is JSON and one of these tables matches (keys are dotted paths from
  the root; values compared as text, so ``0`` and ``"0"`` are the same); text conditions
  then look only at the ``json_text`` paths (default ``msg``, ``message``, ``errmsg``,
  ``text``, ``data.msg``, ``data.text``), never deeper, so a repost quoting a deleted post is
  not the deleted post. Rules without ``json_any`` never match a JSON body.
* ``location_regex``: the rule judges a 3xx answer by its absolute ``Location`` instead of a body.
* ``status``: HTTP statuses the rule applies to. Default: any status for ``blocked`` and
  ``transient`` rules (walls), 2xx for ``missing`` rules, 3xx for ``location_regex`` rules.

Stages: ``blocked``/``transient`` rules are walls and run before ``missing`` rules (deletions);
``stage = "fallback"`` marks a non-missing rule that runs after the deletions (a recognised error
page whose wording no rule knows). Walls are shared: every platform's walls apply to every page
(the page's own platform first, then ``news``, the generic file, then the others), since a wall
is never a deletion and a WeChat captcha or a Cloudflare challenge can turn up anywhere (a source
declared ``news`` on a WeChat URL, a probe answered by a wall). Deletions and fallbacks apply to
their own platform only; an unknown platform gets those of ``news``.

Loading fails with :class:`RuleError` naming the file and the rule on anything unknown: a key,
an outcome, a reason, a selector, a regex, or a ``missing`` rule on a status that is never a
deletion (401, 407, 408, 429, 451, 1xx, 3xx bodies, 5xx).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from archive.detect.css import Selector
from archive.platforms.registry import GENERIC_PLATFORM

MISSING_REASONS = frozenset({
    "gone", "censored", "author_deleted", "account_gone", "restricted", "redirected", "soft_404",
    "unknown",
})
BLOCKED_REASONS = frozenset({
    "captcha", "challenge", "login_wall", "geo_blocked", "consent_wall", "client_only",
    "account_migrated", "preview_unavailable",
})
TRANSIENT_REASONS = frozenset({
    "timeout", "dns", "refused", "tls", "reset", "connect", "transport", "no_response",
    "http_5xx", "http_4xx", "http_status", "rate_limited", "empty_body", "truncated",
    "redirect_unclear", "redirect_no_location", "api_error", "platform_error",
    "unrecognized_notice",
})
ALIVE_REASONS = frozenset({"moved", "not_modified"})
REASONS: Mapping[str, frozenset[str]] = MappingProxyType({
    "missing": MISSING_REASONS, "blocked": BLOCKED_REASONS, "transient": TRANSIENT_REASONS,
    "alive": ALIVE_REASONS,
})
RULE_OUTCOMES = ("missing", "blocked", "transient")
# A missing rule may never apply to these: they are never a deletion (DESIGN.md).
NEVER_MISSING_STATUSES = frozenset({401, 407, 408, 429, 451})
DEFAULT_MAX_TEXT = 2000
DEFAULT_JSON_TEXT = ("msg", "message", "errmsg", "text", "data.msg", "data.text")

_RULE_KEYS = frozenset({
    "id", "outcome", "reason", "stage", "css", "absent", "text_contains", "text_regex",
    "source_contains", "max_text", "max_element_text", "json_any", "json_text", "location_regex",
    "status", "note", "or_source",
})
_FILE_KEYS = frozenset({"version", "platform", "rule", "description"})
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

def normalise(text: str) -> str:
    """Text for comparison: NFKC, case folded, curly quotes straightened, zero-width characters
    dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    for curly, straight in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'),
                            ("\u200b", ""), ("\ufeff", "")):
        text = text.replace(curly, straight)
    return " ".join(text.split())


def json_str(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class RuleError(ValueError):
    """A rules file that cannot be used: the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    """One detection rule of one platform's rules file."""

    platform: str
    id: str
    version: int
    outcome: str
    reason: str
    stage: str  # wall | deletion | fallback
    css: str | None = None
    absent: str | None = None
    text_contains: tuple[str, ...] = ()
    text_regex: tuple[re.Pattern[str], ...] = ()
    source_contains: tuple[str, ...] = ()
    max_text: int | None = None
    max_element_text: int | None = None
    json_any: tuple[tuple[tuple[str, str], ...], ...] = ()
    json_text: tuple[str, ...] = DEFAULT_JSON_TEXT
    location_regex: tuple[re.Pattern[str], ...] = ()
    status: frozenset[int] | None = None
    note: str = ""
    or_source: bool = False
    css_sel: Selector | None = field(default=None, compare=False, repr=False)
    absent_sel: Selector | None = field(default=None, compare=False, repr=False)

    @property
    def ref(self) -> str:
        """How verdicts cite the rule: ``<platform>/<id>@<version>``."""
        return f"{self.platform}/{self.id}@{self.version}"

    @property
    def has_text(self) -> bool:
        return bool(self.text_contains or self.text_regex)


@dataclass(frozen=True)
class RuleFile:
    """The rules of one platform, in file order."""

    platform: str
    version: int
    source: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class PlatformRules:
    """The rules that apply to one platform, grouped by the stage of the walk that uses them."""

    walls: tuple[Rule, ...]
    deletions: tuple[Rule, ...]
    fallbacks: tuple[Rule, ...]


@dataclass(frozen=True)
class RuleSet:
    """Every platform's rules file, loaded and validated."""

    files: tuple[RuleFile, ...]

    def get(self, platform: str) -> RuleFile | None:
        return next((rs for rs in self.files if rs.platform == platform), None)

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(rs.platform for rs in self.files)

    def rules_for(self, platform: str) -> PlatformRules:
        """The platform's deletions and fallbacks (the generic ones for an unknown platform), and
        every platform's walls: its own first, then the generic ones, then the others'."""
        own = self.get(platform) or self.get(GENERIC_PLATFORM)
        rules = list(own.rules) if own else []
        others = sorted((rs for rs in self.files if rs is not own),
                        key=lambda rs: (rs.platform != GENERIC_PLATFORM, rs.platform))
        walls = [r for rs in ([own] if own else []) + others for r in rs.rules
                 if r.stage == "wall"]
        return PlatformRules(
            walls=tuple(walls),
            deletions=tuple(r for r in rules if r.stage == "deletion"),
            fallbacks=tuple(r for r in rules if r.stage == "fallback"),
        )


# ---------------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=1)
def load_rules() -> RuleSet:
    """All platforms' rules from the packaged ``archive/detect/rules/*.toml`` (validated,
    cached)."""
    root = importlib.resources.files("archive.detect.rules")
    entries = sorted((e for e in root.iterdir() if e.name.endswith(".toml")), key=lambda e: e.name)
    return build_rule_set(
        parse_rule_file(entry.read_text(encoding="utf-8"), f"archive/detect/rules/{entry.name}")
        for entry in entries
    )


def build_rule_set(files: Iterable[RuleFile]) -> RuleSet:
    """A :class:`RuleSet` from parsed files; one file per platform."""
    seen: dict[str, str] = {}
    result = []
    for rule_file in files:
        if rule_file.platform in seen:
            raise RuleError(f"{rule_file.source}: platform {rule_file.platform!r} is already"
                            f" defined by {seen[rule_file.platform]}")
        seen[rule_file.platform] = rule_file.source
        result.append(rule_file)
    return RuleSet(tuple(result))


def parse_rule_file(text: str, source: str) -> RuleFile:
    """Parse and validate one rules file; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{source}: not valid TOML: {exc}") from exc
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise RuleError(f"{source}: unknown top-level key(s) {sorted(unknown)}")
    version, platform = data.get("version"), data.get("platform")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RuleError(f"{source}: 'version' must be a positive integer, got {version!r}")
    if not isinstance(platform, str) or not _ID_RE.match(platform):
        raise RuleError(f"{source}: 'platform' must be a lower-case name, got {platform!r}")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError(f"{source}: no [[rule]] entries")
    rules: list[Rule] = []
    ids: set[str] = set()
    for index, raw in enumerate(raw_rules):
        rule = _parse_rule(raw, platform, version, f"{source}: rule #{index + 1}")
        if rule.id in ids:
            raise RuleError(f"{source}: rule {rule.id!r}: duplicate id")
        ids.add(rule.id)
        rules.append(rule)
    return RuleFile(platform=platform, version=version, source=source, rules=tuple(rules))


def _parse_rule(raw: Any, platform: str, version: int, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: must be a table")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID_RE.match(rule_id):
        raise RuleError(f"{where}: 'id' must match {_ID_RE.pattern}, got {rule_id!r}")
    where = f"{where.rsplit(': ', 1)[0]}: rule {rule_id!r}"

    def fail(message: str) -> RuleError:
        return RuleError(f"{where}: {message}")

    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)}")
    outcome, reason = raw.get("outcome"), raw.get("reason")
    if outcome not in RULE_OUTCOMES:
        raise fail(f"outcome {outcome!r} is not one of {list(RULE_OUTCOMES)}")
    if reason not in REASONS[outcome]:
        raise fail(f"reason {reason!r} is not allowed for outcome {outcome!r}"
                   f" (allowed: {sorted(REASONS[outcome])})")
    stage = raw.get("stage", "deletion" if outcome == "missing" else "wall")
    if stage not in ("wall", "deletion", "fallback"):
        raise fail(f"stage {stage!r} is not one of wall, deletion, fallback")
    if (stage == "deletion") != (outcome == "missing"):
        raise fail(f"stage {stage!r} does not fit outcome {outcome!r}: missing rules are"
                   " deletions, the others walls or fallbacks")

    css = _opt_str(raw, "css", fail)
    absent = _opt_str(raw, "absent", fail)
    try:
        css_sel = Selector.compile(css) if css else None
        absent_sel = Selector.compile(absent) if absent else None
    except ValueError as exc:
        raise fail(str(exc)) from exc
    text_contains = tuple(normalise(s) for s in _str_list(raw, "text_contains", fail))
    text_regex = _regexes(raw, "text_regex", fail)
    location_regex = _regexes(raw, "location_regex", fail)
    source_contains = tuple(s.casefold() for s in _str_list(raw, "source_contains", fail))
    json_any = _json_conditions(raw.get("json_any", []), fail)
    json_text = tuple(_str_list(raw, "json_text", fail)) or DEFAULT_JSON_TEXT
    if not (css or text_contains or text_regex or source_contains or json_any or location_regex):
        raise fail("no condition: give css, text_contains, text_regex, source_contains,"
                   " json_any or location_regex")
    if location_regex and (css or absent or text_contains or text_regex or source_contains
                           or json_any):
        raise fail("location_regex judges a redirect and cannot be combined with body conditions")
    if any(not s for s in text_contains + source_contains):
        raise fail("empty string in text_contains/source_contains")

    max_text = _opt_count(raw, "max_text", fail)
    max_element_text = _opt_count(raw, "max_element_text", fail)
    if max_element_text is not None and not (css and (text_contains or text_regex)):
        raise fail("max_element_text needs css and text_contains or text_regex")
    if max_text is None and not css and not json_any and (text_contains or text_regex
                                                          or source_contains):
        max_text = DEFAULT_MAX_TEXT
    status = _statuses(raw.get("status"), outcome, bool(location_regex), fail)
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise fail("note must be a string")
    or_source = raw.get("or_source", False)
    if not isinstance(or_source, bool) or (or_source and not (css and absent and text_contains)):
        raise fail("or_source = true needs css, absent and text_contains")
    if or_source and max_text is None:
        max_text = DEFAULT_MAX_TEXT          # words in the source: only on a page of little text
    return Rule(
        platform=platform, id=rule_id, version=version, outcome=outcome, reason=reason,
        stage=stage, css=css, absent=absent, text_contains=text_contains, text_regex=text_regex,
        source_contains=source_contains, max_text=max_text, max_element_text=max_element_text,
        json_any=json_any,
        json_text=json_text, location_regex=location_regex, status=status, note=note,
        or_source=or_source, css_sel=css_sel, absent_sel=absent_sel,
    )


def _opt_str(raw: dict[str, Any], key: str, fail: Any) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise fail(f"{key} must be a non-empty string")
    return value


def _opt_count(raw: dict[str, Any], key: str, fail: Any) -> int | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise fail(f"{key} must be a non-negative integer, got {value!r}")
    return value


def _str_list(raw: dict[str, Any], key: str, fail: Any) -> list[str]:
    value = raw.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(f"{key} must be a string or a list of strings")
    return value


def _regexes(raw: dict[str, Any], key: str, fail: Any) -> tuple[re.Pattern[str], ...]:
    patterns = []
    for pattern in _str_list(raw, key, fail):
        try:
            patterns.append(re.compile(pattern))
        except re.error as exc:
            raise fail(f"{key} {pattern!r} is not a valid regex: {exc}") from exc
    return tuple(patterns)


def _json_conditions(value: Any, fail: Any) -> tuple[tuple[tuple[str, str], ...], ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) and v for v in value):
        raise fail("json_any must be a list of non-empty tables")
    return tuple(tuple((str(k), json_str(v)) for k, v in cond.items()) for cond in value)


def _statuses(value: Any, outcome: str, redirect: bool, fail: Any) -> frozenset[int] | None:
    if value is None:
        if redirect:
            return frozenset({301, 302, 303, 307, 308})
        return frozenset(range(200, 300)) if outcome == "missing" else None
    if not isinstance(value, list) or not value or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in value):
        raise fail(f"status must be a non-empty list of HTTP status codes, got {value!r}")
    statuses = frozenset(value)
    if redirect and any(not 300 <= s < 400 for s in statuses):
        raise fail("a location_regex rule applies to 3xx statuses only")
    if not redirect and any(300 <= s < 400 for s in statuses):
        raise fail("3xx answers are judged by location_regex rules, not by their body")
    if outcome == "missing":
        never = sorted(s for s in statuses if s in NEVER_MISSING_STATUSES or s < 200 or s >= 500)
        if never:
            raise fail(f"status {never} is never a deletion: a missing rule cannot apply to it")
    return statuses
