"""Memory bounds beyond plain HTTP: the archive writer's read-ahead in bytes, feeds and sitemaps
(items per feed or sitemap, sitemaps followed, nesting), and the settings that carry them from
``memoryhole.toml`` to the crawl."""

from __future__ import annotations

import pytest

from archive.config import ConfigError, load_config
from archive.home import Home
from crawlers.launch import crawl_settings
from tests.support.helpers import write_config

MIB = 1024 * 1024


def test_writer_queue_mb_reaches_the_writer(tmp_home):
    write_config(tmp_home, writer_queue_mb=64)
    settings = crawl_settings(Home(tmp_home), load_config(tmp_home / "memoryhole.toml"))
    assert settings["ARCHIVE_QUEUE_MAX_BYTES"] == 64 * MIB
    default = crawl_settings(Home(tmp_home), load_config(tmp_home / "none.toml"))
    assert default["ARCHIVE_QUEUE_MAX_BYTES"] == 256 * MIB


def test_writer_queue_mb_must_be_positive(tmp_home):
    write_config(tmp_home, writer_queue_mb=0)
    with pytest.raises(ConfigError, match="crawl.writer_queue_mb: must be greater than 0"):
        load_config(tmp_home / "memoryhole.toml")
