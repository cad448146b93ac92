"""``export wacz``, ``export evidence`` and ``export csv`` on a home built from a local site
(tests.support.webhome): every package passes ``wacz validate``; its WARCs are re-read with their
digests checked; every index line finds its record; the evidence bundle's hashes match."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.support import webhome as wh
from tests.support.helpers import rows, run_cli
from tests.support.pywb_env import ensure_pywb_venv

WACZ_TOOL = Path(sys.executable).parent / "wacz"


def validate(path: Path) -> None:
    assert WACZ_TOOL.exists(), f"{WACZ_TOOL} missing: pip install wacz (make venv installs it)"
    done = subprocess.run([str(WACZ_TOOL), "validate", "-f", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "Validation succeeded" in done.stdout, done.stdout


def open_package(path: Path) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    package = zipfile.ZipFile(path)
    datapackage = json.loads(package.read("datapackage.json"))
    digest = json.loads(package.read("datapackage-digest.json"))
    assert digest["hash"] == "sha256:" + hashlib.sha256(
        package.read("datapackage.json")).hexdigest()
    for resource in datapackage["resources"]:
        data = package.read(resource["path"])
        assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert resource["bytes"] == len(data)
        if resource["path"].startswith("archive/"):
            assert package.getinfo(resource["path"]).compress_type == zipfile.ZIP_STORED
    listed = {r["path"] for r in datapackage["resources"]}
    assert set(package.namelist()) == listed | {"datapackage.json", "datapackage-digest.json"}
    return package, datapackage


def records_of(data: bytes) -> list[dict[str, Any]]:
    """Every record of a WARC, its digests checked, with its offset."""
    found = []
    iterator = ArchiveIterator(io.BytesIO(data), check_digests=True)
    for record in iterator:
        record.raw_stream.read()
        assert record.digest_checker.passed is not False, record.digest_checker.problems
        found.append({"type": record.rec_type, "offset": iterator.get_record_offset(),
                      "id": record.rec_headers.get_header("WARC-Record-ID"),
                      "uri": record.rec_headers.get_header("WARC-Target-URI")})
    return found


def check_index(package: zipfile.ZipFile) -> list[dict[str, Any]]:
    """Every index line points at a record of the package's WARCs of its URL."""
    by_file = {name.split("/", 1)[1]: records_of(package.read(name))
               for name in package.namelist() if name.startswith("archive/")}
    lines = package.read("indexes/index.cdx").decode().splitlines()
    assert lines == sorted(lines) and lines
    entries = []
    for line in lines:
        entry = json.loads(line.split(" ", 2)[2])
        at = {r["offset"]: r for r in by_file[entry["filename"]]}
        assert at[int(entry["offset"])]["uri"] == entry["url"], entry
        entries.append(entry)
    return entries


def pages_of(package: zipfile.ZipFile) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in package.read("pages/pages.jsonl").decode().splitlines()]
    assert lines[0] == {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    return lines[1:]


def test_whole_home_wacz(web: wh.WebHome, tmp_path: Path) -> None:
    out = tmp_path / "all.wacz"
    result = run_cli(web.home, "export", "wacz", str(out))
    assert "wrote" in result.output
    validate(out)
    package, datapackage = open_package(out)
    assert datapackage["wacz_version"] == "1.1.1"
    home_warcs = sorted(p.name for p in (web.home / "collections" / "main" / "archive")
                        .glob("*.warc.gz"))
    assert sorted(n.split("/", 1)[1] for n in package.namelist()
                  if n.startswith("archive/")) == home_warcs
    for name in home_warcs:                 # stored as they are, byte for byte
        assert package.read(f"archive/{name}") == (
            web.home / "collections" / "main" / "archive" / name).read_bytes()
    entries = check_index(package)
    assert {e["url"] for e in entries} >= {web.urls["article"],
                                           web.site.url("/img/photo.png")}
    assert {p["url"] for p in pages_of(package)} >= {web.urls["article"], web.urls["edited"]}


def test_source_wacz_holds_the_pages_and_what_replays_them(web: wh.WebHome,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "site.wacz"
    run_cli(web.home, "export", "wacz", str(out), "--source", "site")
    validate(out)
    package, _ = open_package(out)
    (warc,) = [n for n in package.namelist() if n.startswith("archive/")]
    records = records_of(package.read(warc))
    assert records[0]["type"] == "warcinfo"
    home_ids = {r["warc_record_id"] for r in rows(web.home, "SELECT warc_record_id FROM captures")}
    copied = [r for r in records if r["type"] in ("response", "revisit")]
    assert copied and all(r["id"] in home_ids for r in copied)      # the same records
    assert sum(r["type"] == "request" for r in records) == len(copied)
    urls = {e["url"] for e in check_index(package)}
    assert {web.site.url("/static/site.css"), web.site.url("/img/photo.png"),
            web.urls["article"]} <= urls
    nothing = run_cli(web.home, "export", "wacz", str(tmp_path / "none.wacz"), "--source",
                      "no-such-source", expect=1)
    assert "no indexed capture matches" in nothing.output
    assert not (tmp_path / "none.wacz").exists() and not list(tmp_path.glob(".export-*"))


def test_evidence_bundle(web: wh.WebHome, tmp_path: Path) -> None:
    out = tmp_path / "evidence.wacz"
    result = run_cli(web.home, "export", "evidence", web.urls["gone"], str(out))
    validate(out)
    package, _ = open_package(out)
    document = json.loads(package.read("evidence/deletion.json"))
    deletion = document["deletion"]
    assert deletion["url"] == web.urls["gone"] and deletion["reason"] == "gone"
    listed = json.loads(run_cli(web.home, "deletions", "--format", "json").output)
    assert deletion == next(d for d in listed if d["url"] == web.urls["gone"])
    (warc,) = [n for n in package.namelist() if n.startswith("archive/")]
    data = package.read(warc)
    assert document["bundle"]["warc"] == {warc: "sha256:" + hashlib.sha256(data).hexdigest()}
    assert document["bundle"]["warc"][warc].split(":")[1] in result.output
    for name, digest in document["bundle"]["source_warcs"].items():
        source = web.home / "collections" / name.replace("/", "/archive/", 1)
        assert digest == "sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()
    records = {r["offset"]: r for r in records_of(data)}
    for listed_record in document["bundle"]["records"]:
        found = records[listed_record["bundle"]["offset"]]
        assert found["id"] == listed_record["record_id"]
    good_id = rows(web.home, "SELECT warc_record_id FROM captures WHERE id = ?",
                   (deletion["last_good_capture"]["capture_id"],))[0]["warc_record_id"]
    ids = {r["record_id"] for r in document["bundle"]["records"]}
    assert good_id in ids
    tombstones = [c for c in document["checks_since_last_seen_alive"]
                  if c["outcome"] == "missing"]
    assert len(tombstones) == 2 and all(c["http_status"] == 404 for c in tombstones)
    for check in tombstones:
        (tomb,) = rows(web.home, "SELECT warc_record_id FROM captures WHERE id = ?",
                       (check["capture_id"],))
        assert tomb["warc_record_id"] in ids
    check_index(package)
    nothing = run_cli(web.home, "export", "evidence", web.urls["article"],
                      str(tmp_path / "x.wacz"), expect=1)
    assert f"has no deletion of {web.urls['article']}" in nothing.output
    assert "deletions --format json" in nothing.output and not (tmp_path / "x.wacz").exists()


def test_deletion_log_csv(web: wh.WebHome, tmp_path: Path) -> None:
    out = tmp_path / "log.csv"
    result = run_cli(web.home, "export", "csv", str(out))
    assert "wrote 2 deletions" in result.output
    table = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    listed = json.loads(run_cli(web.home, "deletions", "--format", "json").output)
    assert [r["url"] for r in table] == [d["url"] for d in listed]
    assert [r["reason"] for r in table] == [d["reason"] for d in listed]
    assert all(r["replay_url"].startswith(f"http://127.0.0.1:{web.ui_port}/replay/")
               for r in table)
    assert table[0]["last_good_warc_filename"].endswith(".warc.gz")
    since = run_cli(web.home, "export", "csv", str(out), "--since", "2000-01-01", "--source",
                    "site")
    assert "wrote 2 deletions" in since.output
    bad = run_cli(web.home, "export", "csv", str(out), "--since", "whenever", expect=2)
    assert "not a time or an age" in bad.output


@pytest.mark.timeout(600)
def test_pywb_replays_the_evidence_bundle(web: wh.WebHome, tmp_path: Path) -> None:
    """A real replay tool reads the package: pywb adds the WACZ (its WARC and index) to a
    collection and replays the last good capture and the tombstone from it."""
    bin_dir = ensure_pywb_venv()
    bundle = tmp_path / "evidence.wacz"
    run_cli(web.home, "export", "evidence", web.urls["gone"], str(bundle))
    document = json.loads(zipfile.ZipFile(bundle).read("evidence/deletion.json"))
    root = tmp_path / "pywb"
    root.mkdir()
    for argv in (["init", "ev"], ["add", "--unpack-wacz", "ev", str(bundle)]):
        done = subprocess.run([str(bin_dir / "wb-manager"), *argv], cwd=root,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    port = wh.free_port()
    log = open(tmp_path / "wayback.log", "wb")
    proc = subprocess.Popen([str(bin_dir / "wayback"), "-b", "127.0.0.1", "-p", str(port)],
                            cwd=root, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        good = document["deletion"]["last_good_capture"]
        stamp = "".join(ch for ch in good["timestamp"] if ch.isdigit())[:14]
        status, body = _wait_get(base + f"/ev/{stamp}id_/{web.urls['gone']}", proc)
        assert status == 200 and b"border talks" in body
        tombstone = next(r for r in document["bundle"]["records"]
                         if r["type"] == "response" and r["date"] > good["timestamp"])
        stamp = "".join(ch for ch in tombstone["date"] if ch.isdigit())[:14]
        status, body = _wait_get(base + f"/ev/{stamp}id_/{web.urls['gone']}", proc)
        assert status == 404 and b"Not Found" in body
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _wait_get(url: str, proc: subprocess.Popen[bytes]) -> tuple[int, bytes]:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "wayback exited"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            assert time.monotonic() < deadline, f"wayback did not answer {url}"
            time.sleep(0.3)
