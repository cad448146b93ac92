"""The archive writer: the process that writes the WARCs and the catalogue rows of a crawl
(:mod:`archive.writer.process`), and the client a crawl hands its work to
(:mod:`archive.writer.client`).

Promises: WARC first, then rows: a capture row is inserted only after its record is written;
one process does all of it in order, so a page's text, diff and checks land after its capture;
a run cut short confirms no deletion; the CDXJ index follows every closed WARC file.

May import: everything of ``archive`` listed before it (root modules, warc, text, platforms,
detect, catalogue). What the crawl hands over is defined in :mod:`archive.jobs`.
"""
