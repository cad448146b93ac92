"""``memoryhole check`` and ``check --repair``: do the WARCs, the CDXJ index and the catalogue
agree, and put right what does not, keeping every byte of evidence.

Promises: a check never changes anything; a repair never deletes evidence (torn bytes are kept
beside the file they were cut from).

May import: the ``archive`` root modules, warc, text, platforms, detect and catalogue (not the
writer, the exports or the web).
"""
