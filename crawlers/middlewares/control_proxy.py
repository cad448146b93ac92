"""The control through a vantage's proxy (``[[vantage]] control = true``): every Scrapy request
of the re-check, robots.txt and soft-404 probes included, goes out through that proxy.

Order 740, before Scrapy's HttpProxyMiddleware (750), which takes the credentials out of the
proxy URL into a ``Proxy-Authorization`` header (the WARC writer never archives it). The proxy
comes from the spider (``control_vantage``: the job file's, never a setting: Scrapy logs its
settings); requests that already name a proxy, and the browser's (which get the proxy per
context, crawlers.spiders.rendered), are left alone. The recorder reads ``VANTAGE_META``: the
records name the vantage, say it is the control, and keep no ``WARC-IP-Address``.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request

from crawlers.middlewares.recorder import VANTAGE_META


class ControlProxyMiddleware:
    def process_request(self, request: Request, spider: Any) -> None:
        control = getattr(spider, "control_vantage", None)
        if control is None or request.meta.get("playwright") or "proxy" in request.meta:
            return None
        request.meta["proxy"] = control["proxy"]
        request.meta[VANTAGE_META] = (control["name"], True)
        return None
