"""``memoryhole serve``: the web UI origin (the deletion log, timelines, diffs, Memento) and
the replay origin (archived pages, their HTML and CSS rewritten), two origins in one process.

Promises: archived content never runs in the UI's origin; the UI runs no script; every field
from an archived page is escaped. A leaf: nothing else in memoryhole imports it but the command
line.

May import: every other part of ``archive`` but the writer and integrity.
"""
