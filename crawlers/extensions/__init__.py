"""Scrapy extensions of a crawl process: the archive writer it owns (archiving), the progress
lines for the parent process (progress) and the page requisites it fetches (requisites).
"""
