"""An ``ArmService`` over real HTTPS on 127.0.0.1, so a ``failover`` CLI subprocess (which a test may kill
with SIGKILL) talks to the double in the test process, whose state survives the kill.

- ARM: ``url`` (``https://127.0.0.1:PORT``), the ``cloud.arm`` setting of the Azure adapter (``base_url``).
- Key Vault: the adapter builds ``https://{vault}.vault.azure.net`` URLs. ``proxy_url`` is an HTTP proxy
  that accepts ``CONNECT *.vault.azure.net:443`` only and answers inside the tunnel with the same
  certificate authority: give a subprocess ``HTTPS_PROXY=proxy_url`` and ``NO_PROXY=127.0.0.1,localhost``
  (``client.py`` does). Sign-in is not served: the subprocess signs in with the stub ``az``.
- TLS: a throwaway certificate authority (``ca_file``) and a server certificate for ``127.0.0.1``,
  ``localhost`` and ``*.vault.azure.net``, made with ``cryptography`` in a temporary folder.

A request the service drops (``drop_next``) closes the connection without an answer. A request whose body
ends before its ``Content-Length`` (its client went away mid-request: killed between sending the headers and
the body, say) is not a request: no server acts on a body it never received whole, so it goes no further than
the socket (not recorded, not answered).

``wait_quiet`` waits until every connection the server accepted has closed and none waits to be accepted: a
test that kills its CLI waits for it before resuming the run, so that the resume reads the state once each
request the dead process had sent has been handled (or dropped).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import select
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.azure.arm.http import error
from tests.azure.arm.service import KEY_VAULT_HOST, ArmService


def make_certificates(folder: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signs for 127.0.0.1 and ``names``: (ca.pem, server.pem, server.key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "failover ARM double test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    alt_names += [x509.DNSName(n) for n in names]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


class _Handler(BaseHTTPRequestHandler):
    """One HTTPS connection to the double (keep-alive): each request goes to ``service.handle``."""

    protocol_version = "HTTP/1.1"
    timeout = 60
    tunnel_host: str | None = None  # inside a CONNECT tunnel: the host the client asked for
    server: _ArmHttpServer

    def setup(self) -> None:
        handshake = getattr(self.request, "do_handshake", None)
        if handshake is not None:
            self.request.settimeout(self.timeout)
            handshake()
        super().setup()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-request: nothing reached the service
            self.close_connection = True
            return
        host = self.tunnel_host or self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        try:
            status, headers, text = self.server.service.handle(self.command, f"https://{host}{self.path}",
                                                               dict(self.headers.items()), body)
        except OSError:  # an injected dropped connection: no answer at all
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except Exception as exc:  # a bug in the double: say so rather than hang the client
            traceback.print_exc(file=sys.stderr)
            status, headers, text = error(500, "DoubleFailure", f"{type(exc).__name__}: {exc}")
        data = text.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_PATCH = do_POST = do_DELETE = _answer


class _Connections:
    """The connections the servers accepted and have not closed yet (a client's requests in their hands)."""

    def __init__(self) -> None:
        self.open = 0
        self.changed = threading.Condition()


class _CountedServer(ThreadingHTTPServer):
    """Each accepted connection counted in ``connections`` until its thread has closed it."""

    daemon_threads = True
    allow_reuse_address = True
    connections: _Connections

    def get_request(self):
        with self.connections.changed:  # accepted and counted at once: never in neither place
            sock, address = self.socket.accept()
            try:
                request = self.wrap(sock)
            except BaseException:
                sock.close()
                raise
            self.connections.open += 1
            self.connections.changed.notify_all()
        return request, address

    def wrap(self, sock: socket.socket) -> socket.socket:
        return sock

    def shutdown_request(self, request) -> None:
        try:
            super().shutdown_request(request)
        finally:
            with self.connections.changed:
                self.connections.open -= 1
                self.connections.changed.notify_all()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that went away (or was killed) is not the double's failure


class _ArmHttpServer(_CountedServer):
    def __init__(self, address, handler, context: ssl.SSLContext, service: ArmService, connections: _Connections):
        self.context, self.service, self.connections = context, service, connections
        super().__init__(address, handler)

    def wrap(self, sock: socket.socket) -> socket.socket:
        # the handshake happens in the connection's own thread
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)


class _ProxyHandler(BaseHTTPRequestHandler):
    """``CONNECT *.vault.azure.net:443``: a tunnel answered by the double with its own certificate."""

    protocol_version = "HTTP/1.1"
    timeout = 60
    server: _ProxyServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass

    def do_CONNECT(self) -> None:  # noqa: N802 - http.server's naming
        host = self.path.rsplit(":", 1)[0]
        if not KEY_VAULT_HOST.match(host):
            self.send_error(403, f"the double tunnels Key Vault hosts only, not {host}")
            return
        self.send_response(200, "Connection Established")
        self.end_headers()
        tunnel = self.server.arm.context.wrap_socket(self.connection, server_side=True, do_handshake_on_connect=False)
        handler = type("_TunnelHandler", (_Handler,), {"tunnel_host": host})
        with contextlib.suppress(OSError):
            handler(tunnel, self.client_address, self.server.arm)
        self.close_connection = True


class _ProxyServer(_CountedServer):
    def __init__(self, address, arm: _ArmHttpServer):
        self.arm, self.connections = arm, arm.connections
        super().__init__(address, _ProxyHandler)


class ArmServer:
    """``service`` over HTTPS on 127.0.0.1 (an ephemeral port), in daemon threads until ``stop()``."""

    def __init__(self, service: ArmService, *, key_vault_proxy: bool = True):
        self.service = service
        self.folder = Path(tempfile.mkdtemp(prefix="arm-double-"))
        names = ["localhost", "*.vault.azure.net", *(f"{kv}.vault.azure.net" for kv in service.estate.key_vaults)]
        self.ca_file, cert_file, key_file = make_certificates(self.folder, names)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._connections = _Connections()
        self._httpd = _ArmHttpServer(("127.0.0.1", 0), _Handler, context, service, self._connections)
        self.port = self._httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._servers: list[_CountedServer] = [self._httpd]
        self.proxy_url: str | None = None
        if key_vault_proxy:
            proxy = _ProxyServer(("127.0.0.1", 0), self._httpd)
            self.proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
            self._servers.append(proxy)
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                                          name=f"arm-double-{i}") for i, s in enumerate(self._servers)]
        for thread in self._threads:
            thread.start()

    def quiet(self) -> bool:
        """No connection open and none waiting to be accepted (a killed client's requests are all dealt with)."""
        with self._connections.changed:
            return self._quiet()

    def wait_quiet(self, timeout: float = 60.0) -> bool:
        """Block until ``quiet()`` (checked each time a connection is accepted or closed); False if ``timeout``
        seconds pass first. A client's connections close once it is gone, after the requests it had sent."""
        with self._connections.changed:
            return self._connections.changed.wait_for(self._quiet, timeout)

    def _quiet(self) -> bool:
        if self._connections.open:
            return False
        waiting, _, _ = select.select([s.socket for s in self._servers], [], [], 0)
        return not waiting

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ArmServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
