"""archive.warc.writer: records re-read with warcio (digests, order, headers), rotation, locking."""

from __future__ import annotations

import fcntl
import gzip
import re
import subprocess
import sys
import textwrap
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import brotli
import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.warc.http_message import HttpExchange, consistent_response_headers
from archive.warc.records import COMPRESSIONS, RevisitOf, WrittenRecord
from archive.warc.writer import RotatingWarcWriter

T0 = datetime(2026, 11, 22, 4, 0, 0, 123456, tzinfo=UTC)
HTML = "<html><head><title>Қазақстан</title></head><body>{}</body></html>"
NAME_RE = re.compile(r"^MH-\d{20}-\d+-\d{5}\.warc\.gz$")


def page(n: int) -> bytes:
    return HTML.format(f"article {n} " + "text " * 200).encode()


def sample_exchanges(base: str = "http://example.test") -> list[HttpExchange]:
    """gzip and br bodies (kept encoded), duplicate Set-Cookie, a 404, a 302, a POST."""
    gz = gzip.compress(page(1))
    br = brotli.compress(b'{"items": [1, 2, 3]}' * 50)
    return [
        HttpExchange(
            f"{base}/news/1?lang=kk&x=%20y", 200,
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip"),
             ("Content-Length", str(len(gz))), ("Set-Cookie", "a=1; Path=/"),
             ("Set-Cookie", "b=2; Path=/"), ("ETag", '"v1"')],
            gz, T0, request_headers=[("User-Agent", "memoryhole-test"),
                                     ("Accept-Encoding", "gzip, br")],
            ip_address="127.0.0.1"),
        HttpExchange(f"{base}/api/items", 200,
                     [("Content-Type", "application/json"), ("Content-Encoding", "br")],
                     br, T0 + timedelta(seconds=1)),
        HttpExchange(f"{base}/gone", 404, [("Content-Type", "text/html")], b"<h1>Not here</h1>",
                     T0 + timedelta(seconds=2)),
        HttpExchange(f"{base}/old", 302, [("Location", f"{base}/news/1"),
                                          ("Content-Length", "0")], b"",
                     T0 + timedelta(seconds=3), http_version="HTTP/1.0"),
        HttpExchange(f"{base}/form", 200, [("Content-Type", "text/plain")], b"ok",
                     T0 + timedelta(seconds=4), method="POST",
                     request_headers=[("Content-Type", "application/x-www-form-urlencoded")],
                     request_body=b"q=1&r=2"),
    ]


def write_sample(archive_dir: Path, **kw: object) -> tuple[list[WrittenRecord], list[Path]]:
    """Every kind of record: the samples, a revisit of the first, a resource. Returns records
    in write order (response, request, ...) and the closed files."""
    closed: list[Path] = []
    writer = RotatingWarcWriter(archive_dir, max_bytes=kw.pop("max_bytes", 10**9),
                                warcinfo={"software": "memoryhole test", "operator": "tests"},
                                on_close=lambda p, recs: closed.append(p), **kw)
    written: list[WrittenRecord] = []
    exchanges = sample_exchanges()
    for ex in exchanges:
        written += writer.write_exchange(ex)
    first = exchanges[0]
    again = HttpExchange(first.url, 200, [("Content-Type", "text/html; charset=utf-8"),
                                          ("Content-Encoding", "gzip")],
                         first.body, T0 + timedelta(hours=1))
    written += writer.write_exchange(again, revisit_of=RevisitOf(first.url, first.date,
                                                                 written[0].payload_digest))
    written.append(writer.write_resource(f"urn:screenshot:{first.url}", "image/png",
                                         b"\x89PNG\r\n\x1a\nfake", T0 + timedelta(hours=1),
                                         concurrent_to=written[-2].record_id))
    writer.close()
    return written, closed


def read_all(path: Path) -> list[tuple[object, bytes]]:
    """(record, raw payload) for every record, digests checked; asserts none failed."""
    out = []
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, check_digests=True):
            payload = rec.raw_stream.read()
            assert rec.digest_checker.passed is not False, rec.digest_checker.problems
            if rec.rec_type != "revisit":
                assert rec.digest_checker.passed is True, rec.rec_type
            out.append((rec, payload))
    return out


def members(path: Path) -> list[tuple[int, int, bytes]]:
    """(offset, length, data) of every gzip member, read with zlib."""
    raw, pos, out = path.read_bytes(), 0, []
    while pos < len(raw):
        d = zlib.decompressobj(31)
        data = d.decompress(raw[pos:])
        assert d.eof, f"torn member at {pos}"
        length = len(raw) - pos - len(d.unused_data)
        out.append((pos, length, data))
        pos += length
    return out


def test_every_record_rereads_with_valid_digests(tmp_path: Path) -> None:
    written, closed = write_sample(tmp_path)
    assert len(closed) == 1 and NAME_RE.match(closed[0].name)
    assert not list(tmp_path.glob("*.open"))
    records = read_all(closed[0])
    types = [r.rec_type for r, _ in records]
    assert types == ["warcinfo"] + ["response", "request"] * 5 + ["revisit", "request",
                                                                  "resource"]
    assert [w.record_type for w in written] == types[1:]
    info = records[0][0]
    assert info.rec_headers.get_header("Content-Type") == "application/warc-fields"
    assert b"software: memoryhole test\r\n" in records[0][1]
    assert info.rec_headers.get_header("WARC-Filename") == closed[0].name
    info_id = info.rec_headers.get_header("WARC-Record-ID")
    by_id = {r.rec_headers.get_header("WARC-Record-ID"): r for r, _ in records}
    exchanges = sample_exchanges()
    for (rec, _payload), w in zip(records[1:], written, strict=True):
        h = rec.rec_headers
        assert h.get_header("WARC-Record-ID") == w.record_id
        assert re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", w.record_id)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", h.get_header("WARC-Date"))
        assert h.get_header("WARC-Warcinfo-ID") == info_id
        assert h.get_header("WARC-Block-Digest").startswith("sha256:")
        assert h.get_header("WARC-Target-URI") == w.url
        if rec.rec_type in ("response", "request", "revisit"):
            other = by_id[h.get_header("WARC-Concurrent-To")]
            assert other.rec_headers.get_header("WARC-Concurrent-To") == w.record_id
    # the responses: bytes as received, headers in order with duplicates, real status lines
    for i, ex in enumerate(exchanges):
        rec, payload = records[1 + 2 * i]
        assert payload == ex.body
        assert rec.rec_headers.get_header("WARC-Payload-Digest") == \
            RotatingWarcWriter.payload_digest(ex.body) == written[2 * i].payload_digest
        assert written[2 * i].status == ex.status
        sent = [(n.lower(), v) for n, v in ex.response_headers]
        stored = [(n.lower(), v) for n, v in rec.http_headers.headers]
        assert [h for h in stored if h in sent] == sent
    first, _ = records[1]
    assert first.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
    assert [v for n, v in first.http_headers.headers if n == "Set-Cookie"] == \
        ["a=1; Path=/", "b=2; Path=/"]
    assert first.http_headers.statusline == "200 OK"
    assert gzip.decompress(records[1][1]) == page(1)
    assert brotli.decompress(records[3][1]).startswith(b'{"items"')
    assert records[5][0].http_headers.statusline == "404 Not Found"
    assert records[7][0].http_headers.protocol == "HTTP/1.0"
    assert records[7][0].http_headers.statusline == "302 Found"
    # the requests: full path and query, Host added, body kept
    req, _ = records[2]
    assert req.http_headers.protocol == "GET"
    assert req.http_headers.statusline == "/news/1?lang=kk&x=%20y HTTP/1.1"
    assert req.http_headers.get_header("Host") == "example.test"
    assert req.http_headers.get_header("User-Agent") == "memoryhole-test"
    post, post_body = records[10]
    assert post.http_headers.protocol == "POST" and post_body == b"q=1&r=2"
    # the revisit: headers only, pointing at the original
    rev, rev_payload = records[11]
    assert rev_payload == b""
    assert rev.rec_headers.get_header("WARC-Profile") == \
        "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    assert rev.rec_headers.get_header("WARC-Refers-To-Target-URI") == exchanges[0].url
    assert rev.rec_headers.get_header("WARC-Refers-To-Date") == "2026-11-22T04:00:00.123456Z"
    assert rev.rec_headers.get_header("WARC-Payload-Digest") == written[0].payload_digest
    assert rev.http_headers.get_header("Content-Length") == str(len(exchanges[0].body))
    # the resource
    res, res_payload = records[13]
    assert res.rec_headers.get_header("Content-Type") == "image/png"
    assert res_payload.startswith(b"\x89PNG")
    assert res.rec_headers.get_header("WARC-Concurrent-To") == written[10].record_id


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_one_gzip_member_per_record_at_the_reported_locations(tmp_path: Path,
                                                              compression: str) -> None:
    written, closed = write_sample(tmp_path, compression=compression)
    assert len(read_all(closed[0])) == 1 + len(written)       # digests checked by warcio
    found = members(closed[0])
    assert len(found) == 1 + len(written)
    for (offset, length, data), w in zip(found[1:], written, strict=True):
        assert (w.location.filename, w.location.offset, w.location.length) == \
            (closed[0].name, offset, length)
        assert data.startswith(b"WARC/1.1\r\nWARC-Type: " + w.record_type.encode())
        assert data.endswith(b"\r\n\r\n")


@pytest.mark.parametrize(("headers", "body", "status", "truncated", "expect"), [
    ([("Content-Type", "text/html")], b"abc", 200, None,
     [("Content-Type", "text/html"), ("Content-Length", "3")]),
    ([("Content-Length", "99"), ("X-A", "1")], b"abc", 200, None,
     [("Content-Length", "3"), ("X-A", "1"), ("X-Memoryhole-Original-Content-Length", "99")]),
    ([("Transfer-Encoding", "chunked"), ("X-A", "1")], b"abcd", 200, None,
     [("X-A", "1"), ("Content-Length", "4"),
      ("X-Memoryhole-Original-Transfer-Encoding", "chunked")]),
    ([("Content-Length", "99")], b"abc", 200, "length", [("Content-Length", "99")]),
    ([("Content-Length", "3")], b"abc", 200, None, [("Content-Length", "3")]),
    ([("ETag", '"x"')], b"", 304, None, [("ETag", '"x"')]),
    ([], b"", 204, None, []),
], ids=["added", "fixed", "dechunked", "truncated-kept", "right", "304", "204"])
def test_content_length_made_consistent(headers: list, body: bytes, status: int,
                                        truncated: str | None, expect: list) -> None:
    ex = HttpExchange("http://example.test/", status, headers, body, T0, truncated=truncated)
    assert consistent_response_headers(ex) == expect


def test_truncated_exchange_is_marked(tmp_path: Path) -> None:
    with RotatingWarcWriter(tmp_path, max_bytes=10**9, warcinfo={}) as writer:
        writer.write_exchange(HttpExchange("http://example.test/big", 200,
                                           [("Content-Length", "1000")], b"x" * 10, T0,
                                           truncated="length"))
    (path,) = tmp_path.glob("*.warc.gz")
    rec, payload = read_all(path)[1]
    assert rec.rec_headers.get_header("WARC-Truncated") == "length"
    assert rec.http_headers.get_header("Content-Length") == "1000" and len(payload) == 10


def test_rotation_never_splits_a_record_or_a_pair(tmp_path: Path) -> None:
    calls: list[tuple[Path, list[WrittenRecord]]] = []
    writer = RotatingWarcWriter(tmp_path, max_bytes=3000, warcinfo={"software": "t"},
                                prefix="ROT", on_close=lambda p, r: calls.append((p, r)))
    written = []
    for n in range(40):
        body = gzip.compress(page(n) * (1 + n % 3))
        written.append(writer.write_exchange(HttpExchange(
            f"http://example.test/p/{n}", 200, [("Content-Encoding", "gzip")], body,
            T0 + timedelta(seconds=n)))[0])
    writer.close()
    files = sorted(tmp_path.glob("*.warc.gz"))
    assert len(files) > 5 and not list(tmp_path.glob("*.open"))
    assert [p for p, _ in calls] == files
    assert [f.name[-13:-8] for f in files] == [f"{i:05d}" for i in range(len(files))]
    urls = []
    for path, recs in calls:
        records = read_all(path)
        assert records[0][0].rec_type == "warcinfo"
        body_types = [r.rec_type for r, _ in records[1:]]
        assert body_types == ["response", "request"] * (len(body_types) // 2)
        assert [r.location.filename for r in recs] == [path.name] * len(recs)
        assert sum(length for _, length, _ in members(path)) == path.stat().st_size
        urls += [r.rec_headers.get_header("WARC-Target-URI") for r, _ in records[1::2]]
        # each file is closed as soon as it reaches max_bytes, never before
        assert all(m[0] < 3000 for m in members(path))
    assert urls == [f"http://example.test/p/{n}" for n in range(40)]
    assert [w.location.filename for w in written] == \
        [p.name for p, recs in calls for r in recs if r.record_type == "response"]


def test_open_file_is_locked_and_flushed_while_written(tmp_path: Path) -> None:
    writer = RotatingWarcWriter(tmp_path, max_bytes=10**9, warcinfo={})
    writer.write_exchange(sample_exchanges()[0])
    (path,) = tmp_path.glob("*.warc.gz.open")
    assert path == writer.current_path
    with open(path, "rb") as other:
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert [data.split(b"\r\n")[1] for _, _, data in members(path)] == \
        [b"WARC-Type: warcinfo", b"WARC-Type: response", b"WARC-Type: request"]
    writer.close()
    assert not path.exists() and path.with_name(path.name[:-5]).exists()


def test_sigkill_leaves_whole_records(tmp_path: Path) -> None:
    """Records written before the process dies are on disk in full (flushed, not closed)."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from tests.test_warc_writer import sample_exchanges
        from archive.warc.writer import RotatingWarcWriter
        w = RotatingWarcWriter(__import__("pathlib").Path({str(tmp_path)!r}),
                               max_bytes=10**9, warcinfo={{}})
        for ex in sample_exchanges():
            w.write_exchange(ex)
        print("written", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    finally:
        proc.kill()
        proc.wait()
    (path,) = tmp_path.glob("*.warc.gz.open")
    assert len(members(path)) == 1 + 2 * len(sample_exchanges())
    assert len(read_all(path)) == 1 + 2 * len(sample_exchanges())


def test_golden_record_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>" for n in range(100))
    monkeypatch.setattr(RotatingWarcWriter, "_new_id", lambda self: next(ids))
    with RotatingWarcWriter(tmp_path, max_bytes=10**9, warcinfo={"software": "t"}) as writer:
        resp, req = writer.write_exchange(HttpExchange(
            "http://example.test/a?b=c", 200, [("Content-Type", "text/plain"),
                                               ("Set-Cookie", "x=1"), ("Set-Cookie", "y=2")],
            b"hello", T0, request_headers=[("Accept", "*/*")], ip_address="10.0.0.1"))
    (path,) = tmp_path.glob("*.warc.gz")
    data = {m[0]: m[2] for m in members(path)}
    assert data[resp.location.offset] == (
        b"WARC/1.1\r\n"
        b"WARC-Type: response\r\n"
        b"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000000>\r\n"
        b"WARC-Date: 2026-11-22T04:00:00.123456Z\r\n"
        b"WARC-Target-URI: http://example.test/a?b=c\r\n"
        b"WARC-IP-Address: 10.0.0.1\r\n"
        b"WARC-Warcinfo-ID: <urn:uuid:00000000-0000-4000-8000-000000000002>\r\n"
        b"WARC-Concurrent-To: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
        b"WARC-Payload-Digest: sha256:FTZE3OS7WCRQ4JXIHMVMLOPCTYNRMHS4D6TUEXTTAQZWFE4LTASA====\r\n"
        b"WARC-Block-Digest: " + resp_block_digest() + b"\r\n"
        b"Content-Type: application/http; msgtype=response\r\n"
        b"Content-Length: 103\r\n"
        b"\r\n"
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/plain\r\n"
        b"Set-Cookie: x=1\r\n"
        b"Set-Cookie: y=2\r\n"
        b"Content-Length: 5\r\n"
        b"\r\n"
        b"hello\r\n\r\n")
    assert data[req.location.offset].split(b"\r\n\r\n")[1] == (
        b"GET /a?b=c HTTP/1.1\r\nHost: example.test\r\nAccept: */*")


def resp_block_digest() -> bytes:
    import base64
    import hashlib
    block = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: x=1\r\n"
             b"Set-Cookie: y=2\r\nContent-Length: 5\r\n\r\nhello")
    assert len(block) == 103
    return b"sha256:" + base64.b32encode(hashlib.sha256(block).digest())


def test_bad_input_is_refused(tmp_path: Path) -> None:
    writer = RotatingWarcWriter(tmp_path, max_bytes=10**9, warcinfo={})
    ex = sample_exchanges()[2]
    with pytest.raises(ValueError, match="write a response instead"):
        writer.write_exchange(ex, revisit_of=RevisitOf(ex.url, T0, "sha256:AAAA"))
    with pytest.raises(ValueError, match="timezone-aware"):
        writer.write_exchange(HttpExchange("http://example.test/", 200, [], b"",
                                           datetime(2026, 1, 1)))
    with pytest.raises(ValueError, match="line break"):
        RotatingWarcWriter(tmp_path, max_bytes=1, warcinfo={"operator": "a\r\nWARC-Type: x"})
    writer.close()
    assert not list(tmp_path.iterdir())

