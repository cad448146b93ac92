"""Hostile text and addresses (RELIABILITY.md points 13 and 23; issue 13 hole 8):

- a config mistake in a secret-bearing key (notification URLs, a proxy) never echoes the value;
- CSV cells that a spreadsheet would run as a formula are neutralised;
- IPv6 addresses that lead to private IPv4 ones (NAT64, 6to4, IPv4-compatible, Teredo) are not
  public;
- Scrapy's ``file``, ``data``, ``ftp`` and ``s3`` download handlers are off, browser crawls too.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from archive.export.formats import write_csv
from crawlers.safety import is_public_address
from tests.support.helpers import run_cli, write_config

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-T0KEN"


@pytest.mark.parametrize("notify", [
    f'urls = "tgram://{SECRET}/12345"',
    f'urls = ["json://user:{SECRET}@hooks.example.org/x", 5]',
    f'urls = [{{ url = "mailto://me:{SECRET}@mail.example.org" }}]',
])
def test_a_config_mistake_never_shows_a_secret(tmp_path: Path, notify: str) -> None:
    home = tmp_path / "home"
    config = write_config(home)
    with open(config, "a", encoding="utf-8") as handle:
        handle.write(f"[notify]\n{notify}\n")
    failed = run_cli(home, "crawl", "http://127.0.0.1:9/", expect=2)
    assert "notify.urls" in failed.output and SECRET not in failed.output, failed.output


def test_a_vantage_proxy_mistake_never_shows_its_password(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = write_config(home)
    with open(config, "a", encoding="utf-8") as handle:
        handle.write(f'[[vantage]]\nname = "kz"\nproxy = ["http://u:{SECRET}@10.0.0.1:3128"]\n')
    failed = run_cli(home, "crawl", "http://127.0.0.1:9/", expect=2)
    assert "vantage[1].proxy" in failed.output or "proxy" in failed.output
    assert SECRET not in failed.output, failed.output


def test_csv_cells_cannot_become_formulas() -> None:
    rows = [{"url": "http://example.org/a", "title": '=HYPERLINK("http://evil.example","x")',
             "detail": "+1 (555) 0100", "reason": "-2+3", "source": "@SUM(A1:A9)",
             "domain": "\tcmd", "item_id": "\r=1", "id": -5, "detected_at": None}]
    out = io.StringIO()
    write_csv(rows, out, columns=("id", "url", "title", "detail", "reason", "source", "domain",
                                  "item_id", "detected_at"))
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    for key in ("title", "detail", "reason", "source", "domain", "item_id"):
        assert row[key].startswith("'") and row[key][1:] == rows[0][key], (key, row[key])
    assert row["id"] == "-5" and row["url"] == "http://example.org/a"
    assert row["detected_at"] == ""


@pytest.mark.parametrize(("address", "public"), [
    ("64:ff9b::7f00:1", False), ("64:ff9b::a00:1", False), ("64:ff9b::a9fe:a9fe", False),
    ("64:ff9b:1::a00:1", False), ("2002:7f00:1::", False), ("2002:a00:1::1", False),
    ("2002:c0a8:101::", False), ("::7f00:1", False), ("::a00:1", False),
    ("::ffff:127.0.0.1", False), ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),
    ("::1", False), ("fe80::1", False), ("fc00::1", False),
    ("64:ff9b::808:808", True), ("2002:808:808::1", True), ("2606:4700:4700::1111", True),
    ("8.8.8.8", True), ("169.254.169.254", False), ("100.64.0.1", False),
])
def test_ipv6_forms_of_private_ipv4_addresses_are_not_public(address: str,
                                                              public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize("browser", [False, True])
def test_file_data_ftp_and_s3_handlers_are_off(tmp_path: Path, browser: bool) -> None:
    settings = {"ARCHIVE_HOME": str(tmp_path), "LOG_LEVEL": "ERROR"}
    if browser:         # a browser crawl sets DOWNLOAD_HANDLERS of its own (http, https)
        settings["DOWNLOAD_HANDLERS"] = {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "file": "scrapy.core.downloader.handlers.file.FileDownloadHandler"}
    job = {"settings": settings, "sources": [], "urls": []}
    code = ("import json, sys\n"
            "from crawlers.runner import build\n"
            "from scrapy.core.downloader.handlers import DownloadHandlers\n"
            "process, crawler = build(json.loads(sys.argv[1]))\n"
            "handlers = DownloadHandlers(crawler)\n"
            "print(json.dumps({s: handlers._get_handler(s) is None\n"
            "                  for s in ('file', 'data', 'ftp', 's3', 'http', 'https')}))\n")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(job)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    off = json.loads(done.stdout.strip().splitlines()[-1])
    assert off == {"file": True, "data": True, "ftp": True, "s3": True, "http": False,
                   "https": False}
