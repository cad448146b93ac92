"""Pages rendered in Chromium (sources with ``render = "browser"``), through scrapy-playwright:
finding Debian's Chromium and its settings (:mod:`crawlers.browser.chromium`, light enough for
the ``memoryhole`` command to import before every crawl) and recording what the browser received
(:mod:`crawlers.browser.recorder`). Nothing here downloads a browser.
"""
