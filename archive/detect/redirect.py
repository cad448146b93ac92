"""Redirect judgement for re-checks: is a 3xx the page moving, a wall, or a deletion?

The re-check does not follow redirects; the ``Location`` is the evidence. In order:

1. Location rules from the data files (platform's, then the generic walls): login pages
   (passport.weibo.com, login.sina.com.cn, ``/login``...) are ``blocked``/login_wall, the Sina
   Visitor System a challenge, WeChat's ``wappoc_appmsgcaptcha`` a captcha, consent pages a
   consent wall.
2. A redirect to the very URL asked for (a loop: it never arrives) is ``transient``/
   redirect_unclear (rule ``redirect/loop``). The same page otherwise (http/https, ``www.``
   or not, trailing slash, ``index.html``, tracking parameters): ``alive``/moved.
3. On the same site (same registrable domain, by a small heuristic: the last two labels, three
   under ``com.cn``-style second-level domains):
   a not-found page (``/404.html``, ``/notfound``, ``?code=404``) is ``missing``/soft_404;
   the home page (``/``, ``/index.html``; a query that selects an article, such as WordPress's
   ``/?p=123``, is not home) or a section (a proper prefix of the original path at a ``/``) is
   ``missing``/redirected.
4. A URL with a similar slug, anywhere (a shared id of 5+ digits that is not a date, two or more
   shared slug words making half of them, the same path on a new domain, or slug words taken
   from the last capture's title): ``alive``/moved.
5. Anything else: ``transient``/redirect_unclear. Choice: a redirect to an unrelated page proves
   neither that the page lives (``alive`` would silence a deletion) nor that it was deleted
   (``missing`` would log one we cannot back); it stays under watch and ``detail`` names the
   destination, so a person can decide.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urldefrag, urljoin, urlsplit

from archive.detect.match import match_location
from archive.detect.ruleset import PlatformRules, normalise
from archive.detect.verdict import Verdict
from archive.urlnorm import canonical_url, domain_of

CORE_VERSION = 1
_SECOND_LEVEL = frozenset({"com", "net", "org", "gov", "edu", "co", "ac", "or", "ne", "go"})
_ARTICLE_KEYS = frozenset({
    "p", "id", "aid", "page_id", "articleid", "article_id", "newsid", "news_id", "docid",
    "doc_id", "tid", "nid", "postid", "post_id", "story", "storyid", "mid", "sn",
})
_INDEX_RE = re.compile(r"/(?:index|default)\.[A-Za-z]{2,5}$")
_NOT_FOUND_PATH_RE = re.compile(
    r"(?:^|/)(?:404|notfound|not[-_]found|pagenotfound|page[-_]not[-_]found|error[-_]?404|"
    r"404[-_]?error|nopage|no[-_]page)(?:\.[a-z]{2,5})?$",
    re.IGNORECASE,
)
_NOT_FOUND_QUERY_RE = re.compile(r"(?:^|&)(?:code|status|err|errcode|error)=404(?:&|$)")
_NUMBER_RE = re.compile(r"\d{5,}")
_DATE_RE = re.compile(r"^(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:(?:0[1-9]|[12]\d|3[01]))?$")
_WORD_RE = re.compile(r"[^\W\d_]{2,}")


def core_ref(group: str, name: str) -> str:
    """The ``rule`` of a verdict from the built-in walk, e.g. ``http/404@1``."""
    return f"{group}/{name}@{CORE_VERSION}"


def verdict(outcome: str, reason: str | None, rule: str, detail: str, status: int | None,
            retry_after: float | None = None) -> Verdict:
    return Verdict(outcome=outcome, reason=reason, rule=rule, detail=detail, http_status=status,
                   retry_after=retry_after)


def site_of(host: str) -> str:
    """The registrable part of a host name, by heuristic (no public-suffix list)."""
    host = host.lower().rstrip(".")
    if ":" in host or host.replace(".", "").isdigit():
        return host  # an IP address
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def same_site(host_a: str, host_b: str) -> bool:
    return bool(host_a) and site_of(host_a) == site_of(host_b)


class _Place:
    """A URL reduced to what the redirect judgement compares."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(canonical_url(url))
        self.host = domain_of(url)
        path = _INDEX_RE.sub("/", parts.path or "/")
        self.path = path.rstrip("/")
        self.query = parts.query
        self.key = (self.host, self.path, self.query)
        self.params = parse_qsl(parts.query, keep_blank_values=False)
        segments = [s for s in unquote(self.path).split("/") if s]
        slug = re.sub(r"\.[A-Za-z0-9]{1,6}$", "", segments[-1]) if segments else ""
        self.words = set(_WORD_RE.findall(normalise(slug.replace("_", " "))))
        self.ids = {n for n in _NUMBER_RE.findall(self.path + "?" + self.query)
                    if not _DATE_RE.match(n)}
        self.ids |= {f"{k}={v}" for k, v in self.params if k.lower() in _ARTICLE_KEYS}

    @property
    def selects_article(self) -> bool:
        return any(k.lower() in _ARTICLE_KEYS for k, _ in self.params)

    @property
    def is_home(self) -> bool:
        return self.path == "" and not self.selects_article


def judge_redirect(url: str, location: str | None, status: int, rules: PlatformRules,
                   previous_title: str | None) -> Verdict:
    """The verdict on a 3xx answer to ``url`` (see the module docstring)."""
    if not location or not location.strip():
        return verdict("transient", "redirect_no_location", core_ref("redirect", "no-location"),
                       f"HTTP {status} without a Location header", status)
    target = urljoin(url, location.strip())
    for rule in (*rules.walls, *rules.deletions, *rules.fallbacks):
        if found := match_location(rule, target, status):
            return verdict(rule.outcome, rule.reason, rule.ref, f"HTTP {status}; {found}", status)
    src, dst = _Place(url), _Place(target)
    where = f"HTTP {status} to {target}"
    if urldefrag(target)[0] == urldefrag(url)[0]:
        return verdict("transient", "redirect_unclear", core_ref("redirect", "loop"),
                       f"{where}: a redirect to itself (a loop)", status)
    if src.key == dst.key:
        return verdict("alive", "moved", core_ref("redirect", "same-page"),
                       f"{where}: the same page", status)
    if same_site(src.host, dst.host):
        if _NOT_FOUND_PATH_RE.search(dst.path) or _NOT_FOUND_QUERY_RE.search(dst.query):
            return verdict("missing", "soft_404", core_ref("redirect", "not-found"),
                           f"{where}: the site's not-found page", status)
        if dst.is_home and not src.is_home:
            return verdict("missing", "redirected", core_ref("redirect", "home"),
                           f"{where}: the site's home page", status)
        if (dst.path and src.path.startswith(dst.path + "/") and not dst.selects_article):
            return verdict("missing", "redirected", core_ref("redirect", "section"),
                           f"{where}: a section page above the original", status)
    if _similar(src, dst, previous_title):
        return verdict("alive", "moved", core_ref("redirect", "similar"),
                       f"{where}: looks like the same article at a new address", status)
    return verdict("transient", "redirect_unclear", core_ref("redirect", "unclear"),
                   f"{where}: an unrelated page; neither alive nor deleted as far as we can tell",
                   status)


def _similar(src: _Place, dst: _Place, previous_title: str | None) -> bool:
    if dst.is_home:
        return False
    if src.path and src.path == dst.path and src.query == dst.query:
        return True  # the same path on a new domain
    if src.ids & dst.ids:
        return True
    shared = src.words & dst.words
    if len(shared) >= 2 and len(shared) * 2 >= len(src.words | dst.words):
        return True
    if previous_title and dst.words:
        title_words = set(_WORD_RE.findall(normalise(previous_title)))
        in_title = dst.words & title_words
        return len(in_title) >= 2 and len(in_title) * 2 >= len(dst.words)
    return False
