"""``per_domain`` is what a site sees: never more requests at once to one host, however many
the spider hands Scrapy in one go (crawlers.downloader)."""

from __future__ import annotations

from archive.config import load_config
from archive.home import Home
from crawlers.launch import run_crawl
from tests.support.helpers import write_config
from tests.support.scriptserver import ScriptServer


def test_a_batch_of_requests_to_one_host_keeps_to_per_domain(tmp_home) -> None:
    write_config(tmp_home, obey_robots=False, timeout=10, concurrency=16, per_domain=2,
                 fast_pages=False)              # every page through Scrapy's downloader
    with ScriptServer() as site:
        site.script("/_default", [{"status": 200, "delay": 0.1,
                                   "body": "<html><body><p>a page</p></body></html>"}],
                    cycle=True)
        urls = [site.url(f"/page/{n}") for n in range(16)]
        result = run_crawl(Home(tmp_home), load_config(tmp_home / "memoryhole.toml"), [], urls)
        assert result.returncode == 0, result.error_lines()
        assert sum(site.hits().values()) == 16
        assert site.most_in_flight() == 2

