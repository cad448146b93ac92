"""Certificates for the HTTPS tests, made with trustme: a CA the tests trust (through
``[crawl] ca_file``) and a certificate it issues for 127.0.0.1, localhost and ``*.test``; and
a forger's CA that nothing trusts, issuing one for the same names (what a middlebox that
intercepts TLS presents)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NAMES = ("127.0.0.1", "localhost", "*.test")


@dataclass(frozen=True)
class TlsFiles:
    ca: Path        # the issuing CA's certificate (PEM): a trust anchor for ca_file
    cert: Path      # the server's certificate chain (PEM), leaf first
    key: Path       # the server's private key (PEM)


def make_tls_files(folder: Path, name: str = "site") -> TlsFiles:
    """A new CA and a server certificate it issued for :data:`NAMES`, written to ``folder``."""
    import trustme  # here: the test servers import this module's types only

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name=f"memoryhole test CA ({name})")
    leaf = ca.issue_cert(*NAMES)
    files = TlsFiles(folder / f"{name}-ca.pem", folder / f"{name}-chain.pem",
                     folder / f"{name}-key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    files.cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(files.key))
    return files
