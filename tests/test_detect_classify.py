"""Tests for archive.detect.classify: re-check answers to verdicts, rules as data, the soft-404
probe.

Fixture pages in tests/data/tombstones/ are built from the platforms' markup (WeChat weui-msg and
global_error_msg, Weibo's h5-4con error page and mobile JSON API, Telegram embeds and channel
cards, Cloudflare, portals). Nothing here talks to the network.
"""

from __future__ import annotations

import importlib.resources
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from archive.detect.classify import classify, is_probe_match, probe_url
from archive.detect.ruleset import (
    REASONS,
    RULE_OUTCOMES,
    RuleError,
    build_rule_set,
    load_rules,
    parse_rule_file,
)
from archive.detect.verdict import Observation, SiteProbe, Verdict
from archive.platforms.registry import platform_for
from archive.text.extract import fast_page_text

DATA = Path(__file__).parent / "data" / "tombstones"
DESIGN_REASONS = {"gone", "censored", "author_deleted", "account_gone", "restricted",
                  "redirected", "soft_404", "unknown"}

WECHAT = "https://mp.weixin.qq.com/s/qP4fY0kq1bVvZ3a"
WEIBO = "https://m.weibo.cn/detail/4501234567890123"
WEIBO_API = "https://m.weibo.cn/statuses/show?id=4501234567890123"
TG_POST = "https://t.me/kz_border_news/1873?embed=1"
TG_CHANNEL = "https://t.me/kz_border_news"
PORTAL = "https://news.example.cn/world/2020/04/14/1234.shtml"
NEWS = "https://www.example.kz/2020/04/14/kazakhstan-eager-to-return.html"
HTML = (("Content-Type", "text/html; charset=utf-8"),)
JSON = (("Content-Type", "application/json; charset=utf-8"),)
PLATFORM_URLS = {"news": NEWS, "wechat": WECHAT, "weibo": WEIBO, "telegram": TG_POST}


def body(name: str) -> bytes:
    return (DATA / name).read_bytes()


def fixture(name: str, url: str, status: int = 200, **kwargs) -> Observation:
    headers = JSON if name.endswith(".json") else HTML
    if name.endswith("_gbk.html"):
        headers = (("Content-Type", "text/html"),)
    return Observation(url=url, status=status, headers=kwargs.pop("headers", headers),
                       body=body(name), **kwargs)


def redirect(url: str, location: str | None, status: int = 302, **kwargs) -> Observation:
    return Observation(url=url, status=status, location=location, **kwargs)


def probe_of(name: str, url: str, status: int = 200, edit=lambda b: b) -> SiteProbe:
    page = fast_page_text(edit(body(name)), "text/html")
    return SiteProbe(status=status, final_url=url, title=page.title, text=page.text)


# The portal answers a random sibling URL with its home page (a headline changed in between).
HOME_PROBE = probe_of(
    "portal_home.html", "https://news.example.cn/world/2020/04/14/mh-probe-1.shtml",
    edit=lambda b: b.replace("塔什干地铁新线开通运营".encode(), "棉花出口增加".encode()),
)

# (case id, observation, outcome, reason, rule)
CASES: list[tuple[str, Observation, str, str | None, str]] = [
    # WeChat
    ("wechat-violation", fixture("wechat_violation.html", WECHAT), "missing", "censored",
     "wechat/violation@2"),
    ("wechat-violation-legacy", fixture("wechat_violation_legacy.html", WECHAT), "missing",
     "censored", "wechat/violation@2"),
    ("wechat-author", fixture("wechat_author_deleted.html", WECHAT), "missing", "author_deleted",
     "wechat/publisher-deleted@2"),
    ("wechat-privacy", fixture("wechat_privacy.html", WECHAT), "missing", "restricted",
     "wechat/privacy@2"),
    ("wechat-banned", fixture("wechat_account_banned.html", WECHAT), "missing", "account_gone",
     "wechat/account-gone@2"),
    ("wechat-closed", fixture("wechat_account_closed.html", WECHAT), "missing", "account_gone",
     "wechat/account-gone@2"),
    ("wechat-expired", fixture("wechat_expired.html", WECHAT), "missing", "unknown",
     "wechat/expired-link@2"),
    ("wechat-migrated", fixture("wechat_migrated.html", WECHAT), "blocked", "account_migrated",
     "wechat/account-migrated@2"),
    ("wechat-captcha", fixture("wechat_captcha.html", WECHAT), "blocked", "captcha",
     "wechat/captcha-link@2"),
    ("wechat-client-only", fixture("wechat_client_only.html", WECHAT), "blocked", "client_only",
     "wechat/client-only@2"),
    ("wechat-unknown-notice", fixture("wechat_unknown_notice.html", WECHAT), "transient",
     "unrecognized_notice", "wechat/unrecognized-notice@2"),
    ("wechat-article", fixture("wechat_article.html", WECHAT), "alive", None, "page/alive@1"),
    # walls and notices a script writes: no element holds the words, the source does
    ("wechat-verify-written", fixture("wechat_verify_written.html", WECHAT, had_text=True),
     "blocked", "captcha", "wechat/captcha-notice@2"),
    ("wechat-rate-limited-written", fixture("wechat_rate_limited_written.html", WECHAT,
                                            had_text=True),
     "transient", "rate_limited", "wechat/rate-limited@2"),
    ("wechat-violation-written", fixture("wechat_violation_written.html", WECHAT),
     "missing", "censored", "wechat/violation@2"),
    # tombstones served with 200: the portals' wordings, in the page's main text
    ("portal-deleted-page", fixture("portal_deleted_page.html", PORTAL), "missing", "unknown",
     "news/deleted-notice@2"),
    ("news-deleted-ru", fixture("news_deleted_ru.html", NEWS), "missing", "unknown",
     "news/deleted-notice@2"),
    ("news-not-found-kk", fixture("news_deleted_kk.html", NEWS), "missing", "soft_404",
     "news/not-found-notice@2"),
    # a page with no text and no article where an article was: never alive
    ("news-empty-replacement", fixture("news_empty_replacement.html", PORTAL, had_text=True),
     "transient", "empty_replacement", "page/empty-replacement@1"),
    ("wechat-empty-replacement", fixture("news_empty_replacement.html", WECHAT, had_text=True),
     "transient", "empty_replacement", "page/empty-replacement@1"),
    ("telegram-empty-replacement", fixture("news_empty_replacement.html", TG_POST,
                                           had_text=True),
     "transient", "empty_replacement", "page/empty-replacement@1"),
    ("weibo-empty-replacement", fixture("news_empty_replacement.html", WEIBO, had_text=True),
     "transient", "empty_replacement", "page/empty-replacement@1"),
    ("wechat-captcha-redirect",
     redirect(WECHAT, "https://mp.weixin.qq.com/mp/wappoc_appmsgcaptcha?poc_token=x&target_url=y"),
     "blocked", "captcha", "wechat/captcha-redirect@2"),
    # Weibo: the error page and the mobile JSON API
    ("weibo-censored", fixture("weibo_censored.html", WEIBO), "missing", "censored",
     "weibo/censored@1"),
    ("weibo-author", fixture("weibo_author_deleted.html", WEIBO), "missing", "author_deleted",
     "weibo/author-deleted@1"),
    ("weibo-account", fixture("weibo_account_gone.html", WEIBO), "missing", "account_gone",
     "weibo/account-gone@1"),
    ("weibo-restricted", fixture("weibo_restricted.html", WEIBO), "missing", "restricted",
     "weibo/restricted@1"),
    ("weibo-half-year", fixture("weibo_half_year.html", WEIBO), "missing", "restricted",
     "weibo/restricted@1"),
    ("weibo-restricted-403", fixture("weibo_restricted.html", WEIBO, 403), "missing",
     "restricted", "weibo/restricted@1"),
    ("weibo-not-available", fixture("weibo_not_available.html", WEIBO), "missing", "unknown",
     "weibo/not-available@1"),
    ("weibo-busy", fixture("weibo_busy.html", WEIBO), "transient", "platform_error",
     "weibo/busy@1"),
    ("weibo-no-data", fixture("weibo_no_data.html", WEIBO), "transient", "unrecognized_notice",
     "weibo/unrecognized-notice@1"),
    ("weibo-visitor", fixture("weibo_visitor.html", WEIBO), "blocked", "challenge",
     "weibo/visitor-system@1"),
    ("weibo-api-censored", fixture("weibo_api_censored.json", WEIBO_API), "missing", "censored",
     "weibo/api-censored@1"),
    ("weibo-api-deleted-stub", fixture("weibo_api_deleted_stub.json", WEIBO_API), "missing",
     "author_deleted", "weibo/api-author-deleted@1"),
    ("weibo-api-restricted", fixture("weibo_api_restricted.json", WEIBO_API), "missing",
     "restricted", "weibo/api-restricted@1"),
    ("weibo-api-account", fixture("weibo_api_account_gone.json", WEIBO_API), "missing",
     "account_gone", "weibo/api-account-gone@1"),
    ("weibo-api-login", fixture("weibo_api_login.json", WEIBO_API), "blocked", "login_wall",
     "weibo/api-login@1"),
    ("weibo-api-rate", fixture("weibo_api_rate_limited.json", WEIBO_API), "transient",
     "rate_limited", "weibo/api-rate-limited@1"),
    ("weibo-api-unknown", fixture("weibo_api_unknown_error.json", WEIBO_API), "transient",
     "api_error", "weibo/api-error@1"),
    ("weibo-api-repost-of-deleted", fixture("weibo_api_repost_of_deleted.json", WEIBO_API),
     "alive", None, "page/alive@1"),
    ("weibo-api-json-as-html",
     fixture("weibo_api_censored.json", WEIBO_API, headers=(("Content-Type", "text/html"),)),
     "missing", "censored", "weibo/api-censored@1"),
    ("weibo-visitor-redirect",
     redirect(WEIBO, "https://passport.weibo.com/visitor/visitor?entry=miniblog&a=enter"),
     "blocked", "challenge", "weibo/visitor-redirect@1"),
    ("weibo-login-redirect", redirect(WEIBO, "https://passport.weibo.com/signin/login?r=x"),
     "blocked", "login_wall", "weibo/login-redirect@1"),
    ("weibo-sina-login-redirect",
     redirect("https://weibo.com/1234567890/JbCdEfGhI",
              "https://login.sina.com.cn/sso/login.php?url=https%3A%2F%2Fweibo.com"),
     "blocked", "login_wall", "weibo/login-redirect@1"),
    # Telegram
    ("tg-post-not-found", fixture("telegram_post_not_found.html", TG_POST), "missing", "gone",
     "telegram/post-not-found@1"),
    ("tg-post-not-found-ru", fixture("telegram_post_not_found_ru.html", TG_POST), "missing",
     "gone", "telegram/post-not-found@1"),
    ("tg-post", fixture("telegram_post.html", TG_POST), "alive", None, "page/alive@1"),
    ("tg-channel-tos", fixture("telegram_channel_tos.html", TG_CHANNEL), "missing", "censored",
     "telegram/terms-of-service@1"),
    ("tg-channel-local-laws", fixture("telegram_channel_local_laws.html", TG_CHANNEL), "blocked",
     "geo_blocked", "telegram/local-laws@1"),
    ("tg-channel-gone", fixture("telegram_channel_gone.html", TG_CHANNEL), "missing",
     "account_gone", "telegram/channel-gone@1"),
    ("tg-channel", fixture("telegram_channel.html", TG_CHANNEL), "alive", None, "page/alive@1"),
    ("tg-preview-off", redirect("https://t.me/s/kz_border_news", "https://t.me/kz_border_news"),
     "blocked", "preview_unavailable", "telegram/preview-unavailable@1"),
    # Generic walls, on any platform
    ("cloudflare-challenge-403", fixture("cloudflare_challenge.html", NEWS, 403), "blocked",
     "challenge", "news/cloudflare-challenge@2"),
    ("cloudflare-challenge-on-wechat", fixture("cloudflare_challenge.html", WECHAT), "blocked",
     "challenge", "news/cloudflare-challenge@2"),
    ("cloudflare-blocked", fixture("cloudflare_blocked.html", NEWS, 403), "blocked", "challenge",
     "news/cloudflare-blocked@2"),
    ("captcha-page", fixture("captcha_page.html", NEWS), "blocked", "captcha",
     "news/human-check@2"),
    ("login-page", fixture("login_page.html", NEWS), "blocked", "login_wall",
     "news/login-form@2"),
    ("geo-page", fixture("news_geo_blocked.html", NEWS), "blocked", "geo_blocked",
     "news/geo-unavailable@2"),
    ("login-redirect", redirect(NEWS, "https://www.example.kz/login?next=%2F2020%2F04%2F14"),
     "blocked", "login_wall", "news/login-redirect@2"),
    ("consent-redirect", redirect(NEWS, "https://consent.example.kz/?continue=x"), "blocked",
     "consent_wall", "news/consent-redirect@2"),
    # News and portals
    ("portal-censored-gbk", fixture("portal_censored_gbk.html", PORTAL), "missing", "censored",
     "news/legal-block@2"),
    ("portal-censored-404", fixture("portal_censored_gbk.html", PORTAL, 404), "missing",
     "censored", "news/legal-block@2"),
    ("portal-deleted", fixture("portal_deleted.html", PORTAL), "missing", "unknown",
     "news/deleted-notice@2"),
    ("news-removed", fixture("news_removed.html", NEWS), "missing", "author_deleted",
     "news/publisher-removed@2"),
    ("portal-not-found-200", fixture("portal_not_found.html", PORTAL), "missing", "soft_404",
     "news/not-found-heading@2"),
    ("portal-not-found-plain-200", fixture("portal_not_found_plain.html", PORTAL), "missing",
     "soft_404", "news/not-found-notice@2"),
    ("portal-home-probe-match", fixture("portal_home.html", PORTAL, probe=HOME_PROBE), "missing",
     "soft_404", "probe/match@1"),
    ("portal-article-probe", fixture("portal_article.html", PORTAL, probe=HOME_PROBE), "alive",
     None, "page/alive@1"),
    ("news-article", fixture("news_article.html", NEWS), "alive", None, "page/alive@1"),
    # HTTP statuses
    ("404", Observation(NEWS, 404, HTML, b"<h1>Not Found</h1>"), "missing", "gone", "http/404@1"),
    ("410", Observation(NEWS, 410), "missing", "gone", "http/410@1"),
    ("404-login-box", fixture("login_page.html", NEWS, 404), "missing", "gone", "http/404@1"),
    ("451", Observation(NEWS, 451), "blocked", "geo_blocked", "http/451@1"),
    ("429", Observation(NEWS, 429, (("Retry-After", "120"),)), "transient", "rate_limited",
     "http/429@1"),
    ("500", Observation(NEWS, 500), "transient", "http_5xx", "http/5xx@1"),
    ("502", Observation(NEWS, 502, HTML, b"<h1>502 Bad Gateway</h1>"), "transient", "http_5xx",
     "http/5xx@1"),
    ("503", Observation(NEWS, 503, (("Retry-After", "30"),)), "transient", "http_5xx",
     "http/5xx@1"),
    ("403", Observation(NEWS, 403, HTML, b"<h1>Forbidden</h1>"), "blocked", "challenge",
     "http/403@1"),
    ("401", Observation(NEWS, 401), "blocked", "login_wall", "http/401@1"),
    ("400", Observation(NEWS, 400), "transient", "http_4xx", "http/4xx@1"),
    ("304", Observation(NEWS, 304), "alive", "not_modified", "http/304@1"),
    ("empty-200", Observation(NEWS, 200, HTML, b""), "transient", "empty_body", "body/empty@1"),
    ("blank-200", Observation(NEWS, 200, HTML, b" \r\n\t "), "transient", "empty_body",
     "body/empty@1"),
    ("truncated", fixture("wechat_violation.html", WECHAT, truncated=True), "transient",
     "truncated", "body/truncated@1"),
    ("data-loss", fixture("weibo_censored.html", WEIBO, error="PotentialDataLoss"), "transient",
     "truncated", "body/truncated@1"),
    # Redirects
    ("to-home", redirect(PORTAL, "https://news.example.cn/"), "missing", "redirected",
     "redirect/home@1"),
    ("to-home-relative", redirect(PORTAL, "/index.html", 301), "missing", "redirected",
     "redirect/home@1"),
    ("to-sibling-home", redirect(PORTAL, "https://www.example.cn/"), "missing", "redirected",
     "redirect/home@1"),
    ("to-section", redirect(PORTAL, "https://news.example.cn/world/"), "missing", "redirected",
     "redirect/section@1"),
    ("to-not-found", redirect(PORTAL, "https://news.example.cn/404.html"), "missing", "soft_404",
     "redirect/not-found@1"),
    ("to-https", redirect(NEWS.replace("https:", "http:"), NEWS, 301), "alive", "moved",
     "redirect/same-page@1"),
    ("to-itself", redirect(NEWS, NEWS + "#top", 302), "transient", "redirect_unclear",
     "redirect/loop@1"),
    ("to-www-slash", redirect("https://example.kz/a/story", "https://www.example.kz/a/story/"),
     "alive", "moved", "redirect/same-page@1"),
    ("to-similar-slug",
     redirect(NEWS, "https://www.example.kz/politics/2020/04/15/kazakhstan-eager-to-return-to-china"),
     "alive", "moved", "redirect/similar@1"),
    ("to-same-id", redirect(PORTAL.replace("1234", "4501234"), "https://m.example.cn/a/4501234"),
     "alive", "moved", "redirect/similar@1"),
    ("to-new-domain", redirect(NEWS, NEWS.replace("example.kz", "example-news.kz")), "alive",
     "moved", "redirect/similar@1"),
    ("to-slug-from-title",
     redirect("https://blog.example.kz/?p=4312", "https://blog.example.kz/2020/04/eager-return-china/",
              previous_title="Is Kazakhstan eager to return to China?"),
     "alive", "moved", "redirect/similar@1"),
    ("to-unrelated", redirect(NEWS, "https://www.example.kz/2020/05/01/weather-report.html"),
     "transient", "redirect_unclear", "redirect/unclear@1"),
    ("to-wordpress-post", redirect(NEWS, "https://www.example.kz/?p=99"), "transient",
     "redirect_unclear", "redirect/unclear@1"),
    ("to-other-site-home", redirect(NEWS, "https://parked.example.com/"), "transient",
     "redirect_unclear", "redirect/unclear@1"),
    ("no-location", redirect(NEWS, None), "transient", "redirect_no_location",
     "redirect/no-location@1"),
]


@pytest.mark.parametrize(("obs", "outcome", "reason", "rule"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify(obs: Observation, outcome: str, reason: str | None, rule: str) -> None:
    verdict = classify(obs)
    assert (verdict.outcome, verdict.reason, verdict.rule) == (outcome, reason, rule), verdict
    assert verdict.http_status == obs.status
    assert verdict.detail and "\n" not in verdict.detail


def test_every_design_reason_is_produced() -> None:
    produced = {classify(c[1]).reason for c in CASES if c[2] == "missing"}
    assert DESIGN_REASONS <= produced, DESIGN_REASONS - produced
    assert set(REASONS["missing"]) == DESIGN_REASONS


def test_retry_after() -> None:
    assert classify(Observation(NEWS, 429, (("Retry-After", "120"),))).retry_after == 120.0
    assert classify(Observation(NEWS, 503, (("retry-after", "30"),))).retry_after == 30.0
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    seconds = classify(Observation(NEWS, 429, (("Retry-After", later),))).retry_after
    assert seconds is not None and 500 < seconds <= 600
    assert classify(Observation(NEWS, 429, (("Retry-After", "soon"),))).retry_after is None
    challenge = classify(fixture("cloudflare_challenge.html", NEWS, 503,
                                 headers=(*HTML, ("Retry-After", "15"))))
    assert (challenge.outcome, challenge.reason, challenge.retry_after) == ("blocked",
                                                                            "challenge", 15.0)
    assert classify(Observation(NEWS, 500, (("Retry-After", "15"),))).retry_after is None


TRANSPORT = [
    ("TimeoutError", "timeout"), ("TCPTimedOutError", "timeout"), ("DNSLookupError", "dns"),
    ("ConnectionRefusedError", "refused"), ("ConnectionLost", "reset"),
    ("ResponseNeverReceived", "reset"), ("ResponseFailed", "reset"), ("SSLError", "tls"),
    ("TLSError", "tls"), ("NoRouteError", "connect"), ("ConnectError", "connect"),
    ("SomethingOdd", "transport"), (None, "no_response"),
]


@pytest.mark.parametrize(("error", "reason"), TRANSPORT)
def test_transport_errors(error: str | None, reason: str) -> None:
    verdict = classify(Observation(url=NEWS, status=None, error=error))
    assert (verdict.outcome, verdict.reason, verdict.rule) == ("transient", reason,
                                                               f"transport/{reason}@1")
    assert verdict.http_status is None


def _never_deletions() -> list[tuple[str, Observation]]:
    cases: list[tuple[str, Observation]] = []
    notices = sorted(p.name for p in DATA.iterdir())
    for platform, url in PLATFORM_URLS.items():
        def add(name: str, obs: Observation, platform: str = platform) -> None:
            cases.append((f"{platform}-{name}", replace(obs, platform=platform)))

        for error, _ in TRANSPORT:
            add(f"transport-{error}", Observation(url, None, error=error))
        for status in (401, 407, 408, 429, 451, 500, 502, 503, 504, 520):
            add(f"http-{status}", Observation(url, status, HTML, body("wechat_violation.html")))
            add(f"http-{status}-weibo-notice",
                Observation(url, status, HTML, body("weibo_censored.html")))
        add("empty", Observation(url, 200, HTML, b""))
        for name in notices:  # every deletion notice, cut short or lost mid-body
            add(f"truncated-{name}", fixture(name, url, truncated=True))
            add(f"data-loss-{name}", fixture(name, url, error="ConnectionLost"))
        for name in ("wechat_captcha.html", "cloudflare_challenge.html", "cloudflare_blocked.html",
                     "captcha_page.html", "login_page.html", "weibo_visitor.html",
                     "news_geo_blocked.html", "telegram_channel_local_laws.html",
                     "wechat_migrated.html", "weibo_api_login.json"):
            for status in (200, 403, 429, 503):
                add(f"wall-{name}-{status}", fixture(name, url, status))
        add("http-403", Observation(url, 403))
        for location in ("https://passport.weibo.com/visitor/visitor?a=enter",
                         "https://login.sina.com.cn/sso/login.php", "/login?next=/a",
                         "https://mp.weixin.qq.com/mp/wappoc_appmsgcaptcha?x=1",
                         "https://consent.example.kz/", "/cdn-cgi/challenge-platform/h/g"):
            add(f"redirect-{location}", redirect(url, location))
    return cases


NEVER_DELETIONS = _never_deletions()


@pytest.mark.parametrize("obs", [c[1] for c in NEVER_DELETIONS],
                         ids=[c[0] for c in NEVER_DELETIONS])
def test_never_a_deletion(obs: Observation) -> None:
    verdict = classify(obs)
    assert verdict.outcome in ("blocked", "transient"), verdict
    # ... even when a soft-404 probe got the very same answer (a wall in front of the site).
    page = fast_page_text(obs.body, "text/html")
    probe = SiteProbe(200, probe_url(obs.url, "0a1b"), page.title, page.text)
    assert classify(replace(obs, probe=probe)).outcome in ("blocked", "transient")


def test_quoted_notices_in_articles_are_not_deletions() -> None:
    # A short article (well under every max_text) that quotes notices in its paragraphs.
    paragraphs = "".join(
        f"<p>The old link now shows “{notice}”, according to readers who wrote to us.</p>"
        for notice in ("该文章已被删除", "This article has been removed", "页面不存在",
                       "因涉嫌违反相关法律法规和政策，该内容已被屏蔽",
                       "not available in your country")
    )
    page = f"<html><head><title>Readers report vanished links</title></head><body><article>" \
           f"<h1>Readers report vanished links</h1>{paragraphs}</article></body></html>"
    verdict = classify(Observation(NEWS, 200, HTML, page.encode()))
    assert (verdict.outcome, verdict.rule) == ("alive", "page/alive@1"), verdict
    headline = "<html><head><title>Why 404 pages matter | Daily</title></head><body><article>" \
               "<h1>Page not found: the web forgets Central Asia, and fast</h1>" + \
               "<p>" + "A long story. " * 120 + "</p></article></body></html>"
    assert classify(Observation(NEWS, 200, HTML, headline.encode())).outcome == "alive"


# ---------------------------------------------------------------------------- soft-404 probe


def test_probe_guards() -> None:
    home = fixture("portal_home.html", PORTAL, probe=HOME_PROBE)
    assert classify(home).reason == "soft_404"
    same_title = replace(home, previous_title="中亚资讯网 - 中亚新闻门户")
    assert classify(same_title).outcome == "alive"  # the page still carries its old title
    watched_home = replace(home, url="https://news.example.cn/")
    assert classify(watched_home).outcome == "alive"  # a probe says nothing about a home page
    elsewhere = replace(home, probe=replace(HOME_PROBE, final_url="https://portal.example.com/"))
    assert classify(elsewhere).outcome == "alive"
    probe_404 = replace(home, probe=replace(HOME_PROBE, status=404))
    assert classify(probe_404).outcome == "alive"
    shell = b"<html><head><title>App</title></head><body><div id=root></div></body></html>"
    spa = Observation(PORTAL, 200, HTML, shell, probe=SiteProbe(200, None, "App", ""))
    assert classify(spa).outcome == "alive"  # no text on either side proves nothing


def test_is_probe_match() -> None:
    probe = SiteProbe(200, "https://ex.com/a/mh-probe-1f2e.html", "Not Found",
                      "The page /a/mh-probe-1f2e.html was not found on this server.\nGo home")
    assert is_probe_match("The page /a/story-123.html was not found on this server.\nGo home",
                          "Not Found", probe)
    assert not is_probe_match("The page was not found", "Not Found", replace(probe, status=404))
    assert not is_probe_match("Kazakhstan border trade grew 12% in April, customs data show.",
                              "Border trade grows", probe)
    assert not is_probe_match("The page /a/b was not found on this server. Go home", "Story",
                              probe)
    assert not is_probe_match("", None, replace(probe, text=""))
    headlines = "要闻 霍尔果斯口岸四月货运量创新高 {}"
    assert is_probe_match(headlines.format("2020-04-02"), None,
                          SiteProbe(200, None, None, headlines.format("2020-04-03")))


def test_probe_url() -> None:
    url = "https://news.example.cn:8443/world/2020/04/14/1234.shtml?from=rss#top"
    first, second = probe_url(url, "a1b2c3"), probe_url(url, "d4e5f6")
    assert first == "https://news.example.cn:8443/world/2020/04/14/mh-probe-a1b2c3.shtml"
    assert first != second
    assert probe_url("https://ex.com/news/story/", "x") == "https://ex.com/news/mh-probe-x/"
    assert probe_url("https://ex.com/", "x") == "https://ex.com/mh-probe-x"
    assert probe_url("https://mp.weixin.qq.com/s?__biz=Mz&mid=1", "x") == \
        "https://mp.weixin.qq.com/mh-probe-x"
    assert probe_url("https://ex.com/a/b", "x y") == "https://ex.com/a/mh-probe-x%20y"


@pytest.mark.parametrize(("url", "declared", "platform"), [
    ("https://mp.weixin.qq.com/s/abc", None, "wechat"),
    ("https://weibo.com/1234/JbC", None, "weibo"),
    ("https://www.weibo.com/1234/JbC", None, "weibo"),
    ("https://weibo.cn/comment/JbC", None, "weibo"),
    ("https://m.weibo.cn/detail/45", None, "weibo"),
    ("https://t.me/s/kz_news", None, "telegram"),
    ("https://telegram.me/kz_news/5", None, "telegram"),
    ("https://www.example.kz/a.html", None, "news"),
    ("https://notweibo.com/a", None, "news"),
    ("https://t.me/kz_news", "news", "news"),
    ("https://www.example.kz/a.html", "WeChat", "wechat"),
])
def test_platform_for(url: str, declared: str | None, platform: str) -> None:
    assert platform_for(url, declared) == platform


def test_unknown_declared_platform_uses_generic_rules() -> None:
    obs = replace(fixture("portal_deleted.html", PORTAL), platform="forum")
    assert classify(obs).rule == "news/deleted-notice@2"


# ------------------------------------------------------------------------------- rules as data


def test_rule_files_load_with_unique_ids_and_a_version() -> None:
    rules = load_rules()
    files = sorted(e.name for e in importlib.resources.files("archive.detect.rules").iterdir()
                   if e.name.endswith(".toml"))
    assert files == ["news.toml", "telegram.toml", "wechat.toml", "weibo.toml"]
    assert sorted(rules.platforms) == ["news", "telegram", "wechat", "weibo"]
    for rule_file in rules.files:
        assert isinstance(rule_file.version, int) and rule_file.version >= 1
        ids = [rule.id for rule in rule_file.rules]
        assert len(ids) == len(set(ids)), rule_file.platform
        for rule in rule_file.rules:
            assert rule.outcome in RULE_OUTCOMES
            assert rule.reason in REASONS[rule.outcome]
            assert re.fullmatch(r"[a-z]+/[a-z0-9_-]+@\d+", rule.ref)
    assert load_rules() is rules  # cached


def test_structure_rules_come_before_wording_rules_on_wechat() -> None:
    wechat = load_rules().get("wechat")
    assert wechat is not None
    assert all(rule.css for rule in wechat.rules if rule.outcome == "missing")


GOOD_RULE = 'id = "x"\noutcome = "missing"\nreason = "censored"\ncss = ".notice"\n'


@pytest.mark.parametrize(("text", "message"), [
    ('version = 1\nplatform = "demo"\n[[rule]]\n' + GOOD_RULE.replace("censored", "vanished"),
     "rule 'x': reason 'vanished' is not allowed for outcome 'missing'"),
    ('version = 1\nplatform = "demo"\n[[rule]]\n' + GOOD_RULE.replace('"missing"', '"gone"'),
     "rule 'x': outcome 'gone'"),
    ('version = 1\nplatform = "demo"\n[[rule]]\n' + GOOD_RULE + '[[rule]]\n' + GOOD_RULE,
     "rule 'x': duplicate id"),
    ('platform = "demo"\n[[rule]]\n' + GOOD_RULE, "'version' must be a positive integer"),
    ('version = 1\nplatform = "demo"\n[[rule]]\n' + GOOD_RULE + "status = [503]\n",
     "rule 'x': status [503] is never a deletion"),
    ('version = 1\nplatform = "demo"\n[[rule]]\n' + GOOD_RULE + "status = [429, 200]\n",
     "rule 'x': status [429] is never a deletion"),
    ('version = 1\nplatform = "demo"\n[[rule]]\n' + GOOD_RULE.replace(".notice", "a:hover"),
     "rule 'x': unsupported CSS selector"),
    ('version = 1\nplatform = "demo"\n[[rule]]\n' + GOOD_RULE + "text_contain = ['a']\n",
     "rule 'x': unknown key(s) ['text_contain']"),
    ('version = 1\nplatform = "demo"\n[[rule]]\n' + GOOD_RULE + "text_regex = ['(']\n",
     "rule 'x': text_regex '(' is not a valid regex"),
    ('version = 1\nplatform = "demo"\n[[rule]]\nid = "x"\noutcome = "blocked"\n'
     'reason = "captcha"\n', "rule 'x': no condition"),
    ('version = 1\nplatform = "demo"\n[[rule]]\n' + GOOD_RULE.replace(".notice", "")
     .replace('css = ""\n', 'location_regex = ["/"]\n') + "status = [200]\n",
     "rule 'x': a location_regex rule applies to 3xx statuses only"),
    ('version = 1\nplatform = "demo"\n[[rule]]\n' + GOOD_RULE + 'stage = "fallback"\n',
     "rule 'x': stage 'fallback' does not fit outcome 'missing'"),
    ('version = 1\nplatform = "demo"\n[[rule]]\nid = "Bad Id"\n', "rule #1: 'id' must match"),
    ("version = 1\nplatform = 'demo'\n[[rule\n", "not valid TOML"),
])
def test_invalid_rules_are_refused_naming_file_and_rule(text: str, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule_file(text, "rules/demo.toml")
    assert str(caught.value).startswith("rules/demo.toml: ")
    assert message in str(caught.value)


def test_custom_ruleset_and_duplicate_platforms() -> None:
    demo = parse_rule_file('version = 3\nplatform = "news"\n[[rule]]\n' + GOOD_RULE
                         + 'text_contains = ["Gone for good"]\n', "demo/news.toml")
    rules = build_rule_set([demo])
    page = b"<html><body><div class='notice'>Gone  for GOOD.</div></body></html>"
    verdict = classify(Observation(NEWS, 200, HTML, page), rules)
    assert (verdict.outcome, verdict.reason, verdict.rule) == ("missing", "censored", "news/x@3")
    assert isinstance(verdict, Verdict)
    with pytest.raises(RuleError, match="already defined"):
        build_rule_set([demo, demo])


def test_an_empty_page_is_a_replacement_only_where_an_article_was() -> None:
    """No text and no article container: a replacement when the last capture had text; a
    page that never had any (a script-built app) stays alive; a WeChat page that still has its
    article container (an article of images) is alive."""
    assert classify(fixture("news_empty_replacement.html", PORTAL)).outcome == "alive"
    images_only = (b'<html><body><div id="js_content"><img src="a.jpg"></div></body></html>')
    obs = Observation(url=WECHAT, status=200, headers=HTML, body=images_only, had_text=True)
    assert classify(obs).outcome == "alive"


def test_words_in_a_live_article_s_scripts_are_not_a_wall() -> None:
    """The source rules hold only where the article is absent: a live article whose scripts
    carry the wall's words (an error handler) stays alive."""
    article = body("wechat_article.html").replace(
        b"</body>", "<script>var tips = '访问过于频繁 验证身份 此内容因违规无法查看';</script>"
        "</body>".encode())
    obs = Observation(url=WECHAT, status=200, headers=HTML, body=article, had_text=True)
    assert classify(obs).outcome == "alive"
