"""Text diffs between two captures of a page: a summary for the catalogue and a readable view.

Texts are compared paragraph by paragraph (one paragraph per line, as ``archive.text.extract``
produces them), so a diff is short even for long articles and cheap to make. Whitespace never
counts as a change.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

logger = logging.getLogger(__name__)

# Below this many characters (both texts together) similarity is measured on characters:
# on a one-paragraph post any edit would otherwise score 0.
_SHORT_TEXT_CHARS = 2000
_CONTEXT_LINES = 2
# Changed-paragraph pairs at least this similar (over words, or characters for CJK) get the
# changed words highlighted inside the line.
_PAIR_SIMILARITY = 0.4

# One CJK character, a word, a run of whitespace, or one other character.
_TOKEN_RE = re.compile(
    r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff]"
    r"|\w+|\s+|[^\w\s]"
)

_STYLES = {
    "header": "bold",
    "hunk": "cyan",
    "added": "green",
    "removed": "red",
    "added_word": "bold black on green",
    "removed_word": "bold white on red",
}


@dataclass(frozen=True)
class TextDiff:
    """How two captures' texts differ."""

    similarity: float
    added: int
    removed: int
    unified_diff: str


def _paragraphs(text: str) -> list[str]:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return [line for line in lines if line]


def diff_texts(
    old: str, new: str, *, from_label: str = "before", to_label: str = "after"
) -> TextDiff | None:
    """Compare two texts paragraph by paragraph; None when they differ only in whitespace.

    ``similarity`` is difflib's ratio (0..1) over paragraphs, or over characters when both
    texts together are short; ``added`` and ``removed`` count paragraphs; ``unified_diff`` has
    one paragraph per line under ``--- from_label`` / ``+++ to_label`` headers.
    """
    before, after = _paragraphs(old), _paragraphs(new)
    if before == after:
        return None
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    old_joined, new_joined = "\n".join(before), "\n".join(after)
    if len(old_joined) + len(new_joined) <= _SHORT_TEXT_CHARS:
        similarity = difflib.SequenceMatcher(None, old_joined, new_joined, autojunk=False).ratio()
    else:
        similarity = matcher.ratio()
    unified = "\n".join(
        difflib.unified_diff(
            before, after, fromfile=from_label, tofile=to_label, n=_CONTEXT_LINES, lineterm=""
        )
    )
    return TextDiff(similarity=similarity, added=added, removed=removed, unified_diff=unified)


def _tokens(line: str) -> list[str]:
    return _TOKEN_RE.findall(line)


def _highlight_pair(removed: str, added: str) -> tuple[Text, Text] | None:
    """The two lines with their changed words highlighted, or None if they are not similar."""
    old_tokens, new_tokens = _tokens(removed), _tokens(added)
    words = difflib.SequenceMatcher(
        None,
        [token for token in old_tokens if not token.isspace()],
        [token for token in new_tokens if not token.isspace()],
        autojunk=False,
    )
    if words.ratio() < _PAIR_SIMILARITY:
        return None
    matcher = difflib.SequenceMatcher(None, old_tokens, new_tokens, autojunk=False)
    old_text = Text("-", style=_STYLES["removed"], overflow="fold")
    new_text = Text("+", style=_STYLES["added"], overflow="fold")
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        old_part, new_part = "".join(old_tokens[i1:i2]), "".join(new_tokens[j1:j2])
        if tag == "equal":
            old_text.append(old_part, style=_STYLES["removed"])
            new_text.append(new_part, style=_STYLES["added"])
        else:
            old_text.append(old_part, style=_STYLES["removed_word"])
            new_text.append(new_part, style=_STYLES["added_word"])
    return old_text, new_text


def _render_changes(removed: list[str], added: list[str]) -> list[Text]:
    """A block of '-' lines followed by '+' lines, pairing similar ones for word highlights."""
    removed_lines = [Text(line, style=_STYLES["removed"], overflow="fold") for line in removed]
    added_lines = [Text(line, style=_STYLES["added"], overflow="fold") for line in added]
    for index in range(min(len(removed), len(added))):
        pair = _highlight_pair(removed[index][1:], added[index][1:])
        if pair:
            removed_lines[index], added_lines[index] = pair
    return removed_lines + added_lines


def render_diff(unified_diff: str, console: Console) -> None:
    """Print a unified diff from ``diff_texts`` readably on a rich console.

    Headers bold, hunk lines cyan, removed paragraphs red, added green; a removed paragraph
    followed by a similar added one has the changed words (characters in CJK text) highlighted.
    Long paragraphs wrap. Rich decides whether colour is used (none when not a terminal).
    """
    lines = unified_diff.splitlines()
    index = 0
    in_header = True
    while index < len(lines):
        line = lines[index]
        if line.startswith("@@"):
            in_header = False
            console.print(Text(line, style=_STYLES["hunk"], overflow="fold"))
            index += 1
        elif in_header and line.startswith(("--- ", "+++ ")):
            console.print(Text(line, style=_STYLES["header"], overflow="fold"))
            index += 1
        elif line.startswith(("-", "+")):
            removed: list[str] = []
            added: list[str] = []
            while index < len(lines) and lines[index].startswith("-"):
                removed.append(lines[index])
                index += 1
            while index < len(lines) and lines[index].startswith("+"):
                added.append(lines[index])
                index += 1
            for text in _render_changes(removed, added):
                console.print(text)
        else:
            console.print(Text(line, overflow="fold"))
            index += 1
