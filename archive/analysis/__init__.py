"""Research outputs over the catalogue: survival data (one row per watched URL and per list item,
with the interval-censored time to its first confirmed deletion) and the velocity report built on
it (Kaplan–Meier curves, times to deletion with confidence intervals, deletions per day and per
reason, coverage, the schedule's detection delay), with its static SVG charts and HTML.

Promises: only reads the catalogue; the statistics are plain Python, checked against lifelines in
the tests; every label taken from the catalogue is escaped in the HTML and SVG, which carry no
script and no style attribute (the web UI's CSP allows neither).

May import: the ``archive`` root modules, warc, text, platforms, detect, config and catalogue (it
sits above the catalogue and below export, which writes its CSV, and the web UI, which shows its
report).
"""
