"""Scrapy's retries, but never for the HTTP status of an answer that is a verdict: a re-check's
(or its soft-404 probe's) 5xx or 429 is what the site said, a ``transient`` check re-checked on
its own schedule, while a crawl's page answering 503 is tried again, as Scrapy does. Transport
errors (a dropped connection, a timeout) are retried for both, so one of them does not make a
run degraded.

A request says it is a verdict with ``meta[STATUS_FINAL]``. One crawl may carry both kinds: a
``memoryhole worker`` serves crawls and re-checks in one process. Takes the place of
``scrapy.downloadermiddlewares.retry.RetryMiddleware`` (same settings: ``RETRY_*``).
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response

STATUS_FINAL = "memoryhole_status_final"


class VerdictRetryMiddleware(RetryMiddleware):
    def process_response(self, request: Request, response: Response,
                         spider: Any = None) -> Request | Response:
        if request.meta.get(STATUS_FINAL):
            return response
        return super().process_response(request, response, spider)
