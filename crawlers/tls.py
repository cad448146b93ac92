"""Certificates are verified on every path (DESIGN.md "Trust: what a verdict rests on").

A certificate that does not verify is never a page: the fetch fails (a TLS failure, which a
re-check classifies ``transient``/``tls``), so a forged 404 or tombstone from whoever sits
between memoryhole and a site is never archived as an answer, let alone confirmed as a
deletion. The trust anchors are the system's, plus those of ``[crawl] ca_file`` (PEM):

- Scrapy (``DOWNLOAD_VERIFY_CERTIFICATES``): Twisted verifies against OpenSSL's default
  anchors. With a ``ca_file`` the crawl process points ``SSL_CERT_FILE`` at a bundle of the
  system's anchors and the file's (:func:`install_trust_bundle`), which OpenSSL reads for
  Twisted and for Python's ``ssl`` alike.
- the fast path (aiohttp): :func:`client_context`, the default context plus the file.
- Chromium: it verifies against its own store; the file's certificates go into an NSS database
  of the crawl's own, which Chromium reads as the user's (:func:`chromium_trust`; needs
  ``certutil``, Debian's ``libnss3-tools``).
"""

from __future__ import annotations

import _ssl
import os
import ssl
import subprocess
from pathlib import Path
from typing import Any

from OpenSSL import SSL

from crawlers.browser.chromium import find_certutil

SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                  "/etc/ssl/cert.pem", "/etc/pki/tls/cacert.pem")


def client_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context: the default anchors, plus ``ca_file``'s."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def system_bundle() -> Path | None:
    """The system's trust anchors as one PEM file, where there is one."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, *SYSTEM_BUNDLES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def install_trust_bundle(ca_file: str, folder: Path) -> Path:
    """Write the system's anchors and ``ca_file``'s into one bundle in ``folder`` and point
    ``SSL_CERT_FILE`` at it, for this process and those it starts. Call it before the first
    TLS connection."""
    system = system_bundle()
    bundle = folder / "trust-anchors.pem"
    parts = [system.read_bytes()] if system is not None else []
    parts.append(Path(ca_file).read_bytes())
    bundle.write_bytes(b"\n".join(parts))
    os.environ["SSL_CERT_FILE"] = str(bundle)
    return bundle


def chromium_trust(ca_file: str, folder: Path) -> dict[str, str]:
    """The environment that makes Chromium trust ``ca_file``'s certificates too: a home folder
    whose NSS database (``.pki/nssdb``) holds them."""
    certutil = find_certutil()
    database = folder / ".pki" / "nssdb"
    database.mkdir(parents=True, exist_ok=True)
    run = [certutil, "-d", f"sql:{database}"]
    subprocess.run([*run, "-N", "--empty-password"], check=True, capture_output=True)
    for index, pem in enumerate(_pem_blocks(Path(ca_file).read_text(encoding="ascii"))):
        anchor = folder / f"anchor-{index}.pem"
        anchor.write_text(pem, encoding="ascii")
        subprocess.run([*run, "-A", "-t", "C,,", "-n", f"memoryhole-anchor-{index}", "-i",
                        str(anchor)], check=True, capture_output=True)
    return {"HOME": str(folder)}


def _pem_blocks(text: str) -> list[str]:
    end = "-----END CERTIFICATE-----"
    return [block.strip()[block.strip().index("-----BEGIN CERTIFICATE-----"):] + "\n" + end + "\n"
            for block in text.split(end) if "-----BEGIN CERTIFICATE-----" in block]


def is_tls_failure(error: Any) -> bool:
    """Whether a transport failure (an exception, or Twisted's wrapper of several) is a TLS
    one: a certificate that does not verify, a failed handshake."""
    if isinstance(error, SSL.Error | ssl.SSLError):
        return True
    reasons = getattr(error, "reasons", None)             # ResponseNeverReceived / Failed
    if reasons:
        return any(is_tls_failure(getattr(reason, "value", reason)) for reason in reasons)
    text = str(error).lower()
    return any(sign in text for sign in ("certificate verify failed", "certificate_verify_failed",
                                         "net::err_cert", "net::err_ssl"))


# Chromium's network errors (Playwright's message) by the name the classifier reads.
_CHROMIUM_ERRORS = (
    ("net::err_proxy_connection_failed", "ProxyDown"),
    ("net::err_connection_reset", "ConnectionResetError"),
    ("net::err_connection_closed", "ConnectionResetError"),
    ("net::err_empty_response", "ConnectionResetError"),
    ("net::err_timed_out", "TimeoutError"),
    ("net::err_connection_timed_out", "TimeoutError"),
    ("net::err_name_not_resolved", "DNSLookupError"),
    ("net::err_connection_refused", "ConnectionRefusedError"),
)


def failure_name(failure: Any) -> str:
    """What a failed fetch is called in counters, logs and a check's detail: ``TLSError`` for a
    TLS failure (the classifier reads it as ``tls``), Chromium's network errors by what they
    are (``ConnectionResetError``, ``ProxyDown``...), else the exception's class name."""
    if is_tls_failure(failure.value):
        return "TLSError"
    text = str(failure.value).lower()
    for sign, name in _CHROMIUM_ERRORS:
        if sign in text:
            return name
    return failure.type.__name__ if failure.type else "Error"


def twisted_certificates(certificate: Any) -> tuple[bytes, ...]:
    """The DER of the certificate Scrapy gives a response (``response.certificate``, the
    leaf: Scrapy's handler exposes no more of the chain); () for none."""
    if certificate is None:
        return ()
    return (certificate.dump(),)


def ssl_object_certificates(ssl_object: Any) -> tuple[bytes, ...]:
    """The DER of the chain a Python ``ssl`` connection verified, leaf first (the leaf alone
    where the interpreter does not give the chain); () for a plain connection."""
    if ssl_object is None:
        return ()
    chain = getattr(getattr(ssl_object, "_sslobj", None), "get_verified_chain", None)
    if chain is not None:
        try:
            return tuple(cert.public_bytes(_ssl.ENCODING_DER) for cert in chain())
        except (ValueError, AttributeError, ssl.SSLError):
            pass
    leaf = ssl_object.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()
