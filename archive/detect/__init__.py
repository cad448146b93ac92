"""Deletion detection: the classifier of re-check answers, its rules (``rules/*.toml``, data
per platform) and the per-URL state machine with the re-check schedule.

Promises: a verdict is a pure function of what a check saw
(:class:`~archive.detect.verdict.Observation`) and the rules; nothing reaches ``missing`` without
a rule, a status or a probe that says so; a deletion is confirmed only by the state machine
(``confirm_checks`` missing checks, ``confirm_after`` apart). No I/O but reading the packaged
rules.

May import: the ``archive`` root modules (not ``config``, which takes the schedule's defaults
from here), :mod:`archive.warc`, :mod:`archive.text` and :mod:`archive.platforms`.
"""
