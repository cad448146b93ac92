"""The guard proxy chained to a vantage's proxy (crawlers.browser.upstream), spoken to as
Chromium speaks to it: a CONNECT tunnel and a plain request, through Debian's tinyproxy (HTTP)
and microsocks (SOCKS5), both with a password, to a server on 127.0.0.1; and the metadata
address refused before the vantage's proxy is asked."""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawlers.browser.proxy import GuardProxy, ProxyResolver
from crawlers.browser.upstream import Upstream
from crawlers.safety import UrlPolicy
from tests.support.proxies import Microsocks, Tinyproxy
from tests.support.scriptserver import ScriptServer


class Stats:
    def __init__(self) -> None:
        self.values: Counter[str] = Counter()

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] += count


async def _ask(proxy_url: str, head: str, then: str = "") -> bytes:
    parts = urlsplit(proxy_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(head.encode())
    answer = b""
    if then:
        answer = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " in answer.split(b"\r\n", 1)[0]:
            writer.write(then.encode())
    answer += await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return answer


async def _through(upstream: str, site: str, allow_private: bool) -> tuple[list[bytes], Stats]:
    stats = Stats()
    policy = UrlPolicy(allow_private=allow_private)
    guard = GuardProxy(policy, ProxyResolver(policy), stats, upstream=Upstream(upstream),
                       stats_prefix="vantage/kz/browser_proxy", where=" at vantage kz")
    url = guard.listen()
    await guard.start()
    host = urlsplit(site).netloc
    try:
        answers = [
            await _ask(url, f"CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n",
                       f"GET /tunnelled HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
            await _ask(url, f"GET {site}/plain HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        ]
        if not allow_private:
            answers.append(await _ask(url, "CONNECT 169.254.169.254:80 HTTP/1.1\r\n"
                                           "Host: 169.254.169.254\r\n\r\n", "x"))
    finally:
        await guard.close()
    return answers, stats


@pytest.mark.parametrize("kind", ["tinyproxy", "microsocks"])
@pytest.mark.parametrize("allow_private", [True, False])
def test_tunnels_and_plain_requests_through_a_vantage(tmp_path: Path, kind: str,
                                                      allow_private: bool) -> None:
    proxies = {"tinyproxy": Tinyproxy, "microsocks": Microsocks}
    with ScriptServer() as site, proxies[kind](tmp_path / kind) as proxy:
        for path in ("/tunnelled", "/plain"):
            site.script(path, [{"status": 200, "body": f"served {path}"}])
        base = site.url("/").rstrip("/")
        with ThreadPoolExecutor(1) as pool:   # a loop of its own: Playwright's may be running here
            answers, stats = pool.submit(asyncio.run, _through(proxy.url, base,
                                                               allow_private)).result()
        hits = site.hits()
    tunnel, plain = answers[:2]
    if allow_private:
        assert tunnel.startswith(b"HTTP/1.1 200 Connection established"), tunnel
        assert b"served /tunnelled" in tunnel and b"served /plain" in plain, plain
        assert hits == {"/tunnelled": 1, "/plain": 1}
        assert stats.values["vantage/kz/browser_proxy/connections"] == 2
    else:       # 127.0.0.1 and 169.254.169.254 by their literals: the vantage is never asked
        assert tunnel.startswith(b"HTTP/1.1 403 ") and plain == b""
        assert answers[2].startswith(b"HTTP/1.1 403 "), answers[2]
        assert hits == {}
        assert stats.values["vantage/kz/browser_proxy/refused/private_address"] == 3
