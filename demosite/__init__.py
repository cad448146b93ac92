"""The bundled demo site for ``memoryhole demo``: a small news portal on 127.0.0.1.

It serves Chinese and English articles and WeChat-like pages, then (phase 2) edits, deletes,
censors and redirects some of them, so a crawl followed by a re-check has something to find.
"""
