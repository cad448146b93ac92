"""WARC files and their CDXJ index: the evidence as it is kept on disk.

Promises: records are written as WARC 1.1, one gzip member per record, with block and payload
digests; a file being written ends in ``.open``; the index lines are the ones pywb's own indexer
writes; reading a record back never trusts the file (:mod:`archive.warc.scan`) and never decodes
more than a bounded number of bytes (:mod:`archive.warc.reader`); names from URLs or index lines
never lead outside the home (:mod:`archive.warc.safepath`).

May import: the ``archive`` root modules (home, timeutil, urlnorm, ...). Nothing else of memoryhole.
"""
