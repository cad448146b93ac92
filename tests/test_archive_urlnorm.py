"""Tests for archive.urlnorm: canonical URLs, domains, http(s) checks."""

from __future__ import annotations

import pytest

from archive.urlnorm import canonical_url, domain_of, is_http_url


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        # scheme and host lower case, path case kept
        ("HTTP://WWW.GlobalTimes.CN/Content/1185.shtml", "http://www.globaltimes.cn/Content/1185.shtml"),
        # default ports dropped, others kept
        ("http://example.org:80/a", "http://example.org/a"),
        ("https://example.org:443/a", "https://example.org/a"),
        ("http://example.org:443/a", "http://example.org:443/a"),
        ("https://127.0.0.1:8765/a", "https://127.0.0.1:8765/a"),
        # fragment dropped
        ("https://example.org/a#comments", "https://example.org/a"),
        # empty path and empty query
        ("https://example.org", "https://example.org/"),
        ("http://x/?", "http://x/"),
        ("http://x/?#top", "http://x/"),
        # IDNA host
        ("https://Bücher.example/Straße", "https://xn--bcher-kva.example/Straße"),
        ("http://新华网.中国/a", "http://xn--xkrr14bows.xn--fiqs8s/a"),
        # surrounding whitespace
        ("  https://example.org/a \n", "https://example.org/a"),
        # IPv6 and user info
        ("http://[::1]:80/a", "http://[::1]/a"),
        ("https://[2001:DB8::1]:8443/a", "https://[2001:db8::1]:8443/a"),
        ("ftp://User:Pw@Example.org/f", "ftp://User:Pw@example.org/f"),
    ],
)
def test_canonical_url_basics(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


@pytest.mark.parametrize(
    "param",
    ["utm_source=rss", "utm_medium=social", "UTM_Campaign=x", "utm_whatever=1", "fbclid=IwAR0",
     "gclid=Cj0", "dclid=1", "yclid=2", "msclkid=3", "mc_cid=4", "mc_eid=5", "igshid=6",
     "_hsenc=7", "_hsmi=8", "spm=a2c4g.11186623", "utm_source"],
)
def test_tracking_parameters_are_removed(param: str) -> None:
    assert canonical_url(f"https://example.org/a?id=7&{param}&page=2") == (
        "https://example.org/a?id=7&page=2"
    )
    assert canonical_url(f"https://example.org/a?{param}") == "https://example.org/a"


def test_other_parameters_keep_their_order_and_encoding() -> None:
    url = "https://example.org/search?q=%E5%93%88+x&b=2&a=1&a=0&utm_source=x&empty=&flag"
    assert canonical_url(url) == "https://example.org/search?q=%E5%93%88+x&b=2&a=1&a=0&empty=&flag"
    assert canonical_url("https://example.org/?a=1&&b=2&") == "https://example.org/?a=1&b=2"
    # parameters that merely look like tracking ones stay
    assert canonical_url("https://example.org/?sspm=1&utm=2&from=3") == (
        "https://example.org/?sspm=1&utm=2&from=3"
    )


def test_wechat_share_parameters_are_removed_only_on_wechat() -> None:
    shared = (
        "https://mp.weixin.qq.com/s?__biz=MzA3MDM3NjE5NQ==&mid=2650871234&idx=1"
        "&sn=5f1e0e2a&chksm=84a6b1c2&scene=21&srcid=0414abc&sharer_sharetime=1586851200"
        "&sharer_shareid=abc&clicktime=1586851300&enterid=1586851300&from=timeline"
        "&isappinstalled=0&ascene=1&devicetype=android-29&version=27000f51&nettype=WIFI"
        "&lang=zh_CN&exportkey=AbC&pass_ticket=xyz&wx_header=1#wechat_redirect"
    )
    assert canonical_url(shared) == (
        "https://mp.weixin.qq.com/s?__biz=MzA3MDM3NjE5NQ==&mid=2650871234&idx=1&sn=5f1e0e2a"
    )
    assert canonical_url("https://MP.WEIXIN.QQ.COM/s/AbCdEf?scene=1") == (
        "https://mp.weixin.qq.com/s/AbCdEf"
    )
    assert canonical_url("https://example.org/a?from=home&lang=en&version=2") == (
        "https://example.org/a?from=home&lang=en&version=2"
    )


def test_canonical_url_is_idempotent_and_never_raises() -> None:
    for url in ("HTTP://Example.org:80/A?utm_source=x&b=1#f", "http://x:99999/", "not a url",
                "", "mailto:someone@example.org", "http://[::1", "//example.org/a"):
        once = canonical_url(url)
        assert canonical_url(once) == once
    assert canonical_url("http://x:99999/a") == "http://x:99999/a"
    assert canonical_url("mailto:someone@example.org") == "mailto:someone@example.org"


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.GlobalTimes.cn/content/1.shtml", "globaltimes.cn"),
        ("http://WWW.example.org:8080/", "example.org"),
        ("https://news.example.org/", "news.example.org"),
        ("https://www2.example.org/", "www2.example.org"),
        ("https://wwwexample.org/", "wwwexample.org"),
        ("https://www.bücher.example/", "xn--bcher-kva.example"),
        ("https://example.org./a", "example.org"),
        ("http://[::1]:8765/a", "::1"),
        ("https://user:pw@www.example.org/", "example.org"),
        ("not a url", ""),
        ("http://x:99999/", ""),
    ],
)
def test_domain_of(url: str, domain: str) -> None:
    assert domain_of(url) == domain


def test_domain_of_agrees_with_canonical_url() -> None:
    url = "HTTPS://WWW.Bücher.example:443/a?utm_source=x"
    assert domain_of(canonical_url(url)) == domain_of(url) == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.org", True),
        ("HTTPS://example.org/a?b=c", True),
        ("https://127.0.0.1:8765/", True),
        ("ftp://example.org/", False),
        ("mailto:someone@example.org", False),
        ("javascript:alert(1)", False),
        ("https:///no-host", False),
        ("example.org/a", False),
        ("http://example.org:99999/", False),
        ("", False),
    ],
)
def test_is_http_url(url: str, expected: bool) -> None:
    assert is_http_url(url) is expected
