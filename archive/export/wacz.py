"""WACZ packages (WACZ 1.1.1) of the archive, which ``wacz validate`` accepts and ReplayWeb.page
opens: ``archive/*.warc.gz``, ``indexes/index.cdx`` (the CDXJ lines), ``pages/pages.jsonl``,
``datapackage.json`` (SHA-256 and size of every file) and ``datapackage-digest.json``.

Records are never re-encoded. A whole-home export stores the closed WARC files as they are; a
selection (a source, a period, one deletion's evidence) is copied record by record, each gzip
member byte for byte (digests and record IDs unchanged), with the request record written
beside each response, into one new WARC that starts with a warcinfo record of its own.
WARCs are stored in the ZIP uncompressed, as the format asks. The package is written to a
temporary file next to ``out`` and moved into place, so a failed export leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import archive
from archive.home import Home
from archive.timeutil import iso, utcnow
from archive.warc.cdxj import parse_line
from archive.warc.records import warcinfo_member
from archive.warc.safepath import warc_in_collection

WACZ_VERSION = "1.1.1"
PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
CHUNK = 1 << 20
Progress = Callable[[str, int, int], None]


class ExportError(RuntimeError):
    """An export could not be made (the message says why and what to run)."""


@dataclass(frozen=True)
class RecordRef:
    """One record to copy: where it is, and its CDXJ line (None for request records)."""

    collection: str
    filename: str
    offset: int
    length: int
    line: str | None = None


@dataclass(frozen=True)
class CopiedRecord:
    source: RecordRef
    offset: int
    length: int
    headers: dict[str, str]


@dataclass
class WaczResult:
    path: Path
    files: dict[str, str] = field(default_factory=dict)     # arcname -> "sha256:..."
    records: int = 0
    pages: int = 0
    bytes: int = 0


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _member_at(handle: Any, offset: int) -> tuple[bytes, bytes]:
    """(the gzip member at ``offset``, the first 8 KB of its record inflated)."""
    handle.seek(offset)
    inflate = zlib.decompressobj(31)
    raw = bytearray()
    head = b""
    while not inflate.eof:
        chunk = handle.read(CHUNK)
        if not chunk:
            raise ExportError(f"the gzip member at {offset} of {handle.name} is cut short")
        raw += chunk
        out = inflate.decompress(chunk)
        if len(head) < 8192:
            head += out[:8192 - len(head)]
    used = len(raw) - len(inflate.unused_data)
    return bytes(raw[:used]), head


def _record_headers(head: bytes) -> dict[str, str]:
    text = head.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
    if not text or not text[0].startswith("WARC/"):
        raise ExportError("not a WARC record")
    headers: dict[str, str] = {}
    for line in text[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return headers


def assemble_warc(home: Home, refs: Iterable[RecordRef], out: Path, warcinfo: dict[str, str],
                  progress: Progress | None = None) -> list[CopiedRecord]:
    """Write ``out`` (a new WARC): a warcinfo record, then each record of ``refs`` byte for
    byte, each followed by its request record when one follows it in its file."""
    refs = list(dict.fromkeys(refs))
    copied: list[CopiedRecord] = []
    with open(out, "wb") as target:
        target.write(warcinfo_member(out.name, warcinfo))
        for index, ref in enumerate(refs):
            path = warc_in_collection(home, ref.collection, ref.filename)
            with open(path, "rb") as source:
                member, head = _member_at(source, ref.offset)
                if len(member) != ref.length:
                    raise ExportError(f"{ref.filename}@{ref.offset}: the index says "
                                      f"{ref.length} bytes, the file holds {len(member)}; run: "
                                      f"memoryhole --home {home.root} check")
                headers = _record_headers(head)
                copied.append(CopiedRecord(ref, target.tell(), len(member), headers))
                target.write(member)
                request = _request_after(source, ref, headers)
                if request is not None:
                    req_member, req_headers = request
                    copied.append(CopiedRecord(
                        RecordRef(ref.collection, ref.filename, ref.offset + ref.length,
                                  len(req_member)), target.tell(), len(req_member), req_headers))
                    target.write(req_member)
            if progress is not None:
                progress("records", index + 1, len(refs))
        target.flush()
        os.fsync(target.fileno())
    return copied


def _request_after(source: Any, ref: RecordRef, headers: dict[str, str]
                   ) -> tuple[bytes, dict[str, str]] | None:
    record_id = headers.get("warc-record-id")
    start = ref.offset + ref.length
    if not record_id or start >= os.fstat(source.fileno()).st_size:
        return None
    try:
        member, head = _member_at(source, start)
        found = _record_headers(head)
    except (ExportError, zlib.error):
        return None
    if found.get("warc-type") == "request" and found.get("warc-concurrent-to") == record_id:
        return member, found
    return None


def relocate_line(line: str, filename: str, offset: int, length: int) -> str:
    """A CDXJ line pointed at another file and position (its other fields as they are)."""
    key, stamp, rest = line.split(" ", 2)
    fields = json.loads(rest)
    fields.update({"length": str(length), "offset": str(offset), "filename": filename})
    ordered = {k: fields[k] for k in ("url", "mime", "status", "digest", "length", "offset",
                                      "filename") if k in fields}
    ordered.update({k: v for k, v in fields.items() if k not in ordered})
    return f"{key} {stamp} {json.dumps(ordered)}"


def copied_index_lines(copied: list[CopiedRecord], filename: str) -> list[str]:
    """The sorted CDXJ lines of the indexed records among ``copied``, in their new WARC."""
    return sorted(relocate_line(c.source.line, filename, c.offset, c.length)
                  for c in copied if c.source.line is not None)


def write_wacz(out: Path, *, warcs: list[tuple[str, Path]], index_lines: Iterable[str],
               pages: list[dict[str, Any]], extra: dict[str, bytes] | None = None,
               title: str, description: str = "", main_page: str | None = None,
               progress: Progress | None = None) -> WaczResult:
    """Write the package ``out`` (module docstring); ``warcs`` are (file name, path) pairs,
    ``extra`` more files by their path in the package (listed in datapackage.json too)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    index = "".join(line.rstrip("\n") + "\n" for line in index_lines).encode("utf-8")
    page_lines = [PAGES_HEADER, *pages]
    pages_bytes = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in page_lines).encode()
    result = WaczResult(out, records=index.count(b"\n"), pages=len(pages))
    resources: list[dict[str, Any]] = []
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".wacz.tmp", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as package:
            for number, (name, path) in enumerate(warcs):
                arcname = f"archive/{name}"
                package.write(path, arcname, compress_type=zipfile.ZIP_STORED)
                resources.append(_resource(arcname, sha256_file(path), path.stat().st_size))
                if progress is not None:
                    progress("WARC files", number + 1, len(warcs))
            members = {"indexes/index.cdx": index, "pages/pages.jsonl": pages_bytes,
                       **(extra or {})}
            for arcname, data in members.items():
                package.writestr(arcname, data, compress_type=zipfile.ZIP_DEFLATED)
                resources.append(_resource(arcname, "sha256:" + hashlib.sha256(data).hexdigest(),
                                           len(data)))
            created = iso(utcnow()).split(".")[0] + "Z"
            datapackage = {
                "profile": "data-package", "wacz_version": WACZ_VERSION,
                "title": title, "description": description, "created": created,
                "modified": created, "software": f"memoryhole {archive.__version__}",
                "resources": resources,
            }
            if main_page:
                datapackage["mainPageUrl"] = main_page
            package_json = json.dumps(datapackage, indent=2, ensure_ascii=False).encode()
            package.writestr("datapackage.json", package_json)
            package.writestr("datapackage-digest.json", json.dumps({
                "path": "datapackage.json",
                "hash": "sha256:" + hashlib.sha256(package_json).hexdigest()}, indent=2))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    result.files = {r["path"]: r["hash"] for r in resources}
    result.bytes = out.stat().st_size
    return result


def _resource(path: str, digest: str, size: int) -> dict[str, Any]:
    # frictionless: a resource name is lower case ([-a-z0-9._/]); the path keeps its case
    name = re.sub(r"[^-a-z0-9._/]", "-", Path(path).name.lower())
    return {"name": name, "path": path, "hash": digest, "bytes": size}


def entry_ref(collection: str, line: str) -> RecordRef:
    entry = parse_line(line)
    return RecordRef(collection, entry.filename, entry.offset, entry.length, entry.line)
