"""TLS for the sandbox: one local certificate authority per sandbox root.

``trustme`` makes the CA and the loopback server certificate (for
``127.0.0.1`` and ``localhost``). The CA is kept in the root so that clients
configured once (``NODE_EXTRA_CA_CERTS``, ``GIT_SSL_CAINFO``, the herotasks
CA bundle) keep trusting the sandbox across restarts. Nothing here is ever
trusted system-wide.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import trustme

HOSTS = ("127.0.0.1", "localhost")


class SandboxTLS:
    def __init__(self, root: Path):
        self.dir = Path(root) / "tls"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        ca_cert, ca_key = self.dir / "ca.pem", self.dir / "ca-key.pem"
        if ca_cert.exists() and ca_key.exists():
            self.ca = trustme.CA.from_pem(ca_cert.read_bytes(), ca_key.read_bytes())
        else:
            self.ca = trustme.CA(organization_name="herotasks sandbox")
            _write_private(ca_key, self.ca.private_key_pem.bytes())
            ca_cert.write_bytes(self.ca.cert_pem.bytes())
        self.ca_path = ca_cert
        self.server_cert = self.ca.issue_cert(*HOSTS)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(ctx)
        return ctx


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
