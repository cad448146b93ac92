"""WARC records as bytes: the record types and their locations, digests, record ids, and a
record's gzip member (WARC/1.1 head with Block-Digest, type and length, then its block).

Each record is its own gzip member, so a reader can seek to any record and a crash tears at most
the last one. Digests are ``sha256:<BASE32>``, the form warcio's checker verifies. Compression
(``COMPRESSIONS``): ``fast``, the default, is Intel's ISA-L (python-isal) at its level 3, much
faster than zlib and a little bigger on plain HTML (BENCHMARKS.md "Timings of single steps"); on
bodies that came gzip- or br-encoded, as most web pages do, there is nothing left to gain and all
levels give the same size. ``balanced`` is zlib level 6 (what wget writes), ``small`` zlib level
9. Every choice writes ordinary gzip members that any WARC reader takes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import ssl
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.timeutil import utcnow, warc_date
from archive.warc.http_message import CRLF, header_lines

log = logging.getLogger(__name__)

REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
NOT_MODIFIED_PROFILE = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
# the metadata record of a server's certificates carries the leaf's SHA-256 fingerprint here
CERTIFICATE_FIELD = "WARC-Memoryhole-Certificate-SHA256"
# the vantage a record was fetched from, when not the direct egress
VANTAGE_FIELD = "WARC-Memoryhole-Vantage"
# "true" when that vantage is the control (``[[vantage]] control = true``): the record is the
# control's, as one with no vantage is
VANTAGE_CONTROL_FIELD = "WARC-Memoryhole-Vantage-Is-Control"


def indexed_vantage(vantage: str | None, is_control: str | bool | None) -> str | None:
    """The vantage the index and the catalogue keep for a record: None for the control's
    (direct, or through a control vantage), else the vantage's name."""
    return None if is_control in (True, "true") else vantage
# name -> (compression library, level); see the module docstring
COMPRESSIONS = {"fast": ("isal", 3), "balanced": ("zlib", 6), "small": ("zlib", 9)}
DEFAULT_COMPRESSION = "fast"


def gzip_compressor(compression: str) -> Callable[[], Any]:
    """A maker of one gzip compressor (``compressobj`` API) per record, for a name of
    ``COMPRESSIONS``. Without python-isal installed, ``fast`` falls back to zlib level 1."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown WARC compression {compression!r}; "
                         f"use one of {', '.join(COMPRESSIONS)}")
    library, level = COMPRESSIONS[compression]
    module: Any = zlib
    if library == "isal":
        try:
            from isal import isal_zlib as module
        except ImportError:
            log.warning("python-isal is not installed; WARC compression %r uses zlib level 1 "
                        "(pip install isal)", compression)
            module, level = zlib, 1
    return functools.partial(module.compressobj, level, module.DEFLATED, 31)


@dataclass(frozen=True)
class RecordLocation:
    """Where a record lives: the file's final name (no ``.open``), the gzip member's span."""

    filename: str
    offset: int
    length: int


@dataclass(frozen=True)
class RevisitOf:
    """The earlier capture whose payload a revisit record points at."""

    target_uri: str
    target_date: datetime
    payload_digest: str
    profile: str = REVISIT_PROFILE    # or NOT_MODIFIED_PROFILE for a 304 answer


@dataclass(frozen=True)
class WrittenRecord:
    """What was written: enough to index the record and to catalogue it."""

    record_id: str
    record_type: str
    url: str
    date: datetime
    location: RecordLocation
    payload_digest: str | None
    status: int | None
    mime: str | None
    vantage: str | None = None      # the vantage point it was fetched from; None: the control


def sha256_digest(*parts: bytes) -> str:
    """``sha256:<BASE32>`` of the concatenated parts."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return "sha256:" + base64.b32encode(h.digest()).decode("ascii")


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def bracket_id(record_id: str) -> str:
    """``<urn:uuid:...>`` whether or not the brackets were given."""
    record_id = record_id.strip()
    return record_id if record_id.startswith("<") else f"<{record_id}>"


def record_member(comp: Any, fields: list[tuple[str, str]], content_type: str,
            block: list[bytes]) -> list[bytes]:
    """One record as the pieces of its gzip member (Block-Digest, type and length added)."""
    length = sum(len(part) for part in block)
    fields = [*fields, ("WARC-Block-Digest", sha256_digest(*block)),
              ("Content-Type", content_type), ("Content-Length", str(length))]
    head = b"WARC/1.1\r\n" + header_lines(fields) + CRLF
    member = [comp.compress(head)]
    member += [comp.compress(part) for part in block]
    member += [comp.compress(CRLF + CRLF), comp.flush()]
    return member


def warcinfo_fields(filename: str, warcinfo: dict[str, str], record_id: str, when: datetime
                     ) -> tuple[list[tuple[str, str]], bytes]:
    info = dict(warcinfo)
    info.setdefault("format", "WARC File Format 1.1")
    fields = [("WARC-Type", "warcinfo"), ("WARC-Record-ID", record_id),
              ("WARC-Date", warc_date(when)), ("WARC-Filename", filename)]
    return fields, header_lines(list(info.items()))


def warcinfo_member(filename: str, warcinfo: dict[str, str], *,
                    compression: str = DEFAULT_COMPRESSION) -> bytes:
    """A gzip member holding a warcinfo record for ``filename`` (to start a WARC that is
    assembled from records copied byte for byte, such as an export)."""
    fields, body = warcinfo_fields(filename, warcinfo, new_record_id(), utcnow())
    return b"".join(record_member(gzip_compressor(compression)(), fields, "application/warc-fields",
                            [body]))


def certificate_sha256(certificates: tuple[bytes, ...]) -> str | None:
    """The SHA-256 fingerprint (hex) of the leaf of ``certificates`` (DER, leaf first)."""
    return hashlib.sha256(certificates[0]).hexdigest() if certificates else None


def certificates_pem(certificates: tuple[bytes, ...]) -> bytes:
    """DER certificates as one PEM block each, in their order."""
    return b"".join(ssl.DER_cert_to_PEM_cert(der).encode("ascii") for der in certificates)
