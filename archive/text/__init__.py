"""Page text: charsets, the fast text pass and its fingerprint, full extraction, the requisites
a page's markup names, and text diffs.

Promises: the same bytes give the same text and fingerprint in every process (the crawl's and
the archive writer's); nothing here touches the network, the catalogue or the WARCs.

May import: the ``archive`` root modules and :mod:`archive.warc`.
"""
