"""Vantage points (``[[vantage]]``; a source's ``vantages``): the same URLs re-checked through
each vantage's proxy, OONI's rule at the end of the run. Alive at the control and failing or
walled at a vantage is ``blocked`` there, never a deletion; missing at both is a deletion the
control confirms. Debian's tinyproxy (HTTP) and microsocks (SOCKS5), both with a password, and
a censoring proxy of our own (tests.support.censor), all on 127.0.0.1."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import sqlite3
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from tests.support.endpoint import Endpoint
from tests.support.helpers import (
    all_records,
    http_get,
    index_text,
    remove_index,
    rows,
    run_cli,
    warc_files,
    write_config,
)
from tests.support.jsapp import serve_app
from tests.support.proxies import PASSWORD, USER, CensorProxy, Microsocks, Tinyproxy
from tests.support.scriptserver import ScriptServer
from tests.support.webhome import ServeProcess, chromium_path

ARTICLE = ("<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
           + "<p>{title}: Kazakhstan and China signed a transit deal at Khorgos; traders from "
             "Almaty and Urumqi expect more trucks at the border crossing this spring.</p>" * 8
           + "</article></body></html>")


def setup_home(home: Path, server: ScriptServer, proxy: str, paths: list[str],
               ca_file: Path | None = None) -> list[str]:
    values = {"obey_robots": False, "timeout": 3}
    if ca_file is not None:
        values["ca_file"] = str(ca_file)
    write_config(home, **values)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write(f'seeds = ["seeds.toml"]\n[recheck]\nconfirm_after = "0s"\n'
                     f'[[vantage]]\nname = "kz"\nproxy = "{proxy}"\n')
    text = (home / "memoryhole.toml").read_text()      # seeds must come before any table
    (home / "memoryhole.toml").write_text('seeds = ["seeds.toml"]\n' + text.replace(
        'seeds = ["seeds.toml"]\n', ""))
    urls = [server.url(p) for p in paths]
    for path in paths:
        server.script(path, [{"status": 200, "body": ARTICLE.format(title=path)}])
    (home / "seeds.toml").write_text('[[source]]\nname = "watch"\nkind = "page"\nurls = '
                                     + json.dumps(urls) + '\nvantages = ["kz"]\n')
    run_cli(home, "crawl")
    return urls


def checks(home: Path, url: str, control: str = "default"
           ) -> list[tuple[str, str, str | None]]:
    """The URL's checks, run by run; within a run the control's before the vantages'."""
    return [(c["vantage"], c["outcome"], c["reason"]) for c in rows(
        home, "SELECT vantage, outcome, reason FROM checks WHERE url = ? "
        "ORDER BY run_id, vantage = ? DESC, vantage, id", (url, control))]


CENSORED = {
    "/block-page": ("block200", "geo_blocked"),
    "/block-451": ("block451", "geo_blocked"),
    "/reset": ("reset", "reset"),
    "/timeout": ("hang", "timeout"),
    "/notice": ("notice", "walled"),
    "/redirect": ("redirect", "redirect_unclear"),   # to the censor's warning host
}


def test_the_decision_table(tmp_home: Path, tmp_path: Path) -> None:
    with ScriptServer() as server, CensorProxy(tmp_path / "censor") as censor:
        paths = [*CENSORED, "/ok", "/gone"]
        urls = dict(zip(paths, setup_home(tmp_home, server, censor.base, paths), strict=True))
        for path, (action, _reason) in CENSORED.items():
            censor.censor(path, action)
        server.script("/gone", [{"status": 404, "body": "<h1>Not Found</h1>"}])
        run_cli(tmp_home, "recheck", "--all")
        run_cli(tmp_home, "recheck", "--all")
    for path, (_action, reason) in CENSORED.items():     # alive at the control: blocked
        assert checks(tmp_home, urls[path])[-2:] == [
            ("default", "alive", None), ("kz", "blocked", reason)], path
    assert checks(tmp_home, urls["/ok"])[-2:] == [("default", "alive", None),
                                                   ("kz", "alive", None)]
    assert checks(tmp_home, urls["/gone"])[-2:] == [("default", "missing", "gone"),
                                                     ("kz", "missing", "gone")]
    [deletion] = json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)
    assert (deletion["url"], deletion["reason"]) == (urls["/gone"], "gone")
    assert "at vantage kz: missing (gone, HTTP 404" in deletion["evidence"]["detail"]
    blocks = json.loads(run_cli(tmp_home, "blocking", "--format", "json").output)
    assert {(b["url"], b["vantage"], b["evidence"]["reason"]) for b in blocks} == {
        (urls[path], "kz", reason) for path, (_a, reason) in CENSORED.items()}
    assert all(b["first_blocked_at"] < b["last_blocked_at"] for b in blocks)
    replayable = {b["url"]: b["replay_url"] for b in blocks}
    assert replayable[urls["/reset"]] is None                 # nothing came back to replay
    shown = urlsplit(replayable[urls["/block-page"]]).path
    assert shown.startswith("/replay/main@kz/")
    table = run_cli(tmp_home, "blocking", "--vantage", "kz", "--current").output
    assert urls["/notice"] in table and f"{len(CENSORED)} block(s)" in table
    assert "not a vantage point" in run_cli(tmp_home, "blocking", "--vantage", "ru").output
    rows_csv = list(csv.DictReader(io.StringIO(
        run_cli(tmp_home, "blocking", "--format", "csv").output)))
    assert {r["evidence_reason"] for r in rows_csv} == {r for _a, r in CENSORED.values()}
    with ServeProcess(tmp_home) as served:   # the block page as the vantage saw it; the
        frame = http_get(served.ui, shown)     # control's page under the plain collection
        assert frame[0] == 200
        memento = re.search(rf'src="{re.escape(served.replay)}(/main@kz/\d{{14}}/[^"]+)"',
                            frame[2].decode()).group(1)
        status, _, body = http_get(served.replay, memento)
        assert status == 200 and b"not available in your country" in body
        control = http_get(served.replay, memento.replace("/main@kz/", "/main/"))
        if control[0] == 302:                # the control's capture is in another second
            assert "/main/" in control[1]["location"]
            control = http_get(served.replay, urlsplit(control[1]["location"]).path)
        assert control[0] == 200 and b"Khorgos" in control[2]
        status, _, page = http_get(served.ui, "/blocking?vantage=kz&current=1")
        assert status == 200 and f"{len(CENSORED)} block(s)".encode() in page
        assert all(html.escape(urls[path]).encode() in page for path in CENSORED)
        status, _, page = http_get(served.ui, "/url?" + urlencode({"u": urls["/block-451"]}))
        states = page.decode().split("Where it stands", 1)[1].split("</table>", 1)[0]
        assert re.search(r"default \(control\).*?<strong>alive</strong>", states, re.S)
        assert re.search(r"kz</td>.*?<strong>blocked</strong> \(geo_blocked\) · HTTP 451", states,
                         re.S)
        status, _, page = http_get(served.ui, "/url?" + urlencode({"u": urls["/ok"]}))
        assert b"<strong>blocked</strong>" not in page and b"Where it stands" in page


def test_a_vantage_whose_proxy_is_down_says_nothing(tmp_home: Path, tmp_path: Path) -> None:
    with ScriptServer() as server:
        [url] = setup_home(tmp_home, server, "http://127.0.0.1:9", ["/a"])
        run_cli(tmp_home, "recheck", "--all")
    assert checks(tmp_home, url)[-2:] == [("default", "alive", None),
                                          ("kz", "transient", "proxy_down")]
    assert json.loads(run_cli(tmp_home, "blocking", "--format", "json").output) == []


@pytest.mark.parametrize("kind", ["tinyproxy", "microsocks"])
def test_http_and_socks5_vantages_with_passwords(tmp_home: Path, tmp_path: Path,
                                                 kind: str) -> None:
    """Through a real proxy that wants a password: alive at both; every record of the vantage
    names it and has no WARC-IP-Address; the password is nowhere: logs, WARCs, exports."""
    proxy_class = Tinyproxy if kind == "tinyproxy" else Microsocks
    with ScriptServer() as server, proxy_class(tmp_path / kind) as proxy:
        [url] = setup_home(tmp_home, server, proxy.url, ["/a"])
        run_cli(tmp_home, "recheck", "--all")
    assert checks(tmp_home, url) == [("default", "alive", None), ("kz", "alive", None)]
    records = [r for r in all_records(tmp_home)
               if r["type"] in ("response", "revisit", "request")]
    at_vantage = [r for r in records if r["headers"].get_header("WARC-Memoryhole-Vantage")]
    assert {r["headers"].get_header("WARC-Memoryhole-Vantage") for r in at_vantage} == {"kz"}
    assert len(at_vantage) == 2                # the response (a revisit: same page) and request
    assert all(r["headers"].get_header("WARC-IP-Address") is None for r in at_vantage)
    if kind == "microsocks":      # the catalogue rebuilt from the WARCs knows the vantage
        db = sqlite3.connect(tmp_home / "memoryhole.db")
        with db:
            db.execute("DELETE FROM captures WHERE vantage = 'kz'")
        db.close()
        remove_index(tmp_home)
        run_cli(tmp_home, "check", "--repair", expect=None)
        assert rows(tmp_home, "SELECT count(*) AS n FROM captures WHERE vantage = 'kz'"
                    " AND is_revisit = 1")[0]["n"] == 1
        index = index_text(tmp_home)
        assert index.count('"vantage": "kz"') == 1
    run_cli(tmp_home, "export", "csv", str(tmp_path / "d.csv"))
    run_cli(tmp_home, "history", url, "--format", "json")
    for path in [*warc_files(tmp_home), *(tmp_home / "logs").iterdir(),
                 tmp_home / "memoryhole.db", tmp_path / "d.csv"]:
        data = path.read_bytes() if path.suffix != ".gz" else _gunzip_all(path)
        assert PASSWORD.encode() not in data, path
        assert f"{USER}:".encode() not in data, path
        assert base64.b64encode(f"{USER}:{PASSWORD}".encode()) not in data, path


def _gunzip_all(path: Path) -> bytes:
    import zlib

    data, out = path.read_bytes(), b""
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += inflater.decompress(data)
        data = inflater.unused_data
    return out


def test_tls_interception_at_a_vantage_is_a_block(tmp_home: Path, tmp_path: Path, tls,
                                                  forged_tls) -> None:
    """A forged certificate at the vantage: blocked (tls); ``[notify] blocks`` announces it."""
    endpoint = Endpoint()
    with ScriptServer(tls=tls) as server, \
            CensorProxy(tmp_path / "censor", forged=forged_tls) as censor:
        [url] = setup_home(tmp_home, server, censor.base, ["/a"], ca_file=tls.ca)
        with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
            handle.write(f'[notify]\nurls = ["{endpoint.url()}"]\nblocks = true\n')
        censor.censor(server.base.split("://", 1)[1], "intercept")
        run_cli(tmp_home, "recheck", "--all")
    endpoint.close()
    assert checks(tmp_home, url)[-2:] == [("default", "alive", None), ("kz", "blocked", "tls")]
    [message] = endpoint.received
    assert message["title"] == f"Blocked at kz (tls): {url}"


def test_vantage_config_is_checked_and_secrets_stay_out_of_errors(tmp_home: Path) -> None:
    write_config(tmp_home)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write(f'[[vantage]]\nname = "kz"\nproxy = "ftp://{USER}:{PASSWORD}@h"\n')
    bad = run_cli(tmp_home, "crawl", "http://127.0.0.1:9/", expect=2)
    assert "vantage[0].proxy" in bad.output and PASSWORD not in bad.output
    write_config(tmp_home)
    (tmp_home / "seeds.toml").write_text('[[source]]\nname = "w"\nkind = "page"\n'
                                         'url = "http://127.0.0.1:9/"\nvantages = ["ru"]\n')
    bad = run_cli(tmp_home, "crawl", "--seeds", str(tmp_home / "seeds.toml"), expect=2)
    assert "no vantage 'ru'" in bad.output


def _browser_home(home: Path, server: ScriptServer, proxy: str) -> str:
    """A render = "browser" page whose story a script fetches, crawled, with vantage kz."""
    write_config(home, obey_robots=False, timeout=10)
    text = (home / "memoryhole.toml").read_text()
    (home / "memoryhole.toml").write_text(
        'seeds = ["seeds.toml"]\n' + text + '[recheck]\nconfirm_after = "0s"\n'
        f'[[vantage]]\nname = "kz"\nproxy = "{proxy}"\n')
    serve_app(server, ["/app.html"])
    story = {"title": "Khorgos", "text": " ".join(
        ["Kazakhstan and China signed a transit deal at Khorgos; traders from Almaty and "
         "Urumqi expect more trucks at the border crossing this spring."] * 8)}
    server.script("/api/story.json", [{"status": 200, "body": json.dumps(story),
                                       "content_type": "application/json"}])
    app = server.url("/app.html")
    (home / "seeds.toml").write_text('[[source]]\nname = "js"\nkind = "page"\n'
                                     f'render = "browser"\nurls = ["{app}"]\n'
                                     'vantages = ["kz"]\n')
    run_cli(home, "crawl")
    return app


def test_a_browser_page_is_loaded_in_chromium_through_the_vantage(tmp_home: Path,
                                                                  tmp_path: Path) -> None:
    """Its HTTP answer is a script shell that reads as alive everywhere; Chromium, through the
    vantage's proxy, finds that the story's XHR is blocked there: blocked, not alive. Every
    record the browser made there names the vantage; none has the proxy's address."""
    chromium_path()
    with ScriptServer() as server, CensorProxy(tmp_path / "censor") as censor:
        app = _browser_home(tmp_home, server, censor.base)
        censor.censor("/api/story.json", "block451")
        run_cli(tmp_home, "recheck", "--all")
    [control, vantage] = checks(tmp_home, app)
    assert control == ("default", "alive", None)
    assert vantage == ("kz", "blocked", "walled"), vantage      # the story never came
    [block] = json.loads(run_cli(tmp_home, "blocking", "--format", "json").output)
    assert block["evidence"]["rule"].startswith("page/collapse")
    assert "collapsed" in block["evidence"]["detail"]
    at_kz = [r for r in all_records(tmp_home)
             if r["headers"].get_header("WARC-Memoryhole-Vantage") == "kz"]
    assert any(r["type"] == "response" and r["uri"].endswith("/api/story.json")
               and r["http"].get_statuscode() == "451" for r in at_kz)
    assert {r["uri"].split(":", 1)[0] for r in at_kz if r["type"] == "resource"} == {"urn"}
    assert all(r["headers"].get_header("WARC-IP-Address") is None for r in at_kz)
    [captured] = rows(tmp_home, "SELECT via, vantage FROM captures WHERE id = (SELECT capture_id"
                                " FROM checks WHERE vantage = 'kz')")
    assert captured == {"via": "browser", "vantage": "kz"}


@pytest.mark.parametrize("kind", ["tinyproxy", "microsocks"])
def test_a_browser_page_through_a_proxy_that_wants_a_password(tmp_home: Path, tmp_path: Path,
                                                              kind: str) -> None:
    """HTTP (tinyproxy) or SOCKS5 (microsocks), with a password: Chromium goes through the
    vantage's guard proxy, which alone holds the credentials (Chromium has no SOCKS5
    authentication): alive at both, the vantage's capture is the browser's, and the password is
    in no record and no log."""
    chromium_path()
    proxies = {"tinyproxy": Tinyproxy, "microsocks": Microsocks}
    with ScriptServer() as server, proxies[kind](tmp_path / kind) as proxy:
        app = _browser_home(tmp_home, server, proxy.url)
        run_cli(tmp_home, "recheck", "--all")
    assert checks(tmp_home, app) == [("default", "alive", None), ("kz", "alive", None)]
    [captured] = rows(tmp_home, "SELECT via, vantage FROM captures WHERE id = (SELECT "
                                "capture_id FROM checks WHERE vantage = 'kz')")
    assert captured == {"via": "browser", "vantage": "kz"}
    at_kz = [r for r in all_records(tmp_home)
             if r["headers"].get_header("WARC-Memoryhole-Vantage") == "kz"]
    assert {r["type"] for r in at_kz} >= {"revisit", "resource"}      # the same page again
    assert any(r["uri"].endswith("/api/story.json") and r["type"] in ("response", "revisit")
               for r in at_kz)                                          # its XHR too
    assert all(r["headers"].get_header("WARC-IP-Address") is None for r in at_kz)
    logs = "".join(path.read_text(errors="replace") for path in (tmp_home / "logs").iterdir())
    assert "browser: vantage kz through a guard proxy at 127.0.0.1:" in logs
    assert "no_browser" not in logs
    for path in [*warc_files(tmp_home), *(tmp_home / "logs").iterdir()]:
        data = _gunzip_all(path) if path.suffix == ".gz" else path.read_bytes()
        assert PASSWORD.encode() not in data, path
        assert base64.b64encode(f"{USER}:{PASSWORD}".encode()) not in data, path


def test_a_vantage_as_the_control(tmp_home: Path, tmp_path: Path) -> None:
    """``control = true``: every re-check goes through that vantage's proxy (tinyproxy, with a
    password), its records say so and keep no address; it alone confirms deletions, and the
    other vantages are held against it."""
    with ScriptServer() as server, Tinyproxy(tmp_path / "tinyproxy") as proxy, \
            CensorProxy(tmp_path / "censor") as censor:
        urls = dict(zip(["/ok", "/block-page", "/gone"], setup_home(
            tmp_home, server, censor.base, ["/ok", "/block-page", "/gone"]), strict=True))
        with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
            handle.write(f'[[vantage]]\nname = "ctl"\nproxy = "{proxy.url}"\ncontrol = true\n')
        censor.censor("/block-page", "block200")
        server.script("/gone", [{"status": 404, "body": "<h1>Not Found</h1>"}])
        run_cli(tmp_home, "recheck", "--all")
        run_cli(tmp_home, "recheck", "--all")
    assert checks(tmp_home, urls["/ok"], "ctl")[-2:] == [("ctl", "alive", None),
                                                         ("kz", "alive", None)]
    assert checks(tmp_home, urls["/block-page"], "ctl")[-2:] == [
        ("ctl", "alive", None), ("kz", "blocked", "geo_blocked")]
    assert checks(tmp_home, urls["/gone"], "ctl")[-2:] == [("ctl", "missing", "gone"),
                                                           ("kz", "missing", "gone")]
    [deletion] = json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)
    assert deletion["url"] == urls["/gone"]
    assert [b["vantage"] for b in json.loads(
        run_cli(tmp_home, "blocking", "--format", "json").output)] == ["kz"]
    records = [r for r in all_records(tmp_home) if r["type"] in ("response", "revisit")
               and r["headers"].get_header("WARC-Memoryhole-Vantage") == "ctl"]
    assert len(records) >= 6                      # 3 URLs, 2 runs, robots.txt besides
    for record in records:
        assert record["headers"].get_header("WARC-Memoryhole-Vantage-Is-Control") == "true"
        assert record["headers"].get_header("WARC-IP-Address") is None
        assert "tinyproxy" in (record["http"].get_header("Via") or "")   # it went through it
    assert rows(tmp_home, "SELECT count(*) AS n FROM captures WHERE vantage = 'ctl'") == [
        {"n": 0}]                           # the control's captures, as the direct ones are
    with ServeProcess(tmp_home) as served:
        page = http_get(served.ui, "/url?" + urlencode({"u": urls["/block-page"]}))[2].decode()
    states = page.split("Where it stands", 1)[1].split("</table>", 1)[0]
    assert re.search(r"ctl \(control\)</td>.*?<strong>alive</strong>", states, re.S)
    assert re.search(r"<td>kz</td>.*?<strong>blocked</strong>", states, re.S)
    index = index_text(tmp_home)
    assert '"vantage": "ctl"' not in index and '"vantage": "kz"' in index
    for path in [*warc_files(tmp_home), *(tmp_home / "logs").iterdir()]:
        data = _gunzip_all(path) if path.suffix == ".gz" else path.read_bytes()
        assert PASSWORD.encode() not in data, path
        assert base64.b64encode(f"{USER}:{PASSWORD}".encode()) not in data, path


@pytest.mark.parametrize(("table", "error"), [
    ('[[vantage]]\nname = "a"\nproxy = "http://h:1"\ncontrol = true\n'
     '[[vantage]]\nname = "b"\nproxy = "http://h:2"\ncontrol = true\n',
     "vantage[1].control: a second vantage marked control = true"),
    ('[[vantage]]\nname = "a"\nproxy = "socks5://h:1"\ncontrol = true\n',
     "the control's proxy must be an http(s) proxy"),
])
def test_the_control_vantage_is_checked(tmp_home: Path, table: str, error: str) -> None:
    write_config(tmp_home)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write(table)
    assert error in run_cli(tmp_home, "crawl", "http://127.0.0.1:9/", expect=2).output


def test_a_source_cannot_name_the_control_as_a_vantage(tmp_home: Path) -> None:
    write_config(tmp_home)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[[vantage]]\nname = "ctl"\nproxy = "http://h:1"\ncontrol = true\n')
    (tmp_home / "seeds.toml").write_text('[[source]]\nname = "w"\nkind = "page"\n'
                                         'url = "http://127.0.0.1:9/"\nvantages = ["ctl"]\n')
    bad = run_cli(tmp_home, "crawl", "--seeds", str(tmp_home / "seeds.toml"), expect=2)
    assert "'ctl' is the control" in bad.output


def test_a_browser_page_re_checked_through_the_control_vantage(tmp_home: Path,
                                                               tmp_path: Path) -> None:
    """With a control vantage, a browser page's re-check loads in Chromium through it too: its
    records say so, its DOM is the control's (the URL stays alive, no vantage capture)."""
    chromium_path()
    with ScriptServer() as server, Tinyproxy(tmp_path / "tinyproxy") as proxy:
        app = _browser_home(tmp_home, server, proxy.url)
        config = (tmp_home / "memoryhole.toml").read_text()
        (tmp_home / "memoryhole.toml").write_text(config.replace(
            'name = "kz"', 'name = "ctl"\ncontrol = true'))
        (tmp_home / "seeds.toml").write_text(
            (tmp_home / "seeds.toml").read_text().replace('vantages = ["kz"]\n', ""))
        run_cli(tmp_home, "recheck", "--all")
    assert checks(tmp_home, app, "ctl") == [("ctl", "alive", None)]
    [captured] = rows(tmp_home, "SELECT via, vantage FROM captures WHERE id = (SELECT capture_id"
                                " FROM checks)")
    assert captured == {"via": "browser", "vantage": None}
    through = [r for r in all_records(tmp_home)
               if r["headers"].get_header("WARC-Memoryhole-Vantage") == "ctl"]
    assert {r["type"] for r in through} >= {"revisit", "resource"}    # the same page again
    assert all(r["headers"].get_header("WARC-Memoryhole-Vantage-Is-Control") == "true"
               for r in through)
    assert all(r["headers"].get_header("WARC-IP-Address") is None for r in through)
    logs = "".join(path.read_text(errors="replace") for path in (tmp_home / "logs").iterdir())
    assert "browser: vantage ctl through a guard proxy at 127.0.0.1:" in logs   # chained
