"""Loopback crawl benchmark: plain Scrapy vs ``wget --warc-file`` vs ``memoryhole crawl``.

``python -m bench.run`` generates a static news site (bench.site), serves it with nginx
(bench.nginx), runs the three contenders in alternating order and writes results.json;
``python -m bench.report`` turns that file into the BENCHMARKS.md section.
"""
