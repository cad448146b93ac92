"""The fast path: plain GETs on Scrapy's asyncio loop with aiohttp, outside Scrapy's downloader,
for the answers that need none of it: a crawl's plain 200 pages (:mod:`crawlers.fastpath.pages`)
and a re-check's 304s (:mod:`crawlers.fastpath.not_modified`). Every other answer goes back to
the spider as an ordinary Scrapy request. The same URL policy (:mod:`crawlers.safety`), robots.txt
and per-site limits hold; what the fast path archives flows through Scrapy's item pipeline like
any other item.
"""
