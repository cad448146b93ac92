"""``memoryhole check`` and ``check --repair``: do the WARCs, the CDXJ index and the catalogue
agree, and put right what does not, keeping every byte of evidence. Also ``memoryhole backup``
(a copy of the home that is a home itself) and ``memoryhole doctor`` (is the machine ready).

Promises: a check never changes anything; a repair never deletes evidence (torn bytes are kept
beside the file they were cut from); a backup never writes to the home, copies the catalogue
only through SQLite's backup API, and never deletes or shortens anything in its destination;
the doctor changes nothing and reaches no host the config does not name.

May import: the ``archive`` root modules, warc, text, platforms, detect, config and catalogue
(not the writer, the exports or the web).
"""
