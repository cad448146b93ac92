"""archive.integrity.check and archive.integrity.repair on real homes: WARCs, index.cdxj and a real
catalogue."""

from __future__ import annotations

import argparse
import gzip
import io
import subprocess
import sys
import textwrap
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
import sqlite_utils
from warcio.checker import Checker
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.catalogue.db import open_catalogue
from archive.home import Home
from archive.integrity.check import check_home
from archive.integrity.repair import repair_home
from archive.timeutil import iso
from archive.warc.cdxj import cdxj_lines, merge_into_index
from archive.warc.cdxj_tiers import read_entries
from archive.warc.http_message import HttpExchange
from archive.warc.records import WrittenRecord
from archive.warc.writer import RotatingWarcWriter
from tests.test_warc_writer import T0, members, page, read_all, sample_exchanges

COLL = "c"
ROOT = Path(__file__).resolve().parent.parent


def catalogue(db: sqlite_utils.Database, rec: WrittenRecord, via: str = "http") -> None:
    """A captures row the way the crawler writes one."""
    loc = rec.location
    db["captures"].insert({
        "url": rec.url, "fetched_url": rec.url, "captured_at": iso(rec.date),
        "status": rec.status, "mime": rec.mime, "collection": COLL,
        "warc_filename": loc.filename, "warc_offset": loc.offset, "warc_length": loc.length,
        "warc_record_id": rec.record_id, "payload_digest": rec.payload_digest,
        "is_revisit": int(rec.record_type == "revisit"), "via": via,
    })


def writer_for(home: Home, db: sqlite_utils.Database, **kw: object) -> RotatingWarcWriter:
    home.ensure(COLL)
    return RotatingWarcWriter(
        home.archive_dir(COLL), warcinfo={"software": "memoryhole test"},
        on_close=lambda path, recs: merge_into_index(home.index_path(COLL), cdxj_lines(recs)),
        **{"max_bytes": 4000, **kw})


def gzip_exchange(n: int) -> HttpExchange:
    body = gzip.compress(page(n))
    return HttpExchange(f"http://example.test/p/{n}", 200,
                        [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], body,
                        T0 + timedelta(minutes=n))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


@pytest.fixture
def db(home: Home) -> sqlite_utils.Database:
    return open_catalogue(home.db_path)


def clean_home(home: Home, db: sqlite_utils.Database) -> list[WrittenRecord]:
    """Several rotated files: responses (all catalogued, as the crawler does), a resource."""
    writer = writer_for(home, db)
    written: list[WrittenRecord] = []
    for ex in [*sample_exchanges(), *map(gzip_exchange, range(8))]:
        resp, req = writer.write_exchange(ex)
        catalogue(db, resp)
        written += [resp, req]
    shot = writer.write_resource("urn:screenshot:http://example.test/p/1", "image/png",
                                 b"\x89PNG...", T0, concurrent_to=written[0].record_id)
    catalogue(db, shot, via="resource")
    writer.close()
    return [*written, shot]


def killed_writer(archive_dir: Path, count: int) -> Path:
    """A writer process killed after ``count`` exchanges: its ``.open`` file, unlocked."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from archive.warc.writer import RotatingWarcWriter
        from tests.test_integrity import gzip_exchange
        w = RotatingWarcWriter(Path({str(archive_dir)!r}), max_bytes=10**9, warcinfo={{}})
        for n in range({count}):
            print(w.write_exchange(gzip_exchange(100 + n))[0].record_id, flush=True)
        print("done", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(count + 1)]
        assert lines[-1] == "done"
    finally:
        proc.kill()
        proc.wait()
    (path,) = archive_dir.glob("*.warc.gz.open")
    return path


def warcio_check_exit(path: Path) -> int:
    return Checker(argparse.Namespace(inputs=[str(path)], verbose=False)).process_all()


def test_clean_home_passes(home: Home, db: sqlite_utils.Database) -> None:
    written = clean_home(home, db)
    files = list(home.archive_dir(COLL).glob("*.warc.gz"))
    assert len(files) > 2
    progress: list[tuple[str, int, int]] = []
    report = check_home(home, db, progress=lambda *a: progress.append(a))
    assert report.ok, report.summary()
    assert report.files == len(files) and [p[1:] for p in progress] == \
        [(i, len(files)) for i in range(1, len(files) + 1)]
    assert report.records == len(written) + len(files)  # + one warcinfo per file
    assert report.captures == len(written) // 2 + 1
    assert report.summary().startswith(f"{len(files)} files")


def test_torn_last_member_found_where_warcio_sees_nothing(home: Home,
                                                          db: sqlite_utils.Database) -> None:
    home.ensure(COLL)
    path = killed_writer(home.archive_dir(COLL), 3)
    offset, length, _ = members(path)[-1]
    with open(path, "r+b") as fh:
        fh.truncate(offset + length // 2)
    # warcio's checker passes the file: it drops the torn record without a word (NOTES.md)
    assert warcio_check_exit(path) == 0
    assert len(read_all(path)) == 6  # warcinfo + 3 responses + 2 requests: one lost silently
    assert subprocess.run(["gzip", "-t"], stdin=open(path, "rb"),
                          capture_output=True).returncode != 0
    report = check_home(home, db)
    assert {"torn-gzip", "unclosed"} <= set(report.kinds())
    torn = next(p for p in report.problems if p.kind == "torn-gzip")
    assert torn.path == str(path) and f"offset {offset}" in torn.detail
    assert f"memoryhole --home {home.root} check --repair" in torn.fix


def test_flipped_bytes_fail_digests_and_gzip(home: Home, db: sqlite_utils.Database) -> None:
    written = clean_home(home, db)
    target = written[2]  # the br response: flip one byte of its body, recompress the member
    path = home.archive_dir(COLL) / target.location.filename
    raw = bytearray(path.read_bytes())
    loc = target.location
    data = bytearray(zlib.decompress(bytes(raw[loc.offset:loc.offset + loc.length]), 31))
    data[-10] ^= 0x01
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    raw[loc.offset:loc.offset + loc.length] = comp.compress(bytes(data)) + comp.flush()
    path.write_bytes(bytes(raw))
    report = check_home(home, db)
    digest = [p for p in report.problems if p.kind == "digest"]
    assert len(digest) == 1 and target.record_id in digest[0].detail
    assert "from a backup" in digest[0].fix
    # a flipped bit in compressed data: the member is unreadable, the rest still checked
    other = written[-3].location
    assert other.filename != loc.filename
    path2 = home.archive_dir(COLL) / other.filename
    raw2 = bytearray(path2.read_bytes())
    raw2[other.offset + other.length // 2] ^= 0x40
    path2.write_bytes(bytes(raw2))
    again = check_home(home, db)
    corrupt = [p for p in again.problems if p.kind == "gzip-corrupt"]
    assert len(corrupt) == 1 and f"offset {other.offset}" in corrupt[0].detail
    assert again.records == report.records - 1


def test_bad_http_content_length_found(home: Home, db: sqlite_utils.Database) -> None:
    clean_home(home, db)
    path = home.archive_dir(COLL) / "OTHER-20260101000000000000-1-00000.warc.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                              ("Content-Length", "5000")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            "http://example.test/short", "response", payload=io.BytesIO(b"<p>short</p>"),
            http_headers=headers))
    assert warcio_check_exit(path) == 0  # warcio does not compare the lengths
    report = check_home(home, db)
    bad = [p for p in report.problems if p.kind == "length-mismatch"]
    assert len(bad) == 1 and "Content-Length 5000" in bad[0].detail and "12 bytes" in bad[0].detail
    assert "crawl" in bad[0].fix


def test_catalogue_and_records_disagree(home: Home, db: sqlite_utils.Database) -> None:
    written = clean_home(home, db)
    rows = list(db["captures"].rows_where(order_by="id"))
    db["captures"].delete(rows[0]["id"])                                   # record, no row
    db["captures"].update(rows[1]["id"], {"warc_offset": rows[1]["warc_offset"] + 1})
    db["captures"].insert({**rows[0], "id": None, "warc_record_id": "<urn:uuid:nothing>",
                           "warc_filename": "MH-gone.warc.gz"})           # row, no record
    report = check_home(home, db)
    kinds = sorted(p.kind for p in report.problems)
    assert kinds == ["catalogue-mismatch", "catalogue-missing-record", "record-not-catalogued"]
    nc = next(p for p in report.problems if p.kind == "record-not-catalogued")
    assert written[0].location.filename in nc.path and written[0].url in nc.detail
    missing = next(p for p in report.problems if p.kind == "catalogue-missing-record")
    assert "MH-gone.warc.gz" in missing.detail and "check --repair" in missing.fix
    fixed = repair_home(home, db)
    assert fixed.ok, fixed.summary()
    assert any("pointed at its record" in a for a in fixed.repaired)
    assert any("deleted capture" in a and "MH-gone" in a for a in fixed.repaired)
    assert db["captures"].count == len(written) // 2 + 1


def test_index_missing_and_stale(home: Home, db: sqlite_utils.Database) -> None:
    written = clean_home(home, db)
    index = home.index_path(COLL)
    lines = index.read_text().splitlines()
    index.write_text("\n".join(lines[1:] + [lines[0].replace('"offset": "', '"offset": "9')])
                     + "\n")
    stale = check_home(home, db)
    assert stale.kinds() == ["index-stale"]
    assert "1 index lines point at no record" in stale.problems[0].detail
    assert "1 records are not indexed" in stale.problems[0].detail
    index.unlink()
    assert check_home(home, db).kinds() == ["index-missing"]
    fixed = repair_home(home, db)
    assert fixed.ok and any("rebuilt" in a for a in fixed.repaired)
    assert sorted(e.line for e in read_entries(index)) == sorted(cdxj_lines(written))


def test_repair_cuts_torn_open_file_and_fixes_catalogue(home: Home,
                                                        db: sqlite_utils.Database) -> None:
    clean_home(home, db)
    path = killed_writer(home.archive_dir(COLL), 4)
    found = members(path)
    recs = read_all(path)
    # the crawler had catalogued the first two responses; the last one gets torn
    for rec, _ in recs[1::2][:2] + [recs[-2]]:
        rid = rec.rec_headers.get_header("WARC-Record-ID")
        offset = next(m[0] for m in found if rid.encode() in m[2][:400])
        length = next(m[1] for m in found if m[0] == offset)
        db["captures"].insert({
            "url": rec.rec_headers.get_header("WARC-Target-URI"), "captured_at": iso(T0),
            "collection": COLL, "warc_filename": path.name[:-5], "warc_offset": offset,
            "warc_length": length, "warc_record_id": rid, "via": "http"})
    last_resp_offset, _, _ = found[-2]
    raw = path.read_bytes()
    with open(path, "r+b") as fh:  # tear the last response (its request is lost with it)
        fh.truncate(last_resp_offset + 40)
    before = check_home(home, db)
    assert {"torn-gzip", "unclosed", "catalogue-missing-record",
            "record-not-catalogued"} <= set(before.kinds())

    report = repair_home(home, db)
    assert report.ok, report.summary()
    final = path.with_name(path.name[:-5])
    assert final.exists() and not path.exists()
    assert final.read_bytes() == raw[:last_resp_offset]
    (torn,) = home.archive_dir(COLL).glob(final.name + ".torn-*")
    assert torn.read_bytes() == raw[last_resp_offset:last_resp_offset + 40]
    assert any(a.startswith("cut 40 torn bytes") for a in report.repaired)
    assert any(a.startswith("closed ") for a in report.repaired)
    assert any("deleted capture" in a for a in report.repaired)
    assert any("added 1 minimal captures rows" in a for a in report.repaired)
    indexed = {(e.filename, e.offset) for e in read_entries(home.index_path(COLL))}
    assert {(final.name, m[0]) for m in found[1:-2:2]} <= indexed
    added = db.execute("select url, via, is_revisit, mime, status from captures "
                       "where collection = ? and warc_filename = ? and text is null "
                       "and fetched_url is not null", [COLL, final.name]).fetchall()
    assert added == [("http://example.test/p/102", "http", 0, "text/html", 200)]
    assert check_home(home, db).ok
    assert repair_home(home, db).repaired == []


def test_zero_filled_tail_is_cut_like_a_torn_one(home: Home,
                                                 db: sqlite_utils.Database) -> None:
    home.ensure(COLL)
    path = killed_writer(home.archive_dir(COLL), 2)
    size = path.stat().st_size
    with open(path, "ab") as fh:  # what a power cut can leave: allocated blocks, never written
        fh.write(b"\0" * 3000)
    assert check_home(home, None).kinds() == ["torn-gzip", "unclosed"]
    report = repair_home(home, None)
    assert report.ok, report.summary()
    (final,) = home.archive_dir(COLL).glob("*.warc.gz")
    assert final.stat().st_size == size
    (torn,) = home.archive_dir(COLL).glob("*.torn-*")
    assert torn.read_bytes() == b"\0" * 3000


def test_live_open_file_is_left_alone(home: Home, db: sqlite_utils.Database) -> None:
    writer = writer_for(home, db, max_bytes=10**9)
    resp, _ = writer.write_exchange(gzip_exchange(1))
    report = repair_home(home, db)
    assert report.live == [str(writer.current_path)] and report.repaired == []
    assert report.ok and writer.current_path.exists()
    catalogue(db, resp)
    writer.close()
    assert check_home(home, db).ok


def test_records_of_a_running_writer_may_wait_for_their_rows(home: Home,
                                                             db: sqlite_utils.Database) -> None:
    clean_home(home, db)
    db["captures"].delete_where()
    report = check_home(home, db)
    assert report.kinds() == ["record-not-catalogued"]
    for path in home.archive_dir(COLL).glob("*.warc.gz"):  # as if pid 1 wrote them, and runs
        name = path.name.split("-")
        path.rename(path.with_name("-".join([*name[:2], "1", *name[3:]])))
    assert not [p for p in check_home(home, db).problems if p.kind == "record-not-catalogued"]
