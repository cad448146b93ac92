"""Tests for archive.text.diffing: paragraph diffs between captures and their rendering."""

from __future__ import annotations

import io

from rich.cells import cell_len
from rich.console import Console

from archive.text.diffing import TextDiff, diff_texts, render_diff

OLD = "\n".join([
    "Kazakhstan's foreign ministry summoned the Chinese ambassador on Tuesday.",
    "The ministry said the article contradicted the spirit of the partnership.",
    "The article was no longer available on Wednesday morning.",
    "Trade grew by twelve percent in the first three quarters.",
])
NEW = OLD.replace("no longer available on Wednesday morning", "still available on Thursday")

ZH_OLD = (
    "哈萨克斯坦外交部发言人表示，哈方高度重视同中国的全面战略伙伴关系。\n"
    "强调哈萨克斯坦的主权和领土完整不容置疑。"
)
ZH_NEW = ZH_OLD.replace("不容置疑", "值得商榷")


def console(terminal: bool, width: int = 80) -> Console:
    """A recording console writing to a string; rich picks colours itself unless a terminal
    is forced, where the 16-colour palette keeps the escape codes predictable."""
    if terminal:
        return Console(record=True, force_terminal=True, color_system="standard", width=width,
                       file=io.StringIO())
    return Console(record=True, force_terminal=False, width=width, file=io.StringIO())


def output(out: Console) -> str:
    """What the console actually wrote."""
    assert isinstance(out.file, io.StringIO)
    return out.file.getvalue()


def test_edited_paragraph() -> None:
    diff = diff_texts(OLD, NEW, from_label="2020-04-14T10:00:00Z", to_label="2020-04-16T10:00:00Z")
    assert isinstance(diff, TextDiff)
    assert (diff.added, diff.removed) == (1, 1)
    assert 0 < diff.similarity < 1
    lines = diff.unified_diff.splitlines()
    assert lines[0] == "--- 2020-04-14T10:00:00Z"
    assert lines[1] == "+++ 2020-04-16T10:00:00Z"
    assert lines[2].startswith("@@")
    assert "-The article was no longer available on Wednesday morning." in lines
    assert "+The article was still available on Thursday." in lines
    assert " Trade grew by twelve percent in the first three quarters." in lines


def test_whitespace_only_difference_is_no_diff() -> None:
    reflowed = "\n\n  " + OLD.replace(" the ", "   the ").replace("\n", "\n\n\t") + "  \n"
    assert diff_texts(OLD, reflowed) is None
    assert diff_texts("", "  \n ") is None


def test_added_and_removed_paragraphs_are_counted() -> None:
    grown = OLD + "\nA new closing paragraph.\nAnd another one."
    diff = diff_texts(OLD, grown)
    assert diff is not None
    assert (diff.added, diff.removed) == (2, 0)
    shrunk = diff_texts(grown, "\n".join(OLD.splitlines()[:2]))
    assert shrunk is not None
    assert (shrunk.added, shrunk.removed) == (0, 4)
    deleted = diff_texts(OLD, "")
    assert deleted is not None
    assert (deleted.added, deleted.removed, deleted.similarity) == (0, 4, 0.0)


def test_similarity_tracks_the_size_of_the_change() -> None:
    small = diff_texts(OLD, OLD.replace("twelve", "eleven"))
    large = diff_texts(OLD, "Something else entirely.\nNothing in common here.")
    assert small is not None and large is not None
    assert small.similarity > 0.9
    assert large.similarity < 0.5
    # long texts are compared by paragraph: one of 100 changed paragraphs is ~0.99
    long_old = "\n".join(f"Paragraph {i} of a long article about trade." for i in range(100))
    long_diff = diff_texts(long_old, long_old.replace("Paragraph 50 of", "Paragraph fifty of"))
    assert long_diff is not None
    assert long_diff.similarity == 0.99


def test_chinese_edit() -> None:
    diff = diff_texts(ZH_OLD, ZH_NEW)
    assert diff is not None
    assert (diff.added, diff.removed) == (1, 1)
    assert "-强调哈萨克斯坦的主权和领土完整不容置疑。" in diff.unified_diff.splitlines()
    assert "+强调哈萨克斯坦的主权和领土完整值得商榷。" in diff.unified_diff.splitlines()


def test_render_plain_when_not_a_terminal() -> None:
    diff = diff_texts(OLD, NEW)
    assert diff is not None
    out = console(terminal=False)
    render_diff(diff.unified_diff, out)
    text = output(out)
    assert "\x1b[" not in text
    assert "--- before" in text
    assert "+The article was still available on Thursday." in text
    assert "-The article was no longer available on Wednesday morning." in text


def test_render_colours_on_a_terminal() -> None:
    diff = diff_texts(OLD, NEW)
    assert diff is not None
    out = console(terminal=True)
    render_diff(diff.unified_diff, out)
    ansi = output(out)
    assert "\x1b[1m--- before" in ansi  # bold header
    assert "\x1b[36m@@" in ansi  # cyan hunk
    assert "\x1b[32m" in ansi and "\x1b[31m" in ansi  # green and red lines
    # the changed words are highlighted, the unchanged ones are not
    assert "\x1b[1;37;41mno longer" in ansi
    assert "\x1b[1;30;42mstill" in ansi
    assert "\x1b[1;37;41mThe article" not in ansi
    plain = out.export_text()
    assert "+The article was still available on Thursday." in plain


def test_render_highlights_cjk_characters_and_wraps_long_paragraphs() -> None:
    diff = diff_texts(ZH_OLD * 3, ZH_NEW * 3)
    assert diff is not None
    out = console(terminal=True, width=40)
    render_diff(diff.unified_diff, out)
    ansi = output(out)
    assert "\x1b[1;37;41m不容置疑" in ansi
    assert "\x1b[1;30;42m值得商榷" in ansi
    assert "\x1b[1;37;41m哈萨克斯坦" not in ansi
    plain = out.export_text()
    assert max(cell_len(line) for line in plain.splitlines()) <= 40
    assert len(plain.splitlines()) > len(diff.unified_diff.splitlines())


def test_render_pairs_only_similar_paragraphs() -> None:
    diff = diff_texts("Alpha beta gamma delta.", "Completely unrelated replacement text here.")
    assert diff is not None
    out = console(terminal=True)
    render_diff(diff.unified_diff, out)
    ansi = output(out)
    assert "\x1b[1;37;41m" not in ansi and "\x1b[1;30;42m" not in ansi
    assert "\x1b[31m-Alpha beta gamma delta." in ansi


def test_paragraph_starting_with_dashes_is_not_a_header() -> None:
    diff = diff_texts("-- signed, the editors\nbody", "body")
    assert diff is not None
    out = console(terminal=True)
    render_diff(diff.unified_diff, out)
    ansi = output(out)
    assert "\x1b[31m--- signed, the editors" in ansi
    assert "\x1b[1m--- signed" not in ansi
