"""The CSS subset the detection rules select elements with, compiled to XPath for lxml.

Selectors are lists of compounds joined by descendant or child (``>``) combinators; a compound
is a tag (or ``*``), classes (``.c``), ids (``#i``) and attribute tests (``[a]``, ``[a=v]``,
``[a~=v]``, ``[a^=v]``, ``[a$=v]``, ``[a*=v]``). Anything else is a ``ValueError`` naming the
selector, so a rules file with an unsupported selector fails when it is loaded, not when a page
is judged. (``cssselect`` is only a transitive dependency, so the subset is compiled here.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

_CSS_TOKEN_RE = re.compile(
    r"""(?P<ws>\s*)(?:
        (?P<comma>,)
      | (?P<child>>)
      | (?P<tag>[A-Za-z][A-Za-z0-9-]*|\*)
      | \.(?P<cls>-?[_A-Za-z][\w-]*)
      | \#(?P<id>-?[_A-Za-z][\w-]*)
      | \[\s*(?P<attr>[A-Za-z_][\w:-]*)\s*(?:(?P<op>[~^$*]?=)\s*
            (?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[\w-]+))\s*)?\]
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Selector:
    """A compiled CSS selector list: its XPath, and per alternative the class names and ids it
    needs, so a page that lacks them all is answered without running the XPath."""

    text: str
    xpath: etree.XPath = field(compare=False, repr=False)
    needs: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()

    @classmethod
    def compile(cls, selectors: str) -> Selector:
        alternatives = _parse_css(selectors)
        try:
            xpath = etree.XPath(" | ".join(alt for alt, _, _ in alternatives))
        except etree.XPathSyntaxError as exc:
            raise ValueError(f"CSS selector {selectors!r}: {exc}") from exc
        return cls(selectors, xpath, tuple((classes, ids) for _, classes, ids in alternatives))


def css_to_xpath(selectors: str) -> str:
    """XPath for a CSS selector list in the subset :mod:`archive.detect.ruleset` documents;
    ValueError for anything else."""
    return " | ".join(alt for alt, _, _ in _parse_css(selectors))


def _parse_css(selectors: str) -> list[tuple[str, frozenset[str], frozenset[str]]]:
    """(XPath, class names, ids) of each alternative of a selector list."""
    text = selectors.strip()
    alternatives: list[tuple[str, frozenset[str], frozenset[str]]] = []
    steps: list[str] = []
    classes: set[str] = set()
    ids: set[str] = set()
    tag: str | None = None
    preds: list[str] = []
    in_compound = False
    axis = "//"
    pos = 0

    def unsupported(at: int) -> ValueError:
        return ValueError(f"unsupported CSS selector {selectors!r} near {text[at:at + 20]!r}")

    while pos < len(text):
        m = _CSS_TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise unsupported(pos)
        start, pos = pos, m.end()
        if in_compound and (m["ws"] or m["comma"] or m["child"]):
            steps.append(f"{axis}{tag or '*'}" + "".join(f"[{p}]" for p in preds))
            tag, preds, in_compound, axis = None, [], False, "//"
        if m["comma"]:
            if not steps or axis != "//":
                raise unsupported(start)
            alternatives.append(("".join(steps), frozenset(classes), frozenset(ids)))
            steps, classes, ids = [], set(), set()
        elif m["child"]:
            if not steps:
                raise unsupported(start)
            axis = "/"
        elif m["tag"]:
            if in_compound:
                raise unsupported(start)
            tag, in_compound = m["tag"].lower(), True
        else:
            in_compound = True
            preds.append(_css_predicate(m))
            if m["cls"]:
                classes.add(m["cls"])
            elif m["id"]:
                ids.add(m["id"])
    if in_compound:
        steps.append(f"{axis}{tag or '*'}" + "".join(f"[{p}]" for p in preds))
    elif not steps or axis != "//":
        raise unsupported(len(text))
    alternatives.append(("".join(steps), frozenset(classes), frozenset(ids)))
    return alternatives


def _css_predicate(m: re.Match[str]) -> str:
    if m["cls"]:
        padded = _xpath_literal(m["cls"], " ")
        return f"contains(concat(' ', normalize-space(@class), ' '), {padded})"
    if m["id"]:
        return f"@id={_xpath_literal(m['id'])}"
    attr, op = m["attr"].lower(), m["op"]
    if not op:
        return f"@{attr}"
    value = next(v for v in (m["dq"], m["sq"], m["bare"]) if v is not None)
    lit = _xpath_literal(value)
    return {
        "=": f"@{attr}={lit}",
        "~=": f"contains(concat(' ', normalize-space(@{attr}), ' '), {_xpath_literal(value, ' ')})",
        "^=": f"starts-with(@{attr}, {lit})",
        "$=": f"substring(@{attr}, string-length(@{attr}) - {len(value) - 1})={lit}",
        "*=": f"contains(@{attr}, {lit})",
    }[op]


def _xpath_literal(value: str, pad: str = "") -> str:
    value = f"{pad}{value}{pad}"
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"attribute value {value!r} holds both quote characters")
