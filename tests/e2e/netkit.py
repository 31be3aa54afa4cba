"""The network of a network boot under QEMU: a user network (slirp) with ``restrict=on``, so the
guest reaches nothing but the forwards the test sets up, each a fixed guest address and port
that QEMU hands to ``socat`` connecting to a server on 127.0.0.1.

Usage (tests/e2e): start the servers on 127.0.0.1 first (any free port), then
``bootkit.boot(..., network=qemu_network({443: https.port, 5000: registry.port}))`` and boot an
initrd built with ``network=True`` and ``ip=dhcp rd.neednet=1`` on the command line. The guest
gets 10.0.2.15 from slirp's DHCP (gateway 10.0.2.2) and reaches ``GUEST_SERVER:443`` etc.
A forward whose server is not up yet is fine: socat is started per guest connection
(``guestfwd=...-cmd:``), so the guest sees a refused connection, not a QEMU that will not start.

Also here: a server certificate naming both the guest-side and the host-side address, a
lookaside directory of image signatures served over HTTPS (podman's registries.d layout), and
an HTTPS server of the files in a directory (large ones too: a disk image is streamed from disk).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import ssl
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.trust_support import Answer, CertAuthority, GpgKey, ScriptedServer

GUEST_SERVER = "10.0.2.100"
"""The address the guest reaches the test's servers at (inside slirp's 10.0.2.0/24)."""
GUEST_REGISTRY = f"{GUEST_SERVER}:5000"
"""The TLS registry as the guest names it: the only one ``rd.iguana.registries=`` allows."""


@dataclass(frozen=True)
class Trust:
    """The test's CA, server certificate, signing key and the /etc/iguana it makes."""

    ca: CertAuthority
    cert: tuple[Path, Path]
    key: GpgKey
    confdir: Path
    certs_d: Path
    lookaside: Path


def make_trust(top: Path) -> Trust:
    """A CA, a certificate for GUEST_SERVER and 127.0.0.1, a GPG key, and the initrd's
    /etc/iguana: ca.pem, trusted.gpg and a registries.conf allowing GUEST_REGISTRY with its
    signatures at https://GUEST_SERVER/sigstore. The caller closes ``key``."""
    ca = CertAuthority.create(top / "ca")
    cert = server_cert(ca, top / "server", GUEST_SERVER, "127.0.0.1")
    key = GpgKey.create(top, "e2e")
    confdir = top / "etc-iguana"
    confdir.mkdir()
    shutil.copyfile(ca.cert, confdir / "ca.pem")
    shutil.copyfile(key.keyring, confdir / "trusted.gpg")
    (confdir / "registries.conf").write_text(
        f"# the test registry; its image signatures are on the HTTPS server\n"
        f"{GUEST_REGISTRY} lookaside=https://{GUEST_SERVER}/sigstore\n"
    )
    certs_d = top / "certs.d"
    certs_d.mkdir()
    shutil.copyfile(ca.cert, certs_d / "ca.crt")
    return Trust(ca, cert, key, confdir, certs_d, top / "lookaside")


def qemu_network(forwards: Mapping[int, int], guest_address: str = GUEST_SERVER) -> list[str]:
    """QEMU arguments for a virtio NIC on a restricted user network whose only reachable
    endpoints are ``guest_address:GUEST_PORT`` forwarded to ``127.0.0.1:HOST_PORT``."""
    assert shutil.which("socat"), "socat is not installed (apt-get install socat)"
    rules = [
        f"guestfwd=tcp:{guest_address}:{guest_port}-cmd:socat - TCP:127.0.0.1:{host_port}"
        for guest_port, host_port in sorted(forwards.items())
    ]
    netdev = ",".join(["user", "id=net0", "restrict=on", *rules])
    return ["-netdev", netdev, "-device", "virtio-net-pci,netdev=net0"]


def server_cert(ca: CertAuthority, directory: Path, *ips: str) -> tuple[Path, Path]:
    """A server certificate signed by ``ca`` whose subjectAltName lists every address in
    ``ips`` (the guest's view and 127.0.0.1, so that the host can check the server too)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    ext = directory / "server.ext"
    names = ",".join(f"IP:{ip}" for ip in ips)
    ext.write_text(
        f"subjectAltName={names}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={ips[0]}")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext),
    )  # fmt: skip
    return cert, key


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"openssl {args[0]} failed: {result.stderr.strip()}"


def sign_manifest(key: GpgKey, manifest: bytes, identity: str, lookaside: Path) -> Path:
    """A simple-signing signature of ``manifest`` for the image ``identity`` (the reference the
    guest pulls, e.g. 10.0.2.100:5000/e2e/installer:1), written where podman's lookaside
    layout expects it: ``LOOKASIDE/REPO-PATH@sha256=HEX/signature-1``."""
    work = lookaside.parent / "sign-work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "manifest.json").write_bytes(manifest)
    signature = work / "signature"
    argv = ["skopeo", "standalone-sign", "--output", str(signature)]
    argv += [str(work / "manifest.json"), identity, key.fingerprint]
    env = {**os.environ, "GNUPGHOME": str(key.home)}
    result = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, f"skopeo standalone-sign failed: {result.stderr.strip()}"
    digest = subprocess.run(
        ["skopeo", "manifest-digest", str(work / "manifest.json")],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    algorithm, hexdigest = digest.split(":", 1)
    path = identity.split("/", 1)[1].rsplit(":", 1)[0]
    target = lookaside / f"{path}@{algorithm}={hexdigest}" / "signature-1"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(signature, target)
    return target


def serve_lookaside(server: ScriptedServer, lookaside: Path, prefix: str = "/sigstore") -> None:
    """Script ``server`` to answer every signature file under ``lookaside`` at
    ``PREFIX/RELATIVE-PATH`` (anything else: 404, which podman reads as "no more signatures")."""
    for file in sorted(lookaside.rglob("signature-*")):
        server.serve(f"{prefix}/{file.relative_to(lookaside)}", Answer(200, file.read_bytes()))


class FileServer:
    """HTTPS (GET and HEAD) of the files under ``root`` on 127.0.0.1, in a thread: what a
    deployment server is to the guest (workflow, signature, lookaside, a disk image), each file
    streamed from disk. ``hits`` counts the GET requests by path. A context manager."""

    def __init__(self, root: Path, tls: tuple[Path, Path]) -> None:
        self.hits: dict[str, int] = {}
        owner = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
                super().do_GET()

            def log_message(self, *_args: Any) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.httpd.server_address[1])

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def console_uptime(console: str, pattern: str) -> float:
    """The uptime Iguana printed on the serial console on the line ``pattern`` matches."""
    found = re.search(pattern + r".*?uptime ([0-9.]+) s", console)
    assert found, f"no {pattern!r} with an uptime on the console:\n{console[-5000:]}"
    return float(found.group(1))


def entered_at(record: dict[str, Any], state: str) -> float:
    """When the boot whose checkpoint is ``record`` entered ``state`` (epoch seconds)."""
    return float(next(step["at"] for step in record["history"] if step["dest"] == state))
