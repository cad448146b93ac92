"""The SQLite catalogue: its connection (:mod:`archive.catalogue.db`), schema and migrations
(:mod:`archive.catalogue.migrations`), and every read of it: the deletion log, a URL's history,
full-text search, the URLs due for a re-check, and a capture's archived body.

Promises: readers never write rows (search indexes its own queue in short transactions); the
schema changes only through migrations; every writer opens it through ``open_catalogue`` (WAL,
busy timeout, ``BEGIN IMMEDIATE``).

May import: the ``archive`` root modules (``config`` too), :mod:`archive.warc`,
:mod:`archive.text`, :mod:`archive.platforms` and :mod:`archive.detect`.
"""
