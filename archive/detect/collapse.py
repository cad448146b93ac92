"""A page that collapsed: its main text shrank to a few lines that share almost nothing with
the article it replaced, a tombstone in wording no rule knows.

Portals answer a deleted article with a 200 notice in every language; the rules know the common
wordings (``archive/detect/rules/news.toml``), this catches the others. A real edit that shortens
an article keeps most of what it had, so it stays ``changed``.
"""

from __future__ import annotations

from archive.detect.redirect import core_ref
from archive.text.diffing import diff_texts

COLLAPSE_RULE = core_ref("page", "collapse")

COLLAPSE_LINES = 5          # the new main text has at most this many paragraphs...
COLLAPSE_SHARE = 0.2        # ...at most this share of the old text's length...
COLLAPSE_SIMILARITY = 0.2   # ...and is at most this similar to it...
COLLAPSE_MIN_OLD = 500      # ...where the old text had this many characters at least


def collapse_of(old_text: str | None, new_text: str) -> str | None:
    """One line saying how ``new_text`` collapsed from ``old_text``, or None when it did not."""
    if not old_text or len(old_text) < COLLAPSE_MIN_OLD:
        return None
    new_lines = [line for line in new_text.splitlines() if line.strip()]
    if len(new_lines) > COLLAPSE_LINES or len(new_text) > COLLAPSE_SHARE * len(old_text):
        return None
    diff = diff_texts(old_text, new_text)
    if diff is None or diff.similarity > COLLAPSE_SIMILARITY:
        return None
    return (f"the main text collapsed from {len(old_text)} to {len(new_text)} characters "
            f"({len(new_lines)} line(s), similarity {diff.similarity:.2f}): a notice no rule "
            "knows replaced the article")
