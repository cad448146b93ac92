"""Downloader middlewares: the safety guard and the WARC recorder."""
