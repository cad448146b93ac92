"""``memoryhole serve`` over HTTP, on a home built from a local site (tests.support.webhome): the
deletion log and its filters, timelines, diffs, replay and its safety headers, Memento, path
traversal, host checks."""

from __future__ import annotations

import html
import http.client
import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from tests.support import webhome as wh
from tests.support.helpers import http_get as get
from tests.support.helpers import index_text, run_cli


def text_of(base: str, path: str) -> str:
    status, _, body = get(base, path)
    assert status == 200, (path, status, body[:500])
    return body.decode("utf-8")


def test_deletion_log_lists_filters_counts_and_escapes(web: wh.WebHome,
                                                       served: wh.ServeProcess) -> None:
    status, headers, body = get(served.ui, "/")
    page = body.decode()
    assert status == 200
    assert web.urls["gone"] in page and web.urls["moved"] in page
    assert web.urls["article"] not in page.split("<table", 1)[1]
    assert "reason-gone" in page and "reason-redirected" in page
    assert "2 deletions." in page
    # the archived title is shown escaped, never as markup
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;pwned&#34;)" in page
    assert "script-src 'none'" in headers["content-security-policy"]
    assert f"frame-src {served.replay}" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    only_gone = text_of(served.ui, "/?reason=gone")
    assert web.urls["gone"] in only_gone and web.urls["moved"] not in only_gone
    assert "1 deletion match." in only_gone
    searched = text_of(served.ui, "/?" + urlencode({"q": "border talks"}))
    assert web.urls["gone"] in searched and web.urls["moved"] not in searched
    nothing = text_of(served.ui, "/?" + urlencode({"q": "nowhere-in-the-archive"}))
    assert "No deletions match these filters." in nothing
    bad = text_of(served.ui, "/?since=yesterday-ish")
    assert "not a time or an age" in bad
    by_domain = text_of(served.ui, "/?domain=127.0.0.1&since=1d")
    assert "2 deletions match." in by_domain
    assert "<svg class=\"chart\"" in page and "<rect" in page


def test_api_gives_the_deletion_objects(web: wh.WebHome, served: wh.ServeProcess) -> None:
    status, headers, body = get(served.ui, "/api/deletions?reason=redirected")
    assert status == 200 and headers["content-type"].startswith("application/json")
    (row,) = json.loads(body)
    assert row["url"] == web.urls["moved"] and row["reason"] == "redirected"
    assert row["replay_url"].startswith(f"{served.ui}/replay/main/")
    assert row["last_good_capture"]["warc_filename"].endswith(".warc.gz")
    status, _, body = get(served.ui, "/api/deletions?reason=nonsense")
    assert status == 400 and "unknown reason" in json.loads(body)["error"]


def test_timeline_and_tombstone_beside_the_last_good_capture(web: wh.WebHome,
                                                            served: wh.ServeProcess) -> None:
    page = text_of(served.ui, "/url?" + urlencode({"u": web.urls["gone"]}))
    assert "check: missing" in page and "deletion confirmed: gone" in page
    assert "captured, HTTP 200" in page and "captured, HTTP 404" in page
    frames = re.findall(r'<iframe[^>]*sandbox="allow-scripts allow-forms"[^>]*src="([^"]+)"', page)
    assert len(frames) == 2 and all(f.startswith(served.replay + "/main/") for f in frames)
    good, tombstone = (get(served.replay, urlsplit(f).path) for f in frames)
    assert good[0] == 200 and b"border talks" in good[2]
    assert tombstone[0] == 404 and b"Not Found" in tombstone[2]
    missing = get(served.ui, "/url?" + urlencode({"u": "http://example.org/never"}))
    assert missing[0] == 404 and b"not in the catalogue" in missing[2]


def test_evidence_bundle_download(web: wh.WebHome, served: wh.ServeProcess,
                                   tmp_path: Path) -> None:
    page = text_of(served.ui, "/url?" + urlencode({"u": web.urls["gone"]}))
    link = re.search(r'href="(/export/evidence\?[^"]+)"', page).group(1).replace("&amp;", "&")
    status, headers, body = get(served.ui, link)
    assert status == 200 and headers["content-type"] == "application/wacz"
    assert headers["content-disposition"].startswith("attachment; filename=")
    bundle = tmp_path / "dl.wacz"
    bundle.write_bytes(body)
    document = json.loads(zipfile.ZipFile(bundle).read("evidence/deletion.json"))
    assert document["deletion"]["url"] == web.urls["gone"]
    none = get(served.ui, "/export/evidence?" + urlencode({"u": web.urls["article"]}))
    assert none[0] == 404 and b"has no deletion" in none[2]
    assert get(served.ui, "/export/evidence?u=x&deletion=abc")[0] == 400


def test_serve_needs_a_catalogue(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "empty-home", "serve", "--port", "0", expect=1)
    assert "no catalogue at" in result.output and "crawl" in result.output
    assert not (tmp_path / "empty-home" / "memoryhole.db").exists()


def test_diff_side_by_side(web: wh.WebHome, served: wh.ServeProcess) -> None:
    page = text_of(served.ui, "/url?" + urlencode({"u": web.urls["edited"]}))
    link = re.search(r'href="(/diff\?[^"]+)"', page).group(1).replace("&amp;", "&")
    diff = text_of(served.ui, link)
    shown = html.unescape(re.sub(r"<[^>]+>", "", diff)).replace("\xa0", " ")
    assert wh.EDITED_BEFORE in shown and wh.EDITED_AFTER in shown   # both sides of the edit
    assert 'class="diff_chg"' in diff or 'class="diff_add"' in diff
    assert "Officials expect the first trains" in shown       # the unchanged paragraphs too
    other = re.search(r"from=(\d+)", link).group(1)
    wrong = get(served.ui, f"/diff?u={quote(web.urls['article'])}&from={other}&to={other}")
    assert wrong[0] == 404


def _replay_path(page: str) -> str:
    return urlsplit(re.search(r'class="replay-frame"[^>]*src="([^"]+)"', page).group(1)).path


def test_replay_rewrites_neutralises_and_redirects_to_the_capture(web: wh.WebHome,
                                                                  served: wh.ServeProcess) -> None:
    frame_page = text_of(served.ui, f"/replay/main/2030/{web.urls['article']}")
    path = _replay_path(frame_page)
    stamp = path.split("/")[2]
    assert wh.ARTICLE_TITLE in frame_page and "timeline" in frame_page
    status, headers, body = get(served.replay, path)
    assert status == 200 and wh.ARTICLE_TITLE.encode() in body
    csp = headers["content-security-policy"]
    assert csp.startswith("sandbox allow-scripts allow-forms;") and "allow-same-origin" not in csp
    assert f"connect-src 'self' {served.replay}" in csp and "worker-src 'none'" in csp
    assert f"frame-ancestors 'self' {served.ui}" in csp
    assert headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in headers and "x-archive-orig-content-type" in headers
    assert headers["memento-datetime"].endswith(" GMT") and 'rel="timemap"' in headers["link"]
    # rewritten URLs carry the replay server's key (replayed pages' own requests pass with it)
    keyed = re.search(rb'href="/main/' + stamp.encode() + rb'\.([A-Za-z0-9_-]{16,})/', body)
    assert keyed, body[:2000]
    key = keyed.group(1).decode()
    css_path = f"/main/{stamp}.{key}/{web.site.url('/static/site.css')}"
    assert f'href="{css_path}"'.encode() in body
    assert f'src="/main/{stamp}.{key}/{web.site.url("/img/photo.png")}"'.encode() in body
    css = get(served.replay, css_path)
    assert css[0] in (200, 302)
    image = get(served.replay, f"/main/{stamp}.{key}/{web.site.url('/img/photo.png')}")
    if image[0] == 302:
        image = get(served.replay, image[1]["location"])
    assert image[0] == 200 and image[2] == wh.PNG_RED
    raw = get(served.replay, f"/main/{stamp}id_/{web.urls['article']}")
    assert raw[0] == 200 and raw[2] == wh.ARTICLE.encode()
    # another time: redirected to the capture's own timestamp
    moved = get(served.replay, f"/main/2001/{web.urls['article']}")
    assert moved[0] == 302 and re.match(r"^/main/\d{14}/http", moved[1]["location"])
    # a redirect capture: its Location points into the archive
    gone_to_home = [r for r in _timemap(served, web.urls["moved"]) if "memento" in r["rel"]][-1]
    hop = get(served.replay, urlsplit(gone_to_home["url"]).path)
    assert hop[0] == 302 and hop[1]["location"].startswith("/main/")
    assert hop[1]["location"].endswith(web.site.url("/"))


def test_archived_security_headers_and_cookies_are_neutralised(web: wh.WebHome,
                                                               served: wh.ServeProcess) -> None:
    path = _replay_path(text_of(served.ui, f"/replay/main/2030/{web.urls['hostile']}"))
    status, headers, _ = get(served.replay, path)
    assert status == 200
    # the raw header list: no archived header acts, each is there only as X-Archive-Orig-*
    parts = urlsplit(served.replay)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", path)
    names = [name.lower() for name, _ in conn.getresponse().getheaders()]
    conn.close()
    for name in ("set-cookie", "strict-transport-security", "x-frame-options", "refresh"):
        assert name not in names, name
    assert names.count("content-security-policy") == 1          # ours
    assert "default-src *" not in headers["content-security-policy"]
    assert names.count("x-archive-orig-set-cookie") == 2
    assert "x-archive-orig-strict-transport-security" in names
    assert headers["x-archive-orig-x-frame-options"] == "DENY"
    assert "evil.css" not in headers["link"] and 'rel="original"' in headers["link"]


def test_a_revisit_is_replayed_with_its_original_payload(web: wh.WebHome,
                                                         served: wh.ServeProcess) -> None:
    mementos = [m for m in _timemap(served, web.urls["article"]) if "memento" in m["rel"]]
    assert len(mementos) >= 2                 # crawled twice: the second is a revisit
    last = get(served.replay, urlsplit(mementos[-1]["url"]).path)
    assert last[0] == 200 and wh.ARTICLE_TITLE.encode() in last[2]


def _timemap(served: wh.ServeProcess, url: str) -> list[dict[str, Any]]:
    status, headers, body = get(served.ui, f"/timemap/link/{url}")
    assert status == 200 and headers["content-type"].startswith("application/link-format")
    links = []
    for match in re.finditer(r'<([^>]+)>((?:\s*;\s*[a-z]+="[^"]*")+)', body.decode()):
        attrs = dict(re.findall(r'([a-z]+)="([^"]*)"', match.group(2)))
        links.append({"url": match.group(1), **attrs})
    return links


def test_timemap_and_timegate(web: wh.WebHome, served: wh.ServeProcess) -> None:
    links = _timemap(served, web.urls["edited"])
    rels = [link["rel"] for link in links]
    assert rels[:3] == ["original", "timegate", "self"]
    assert rels[3] == "first memento" and rels[-1] == "last memento"
    assert links[0]["url"] == web.urls["edited"]
    for memento in links[3:]:
        status, headers, _ = get(served.replay, urlsplit(memento["url"]).path)
        assert status == 200 and headers["memento-datetime"] == memento["datetime"]
    first = links[3]
    status, headers, _ = get(served.ui, f"/timegate/{web.urls['edited']}",
                             {"Accept-Datetime": first["datetime"]})
    assert status == 302 and headers["location"] == first["url"]
    assert headers["vary"] == "accept-datetime"
    status, headers, _ = get(served.ui, f"/timegate/{web.urls['edited']}")
    assert status == 302 and headers["location"] == links[-1]["url"]
    assert get(served.ui, f"/timegate/{web.urls['edited']}",
               {"Accept-Datetime": "last tuesday"})[0] == 400
    assert get(served.ui, "/timemap/link/http://example.org/never")[0] == 404


TRAVERSALS = [
    "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/main/../../memoryhole.db",
    "/..%2f..%2fmemoryhole.db/20260101/http://example.org/",
    "/%2e%2e/20260101/http://example.org/", "/main/20260101/..%2f..%2fmemoryhole.db",
    "/main/20260101/file:///etc/passwd", "//etc/passwd", "/main/20260101id_/../../x",
]
UI_TRAVERSALS = [
    "/static/../memoryhole.db", "/static/..%2f..%2fmemoryhole.db", "/replay/../memoryhole.db",
    "/replay/..%2f..%2f/20260101/http://example.org/", "/replay/%2e%2e/20260101/http://x.org/",
    "/timemap/link/..%2f..%2fmemoryhole.db", "/diff?u=/etc/passwd&from=1&to=1",
]


def test_path_traversal_gets_4xx(web: wh.WebHome, served: wh.ServeProcess) -> None:
    secret = (web.home / "memoryhole.db").read_bytes()[:16]
    for path in TRAVERSALS:
        status, _, body = get(served.replay, path)
        assert 400 <= status < 500, (path, status)
        assert secret not in body and b"root:" not in body
    for path in UI_TRAVERSALS:
        status, _, body = get(served.ui, path)
        assert 400 <= status < 500, (path, status)
        assert secret not in body


def test_index_lines_and_symlinks_cannot_reach_outside_the_home(
        web: wh.WebHome, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(web.home, home, ignore=shutil.ignore_patterns("*.lock", "*-lock"))
    outside = tmp_path / "outside.warc.gz"
    outside.write_bytes(b"SECRET OUTSIDE THE HOME")
    archive_dir = home / "collections" / "main" / "archive"
    (archive_dir / "link.warc.gz").symlink_to(outside)
    index = home / "collections" / "main" / "indexes" / "index.cdxj"
    lines = index_text(home).splitlines()
    evil = []
    for name, filename in (("a", "../../../outside.warc.gz"), ("b", "/etc/passwd"),
                           ("c", "link.warc.gz")):
        url = f"http://evil.example/{name}"
        evil.append(f'example,evil)/{name} 20260101000000 {{"url": "{url}", "mime": "text/html", '
                    f'"status": "200", "length": "10", "offset": "0", '
                    f'"filename": {json.dumps(filename)}}}')
    index.write_text("\n".join(sorted(lines + evil)) + "\n", encoding="utf-8")
    with wh.ServeProcess(home) as server:
        for name in "abc":
            status, _, body = get(server.replay, f"/main/20260101000000/http://evil.example/{name}")
            assert status == 404, (name, status)
            assert b"SECRET" not in body and b"root:" not in body


def test_host_header_and_service_worker_are_refused(served: wh.ServeProcess) -> None:
    assert get(served.ui, "/", {"Host": "evil.example"})[0] == 400      # DNS rebinding
    assert get(served.replay, "/", {"Host": "evil.example:8766"})[0] == 400
    assert get(served.ui, "/", {"Host": "localhost"})[0] == 200
    status, _, _ = get(served.replay, "/main/2026/http://example.org/sw.js",
                       {"Service-Worker": "script"})
    assert status == 403


def test_serve_says_loudly_when_not_on_loopback(web: wh.WebHome) -> None:
    with wh.ServeProcess(web.home, host="0.0.0.0") as server:
        assert get(server.ui, "/")[0] == 200
    assert server.returncode == 0
    assert "WARNING: listening on 0.0.0.0" in server.stderr()
