"""Certificates are verified on every path (crawlers.tls): a page served with a certificate that
does not verify is never archived, a forged certificate's 404 confirms nothing, and
``[crawl] ca_file`` adds trust anchors for Scrapy, the fast path and Chromium alike. The test CA
and the forger's come from trustme (tests.support.tls); every server is on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import ssl

import pytest

from archive.config import load_config
from archive.home import Home
from archive.seeds import Source
from crawlers.launch import run_crawl
from tests.support.helpers import all_records, rows, run_cli, write_config
from tests.support.scriptserver import ScriptServer
from tests.support.webhome import chromium_path

PAGE = ("<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        "<p>Kazakhstan and China signed a transit deal at Khorgos.</p></article></body></html>")


def page(title: str) -> dict:
    return {"status": 200, "body": PAGE.format(title=title), "headers": [["ETag", '"v1"']]}


def crawl(home, urls=(), sources=(), **settings):
    config = load_config(home / "memoryhole.toml")
    result = run_crawl(Home(home), config, list(sources), list(urls),
                       extra_settings=settings or None)
    assert result.returncode == 0, result.error_lines()
    return result


def configure(home, tls=None, **crawl_values):
    values = {"obey_robots": False, "timeout": 5, **crawl_values}
    if tls is not None:
        values["ca_file"] = str(tls.ca)
    write_config(home, **values)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')


@pytest.mark.parametrize("fast_pages", [True, False], ids=["fastpath", "scrapy"])
def test_a_certificate_that_does_not_verify_is_never_a_page(tmp_home, https_server, fast_pages):
    configure(tmp_home)                                   # the test CA is not trusted
    https_server.script("/a", [page("A")])
    result = crawl(tmp_home, [https_server.url("/a")], FASTPATH_PAGES=fast_pages)
    assert result.stats.get("memoryhole/fetch_errors/TLSError") == 1
    assert not result.stats.get("memoryhole/pages")
    if fast_pages:                                        # refused there too, then by Scrapy
        assert result.stats.get("fastpath/pages/failed/ClientConnectorCertificateError") == 1
    assert https_server.hits().get("/a", 0) == 0          # no request ever reached the site
    assert not rows(tmp_home, "SELECT * FROM captures")
    assert any("TLSError" in line for line in result.error_lines())


@pytest.mark.parametrize("fast_pages", [True, False], ids=["fastpath", "scrapy"])
def test_ca_file_adds_trust_anchors(tmp_home, https_server, tls, fast_pages):
    configure(tmp_home, tls)
    https_server.script("/a", [page("A")])
    result = crawl(tmp_home, [https_server.url("/a")], FASTPATH_PAGES=fast_pages)
    assert result.stats.get("memoryhole/pages") == 1
    assert bool(result.stats.get("fastpath/pages/pages")) is fast_pages
    [capture] = rows(tmp_home, "SELECT status, title FROM captures")
    assert (capture["status"], capture["title"]) == (200, "A")


def test_a_forged_certificate_s_404_confirms_nothing(tmp_home, tls, forged_tls):
    """A middlebox answers for the site with its own certificate: its 404 is no evidence, every
    re-check through it is transient (tls); once the real site answers 404, the deletion is
    confirmed as always."""
    configure(tmp_home, tls)
    with ScriptServer(tls=tls) as real:
        real.script("/story", [page("Story")])
        url = real.url("/story")
        run_cli(tmp_home, "crawl", url)
        port = int(real.base.rsplit(":", 1)[1])
    with ScriptServer(tls=forged_tls, port=port) as forger:
        forger.script("/story", [{"status": 404, "body": "<h1>Not Found</h1>"}])
        for _ in range(3):
            run_cli(tmp_home, "recheck", "--all")
        assert forger.hits().get("/story", 0) == 0        # the handshake fails first
    checks = rows(tmp_home, "SELECT outcome, reason, http_status, capture_id FROM checks")
    assert [(c["outcome"], c["reason"], c["http_status"], c["capture_id"]) for c in checks] == \
        [("transient", "tls", None, None)] * 3
    assert json.loads(run_cli(tmp_home, "deletions", "--format", "json").output) == []
    with ScriptServer(tls=tls, port=port) as real:
        real.script("/story", [{"status": 404, "body": "<h1>Not Found</h1>"}])
        run_cli(tmp_home, "recheck", "--all")
        run_cli(tmp_home, "recheck", "--all")
    [deletion] = json.loads(run_cli(tmp_home, "deletions", "--format", "json").output)
    assert (deletion["url"], deletion["reason"]) == (url, "gone")


def test_ca_file_is_validated(tmp_home, tmp_path):
    configure(tmp_home, ca_file="missing.pem")
    result = run_cli(tmp_home, "crawl", "https://127.0.0.1:9/", expect=2)
    assert "crawl.ca_file" in result.output and "no such file" in result.output
    (tmp_home / "junk.pem").write_text("not a certificate\n")
    configure(tmp_home, ca_file="junk.pem")
    result = run_cli(tmp_home, "crawl", "https://127.0.0.1:9/", expect=2)
    assert "crawl.ca_file" in result.output and "no PEM certificate" in result.output


@pytest.mark.parametrize("trusted", [False, True], ids=["no-anchor", "ca_file"])
def test_chromium_verifies_and_takes_ca_file(tmp_home, https_server, tls, trusted):
    """A page rendered in the browser: refused with a certificate Chromium cannot verify, loaded
    when ``ca_file`` names its CA (given to Chromium in an NSS database of the crawl's own)."""
    configure(tmp_home, tls if trusted else None)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write(f'[browser]\nexecutable = "{chromium_path()}"\ntimeout = 20\n')
    https_server.script("/app", [page("Rendered")])
    source = Source(name="js", kind="page", urls=(https_server.url("/app"),), render="browser")
    result = crawl(tmp_home, sources=[source])
    captured = [r for r in all_records(tmp_home) if r["type"] == "response"]
    if trusted:
        assert result.stats.get("memoryhole/browser/pages") == 1
        assert [r["uri"] for r in captured] == [https_server.url("/app")]
    else:
        assert result.stats.get("memoryhole/fetch_errors/TLSError") == 1
        assert captured == []
        assert https_server.hits().get("/app", 0) == 0


@pytest.mark.parametrize("fast_pages", [True, False], ids=["fastpath", "scrapy"])
def test_the_certificate_is_archived_and_catalogued(tmp_home, https_server, tls, fast_pages):
    """The server's certificate (PEM) goes into the WARC once per origin and file, as a metadata
    record concurrent to the first response from it, with its SHA-256; every capture of an
    https page names that fingerprint (history --format json)."""
    configure(tmp_home, tls)
    for path in ("/a", "/b"):
        https_server.script(path, [page(path)])
    crawl(tmp_home, [https_server.url("/a"), https_server.url("/b")],
          FASTPATH_PAGES=fast_pages, CONCURRENT_REQUESTS=1)
    leaf = ssl.PEM_cert_to_DER_cert(tls.cert.read_text().split("-----END CERTIFICATE-----")[0]
                                    + "-----END CERTIFICATE-----\n")
    fingerprint = hashlib.sha256(leaf).hexdigest()
    records = all_records(tmp_home)
    [metadata] = [r for r in records if r["type"] == "metadata"]
    assert metadata["headers"].get_header("Content-Type") == "application/x-pem-file"
    assert metadata["headers"].get_header("WARC-Memoryhole-Certificate-SHA256") == fingerprint
    pems = metadata["raw"].decode("ascii").split("-----END CERTIFICATE-----")
    assert ssl.PEM_cert_to_DER_cert(pems[0] + "-----END CERTIFICATE-----\n") == leaf
    responses = {r["headers"].get_header("WARC-Record-ID"): r for r in records
                 if r["type"] == "response"}
    first = responses[metadata["headers"].get_header("WARC-Concurrent-To")]
    assert first["uri"] == metadata["uri"]
    for path in ("/a", "/b"):
        history = json.loads(run_cli(tmp_home, "history", https_server.url(path), "--format",
                                     "json").output)
        assert [c["certificate_sha256"] for c in history["captures"]] == [fingerprint]


def test_plain_http_has_no_certificate(tmp_home, server):
    configure(tmp_home)
    server.script("/a", [page("A")])
    crawl(tmp_home, [server.url("/a")])
    assert not [r for r in all_records(tmp_home) if r["type"] == "metadata"]
    history = json.loads(run_cli(tmp_home, "history", server.url("/a"), "--format",
                                 "json").output)
    assert [c["certificate_sha256"] for c in history["captures"]] == [None]
