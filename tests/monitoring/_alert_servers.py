"""Real servers on 127.0.0.1 for the alert sink tests: an HTTP(S) receiver and an SMTP server.

Both run in a thread for the length of a ``with`` block and record what
they receive. The SMTP server speaks just enough of RFC 5321 for
``smtplib``: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Received:
    """One request the HTTP receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the HTTP receiver answers (statuses in turn, the last repeated) and what it got."""

    url: str
    statuses: list[int]
    requests: list[Received] = field(default_factory=list)


@contextmanager
def http_receiver(
    statuses: list[int] | None = None,
    *,
    tls: tuple[Path, Path] | None = None,
    host_name: str = "127.0.0.1",
) -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 answering ``statuses`` in turn (default: 200)."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                index = min(len(receiver.requests), len(receiver.statuses)) - 1
                status = receiver.statuses[index]
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    port = server.server_address[1]
    receiver = Receiver(f"{scheme}://{host_name}:{port}", statuses or [200])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for ``localhost`` and 127.0.0.1 (its own issuer) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Mailbox:
    """What the SMTP server received: one entry per message, and the logins it accepted."""

    port: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    tls_sessions: int = 0


@contextmanager
def smtp_server(
    *, tls: tuple[Path, Path] | None = None, password: str | None = None
) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1; STARTTLS offered with ``tls``, AUTH PLAIN with ``password``."""
    lock = threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")
            self.wfile.flush()

        def read(self) -> str:
            return self.rfile.readline().decode("utf-8", "replace").rstrip("\r\n")

        def finish(self) -> None:
            super().finish()
            if isinstance(self.request, ssl.SSLSocket):
                self.request.close()  # the server closes only the socket it accepted

        def handle(self) -> None:
            self.reply("220 test ESMTP")
            sender, recipients, secured = "", [], False
            while True:
                line = self.read()
                verb = line[:4].upper()
                if not line or verb == "QUIT":
                    self.reply("221 bye")
                    return
                if verb in ("EHLO", "HELO"):
                    offers = ["250-test"]
                    if tls is not None and not secured:
                        offers.append("250-STARTTLS")
                    if password is not None:
                        offers.append("250-AUTH PLAIN")
                    offers.append("250 8BITMIME")
                    for offer in offers:
                        self.reply(offer)
                elif line.upper() == "STARTTLS" and tls is not None:
                    self.reply("220 go ahead")
                    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                    context.load_cert_chain(str(tls[0]), str(tls[1]))
                    self.rfile.close()
                    self.wfile.close()
                    self.request = context.wrap_socket(self.request, server_side=True)
                    self.rfile = self.request.makefile("rb")
                    self.wfile = self.request.makefile("wb")
                    secured = True
                    with lock:
                        mailbox.tls_sessions += 1
                elif verb == "AUTH":
                    _, _, encoded = line.partition("PLAIN ")
                    _, user, given = base64.b64decode(encoded).decode().split("\0")
                    if given == password:
                        with lock:
                            mailbox.logins.append((user, given))
                        self.reply("235 accepted")
                    else:
                        self.reply("535 bad credentials")
                elif verb == "MAIL":
                    sender = line.partition(":")[2].strip().strip("<>")
                    self.reply("250 ok")
                elif verb == "RCPT":
                    recipients.append(line.partition(":")[2].strip().strip("<>"))
                    self.reply("250 ok")
                elif verb == "DATA":
                    self.reply("354 end with .")
                    lines = []
                    while (data := self.read()) != ".":
                        lines.append(data[1:] if data.startswith("..") else data)
                    with lock:
                        mailbox.messages.append(
                            {"from": sender, "to": recipients, "data": "\n".join(lines)}
                        )
                    sender, recipients = "", []
                    self.reply("250 queued")
                elif verb == "RSET" or verb == "NOOP":
                    self.reply("250 ok")
                else:
                    self.reply("502 not implemented")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    mailbox = Mailbox(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield mailbox
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
