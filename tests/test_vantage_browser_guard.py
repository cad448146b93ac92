"""Through a vantage, the browser cannot escape the address rule either.

A watched page on a public site (``public.test``: the tests' fake DNS takes it for public, at
127.0.0.1; the censoring proxy that plays the vantage resolves ``.test`` names to its own
127.0.0.1) is re-checked in Chromium through a vantage (``kz``). Its iframe's redirect hop,
its second iframe's hop and its popup lead to a loopback service (a second server on 127.0.0.1,
which the vantage's proxy would reach on its own machine) and to the cloud metadata address.
Private addresses are not allowed. The page's own request guard never sees a redirect hop nor a
popup: only the guard proxy chained to the vantage's proxy (crawlers.browser.upstream) stands
between them and the vantage's loopback. Nothing may reach the loopback service (its request
log is read once the re-check has ended: every page is done), nor the WARC; each refusal is
counted for the vantage and logged.

(The control's own check fails here: Scrapy's resolver, private addresses refused, finds no
public address for ``public.test``; the vantage's check does not depend on it.)
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from archive.config import load_config
from archive.home import Home
from archive.seeds import Source
from crawlers.launch import run_crawl, run_recheck
from tests.support.helpers import all_records, rows, write_config
from tests.support.proxies import CensorProxy
from tests.support.scriptserver import ScriptServer
from tests.support.webhome import chromium_path

SECRET = "LOOPBACK-SECRET-4b1e"
METADATA = "http://169.254.169.254/latest/meta-data/"
NAMES = {"TWISTED_DNS_RESOLVER": "tests.support.fakedns.TestNamesResolver",
         "FASTPATH_RESOLVER": "tests.support.fakedns.AiohttpTestNames",
         "BROWSER_PROXY_RESOLVER": "tests.support.fakedns.ProxyTestNames"}
TEXT = ("<p>Kazakhstan and China signed a transit deal at Khorgos; traders from Almaty and "
        "Urumqi expect more trucks at the border crossing this spring.</p>") * 8


def test_a_page_at_a_vantage_reaches_no_loopback_and_no_metadata(tmp_path: Path) -> None:
    chromium_path()
    home = tmp_path / "home"
    with ScriptServer() as site, ScriptServer() as inside, \
            CensorProxy(tmp_path / "censor") as censor:
        inside.script("/_default", [{"status": 200, "body": f"<h1>{SECRET}</h1>"}])
        port, q = urlsplit(site.url("/")).port, urlsplit(inside.url("/")).port
        public, loop = f"http://public.test:{port}", f"http://127.0.0.1:{q}"
        site.script("/app.html", [{"status": 200, "body": (
            "<!doctype html><html><head><title>Khorgos</title></head><body><article>"
            f"<h1>Khorgos</h1>{TEXT}</article>"
            f'<iframe src="{public}/hop"></iframe><iframe src="{public}/hop-metadata"></iframe>'
            f'<script>window.open("{loop}/secret-popup")</script></body></html>')}])
        site.script("/hop", [{"status": 302, "headers": [["Location", f"{loop}/secret-hop"]],
                              "body": ""}])
        site.script("/hop-metadata", [{"status": 302, "headers": [["Location", METADATA]],
                                       "body": ""}])
        path = write_config(home, obey_robots=False, timeout=10, requisites=False,
                            allow_private_addresses=False)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f'[recheck]\nconfirm_after = "0s"\n'
                         f'[[vantage]]\nname = "kz"\nproxy = "{censor.base}"\n')
        config = load_config(path)
        app = f"{public}/app.html"
        source = Source(name="watch", kind="page", urls=(app,), render="browser",
                        vantages=("kz",))
        crawl = run_crawl(Home(home), config, [source], [], extra_settings=NAMES)
        assert crawl.returncode == 0, crawl.log_path.read_text()
        recheck = run_recheck(Home(home), config, {"mode": "all"}, [source],
                              extra_settings=NAMES)
        assert recheck.returncode == 0, recheck.log_path.read_text()
        reached = inside.hits()                  # the re-check is over: every page is done
        served = site.hits()
    log = recheck.log_path.read_text()
    assert served.get("/app.html", 0) == 3       # the crawl's; kz's over HTTP and in Chromium
    assert served.get("/hop", 0) == 2 and served.get("/hop-metadata", 0) == 2
    assert recheck.count("vantage/kz/checks_in_browser") == 1
    assert not any(path.startswith("/secret") for path in reached), reached
    assert recheck.count("vantage/kz/browser_proxy/refused/private_address") >= 3, recheck.stats
    for url in (f"{loop}/secret-hop", f"{loop}/secret-popup", METADATA):
        assert f"browser at vantage kz: connection refused: {url}" in log, url
    [check] = rows(home, "SELECT http_status, rule, capture_id FROM checks WHERE vantage = 'kz'")
    assert check["http_status"] == 200 and check["rule"].startswith("page/alive"), check
    [captured] = rows(home, "SELECT via, vantage FROM captures WHERE id = ?",
                      (check["capture_id"],))
    assert captured == {"via": "browser", "vantage": "kz"}
    for record in all_records(home):
        assert SECRET.encode() not in record["raw"], record["uri"]
        if record["type"] in ("response", "revisit", "request"):
            assert record["uri"].startswith(public), record["uri"]
