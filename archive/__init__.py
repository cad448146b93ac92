"""memoryhole's archive: WARC writing, the CDXJ index, the SQLite catalogue, text and diffs.

Usable without Scrapy; nothing here imports crawlers/, pipelines/, cli/ or scheduler.py.
"""

__version__ = "0.1.0"
