"""The archive out of the home: CDXJ, WACZ packages, one deletion's evidence bundle, the
deletion log in every format (table, JSON, JSONL, CSV, Atom), and notifications of deletions.

Promises: records are never re-encoded; every package passes ``wacz validate``; every field
taken from an archived page is escaped for the format it goes into.

May import: the ``archive`` root modules, warc, text, platforms, detect and catalogue (not the
writer, integrity or the web).
"""
