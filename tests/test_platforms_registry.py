"""archive.platforms.registry: the one table of platforms the config, the classifier, the
archive writer and the spiders read."""

from __future__ import annotations

import pytest

from archive.config_file import ConfigError
from archive.platforms.registry import (
    PLATFORMS,
    SOURCE_KINDS,
    SourceUrlError,
    check_source_url,
    meta_reader,
    platform_for,
    platform_of_kind,
    source_setting,
)
from archive.platforms.wechat import article_meta
from archive.seeds import load_seeds


@pytest.mark.parametrize(("url", "declared", "platform"), [
    ("https://mp.weixin.qq.com/s/abc", None, "wechat"),
    ("https://weibo.com/1234/Nab", None, "weibo"),
    ("https://m.weibo.cn/detail/1", None, "weibo"),
    ("https://www.weibo.cn/u/1", None, "weibo"),
    ("https://t.me/s/channel", None, "telegram"),
    ("https://telegram.me/channel", None, "telegram"),
    ("https://notweibo.com/a", None, "news"),
    ("https://news.example/a", None, "news"),
    ("http://127.0.0.1:8080/s/abc", "WeChat", "wechat"),      # a mirror, declared
])
def test_platform_for(url, declared, platform):
    assert platform_for(url, declared) == platform


def test_every_platform_has_its_rules_file_and_kinds_are_unique():
    from archive.detect.ruleset import load_rules

    assert set(PLATFORMS) == set(load_rules().platforms)
    assert len(SOURCE_KINDS) == len(set(SOURCE_KINDS))
    assert SOURCE_KINDS[:3] == ("feed", "sitemap", "page")
    assert {platform_of_kind(kind).name for kind in SOURCE_KINDS[3:]} == set(SOURCE_KINDS[3:])


@pytest.mark.parametrize(("kind", "url", "problem"), [
    ("telegram", "https://t.me/", "is not a Telegram channel URL"),
    ("weibo", "https://m.weibo.cn/about", "names no Weibo user or post"),
    ("wechat", "https://mp.weixin.qq.com/mp/profile", "is not a WeChat article URL"),
])
def test_source_urls_are_checked_by_their_platform(kind, url, problem, tmp_path):
    with pytest.raises(SourceUrlError) as raised:
        check_source_url(kind, url)
    assert problem in raised.value.problem and "write it as" in raised.value.fix
    seeds = tmp_path / "seeds.toml"
    seeds.write_text(f'[[source]]\nname = "s"\nkind = "{kind}"\nurl = "{url}"\n')
    with pytest.raises(ConfigError, match=f"source\\[0\\] \\(s\\)\\.url: .*{problem}"):
        load_seeds(seeds)
    check_source_url("page", url)                   # any URL is a page


def test_per_source_defaults_come_from_the_platform():
    assert source_setting({"kind": "weibo"}, "comment_pages") == 1
    assert source_setting({"kind": "weibo", "comment_pages": 0}, "comment_pages") == 0
    assert source_setting({"kind": "telegram"}, "max_pages") == 3
    assert source_setting({"kind": "feed"}, "max_pages") is None


def test_only_platforms_with_metadata_read_it():
    assert meta_reader("https://mp.weixin.qq.com/s/abc") is article_meta
    assert meta_reader("http://127.0.0.1:9/s/abc", "wechat") is article_meta
    assert meta_reader("https://news.example/weixin") is None
    assert meta_reader("https://t.me/s/channel") is None
