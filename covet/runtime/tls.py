"""TLS for `covet serve`: the server's ``ssl.SSLContext``, built from settings and reloaded on SIGHUP.

Rules this module keeps:
1. TLS 1.2 and 1.3 only; on TLS 1.2 only forward-secret AEAD ciphers by default (``DEFAULT_CIPHERS``).
   TLS 1.3's suites are all AEAD and forward-secret, so OpenSSL's defaults stand there.
2. ALPN offers ``ALPN_PROTOCOLS``, the one list of the protocols the server speaks: ``h2`` first, then
   ``http/1.1``. (A client that agreed on ``h2`` opens with HTTP/2's preface, which the HTTP/1.1 parser hands
   over, so nothing below reads the ALPN result.)
3. Bad settings are a ``TLSConfigError`` whose message is one line naming the flag and the file at fault;
   a key's password is never asked for on the terminal.
4. A reload builds a whole new context from the files as they are now; only when that succeeds do new
   connections get it. A failed reload keeps the context in service and says why. Connections already
   open keep the context they were made with.
5. This module is the one validator of the settings. The io_uring core builds its own OpenSSL context in C
   (``native/uring_tls.c``) from settings that passed ``build_context`` here (``attach``), and again on
   each reload that passed it; a refusal by the core is a failed reload like any other.

How a reload reaches new connections without touching the listener: the listener's context (``front``,
the first one built) has a server-name callback, which OpenSSL calls on every ClientHello, with or
without SNI. It moves the connection onto the current context (``SSLObject.context``), whose
certificate, key and CA store then serve the handshake; the front context's verify mode stays, and it
never changes (the flags do not change on reload).
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from typing import Final, final

from covet.runtime.uring_contract import UringTLS

__all__ = ["ALPN_PROTOCOLS", "CERT_REQS", "DEFAULT_CIPHERS", "ServerTLS", "TLSConfigError", "TLSSettings"]

log = logging.getLogger("covet.tls")

# What ALPN offers, best first.
ALPN_PROTOCOLS: Final = ("h2", "http/1.1")

# TLS 1.2: ECDHE key exchange (forward secrecy) and an AEAD cipher only: no CBC, no RSA key transport,
# no SHA-1 MACs. OpenSSL orders them by strength; the server's preference applies.
DEFAULT_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20"

# --ssl-cert-reqs: uvicorn takes ssl.CERT_* numbers (0, 1, 2); the names are accepted as well.
CERT_REQS: Final = {
    "none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED,
    "0": ssl.CERT_NONE, "1": ssl.CERT_OPTIONAL, "2": ssl.CERT_REQUIRED,
}


class TLSConfigError(ValueError):
    """The TLS settings cannot make a context: the operator's files or flags are at fault (one-line message)."""


@final
@dataclasses.dataclass(frozen=True)
class TLSSettings:
    """What `covet serve`'s ``--ssl-*`` flags say, as uvicorn's flags of the same names do.

    Attributes:
        certfile: PEM certificate chain, server certificate first (it may hold the key too).
        keyfile: PEM private key; None when ``certfile`` holds it.
        password: the key's password, when it is encrypted.
        ca_certs: PEM file of the CAs that client certificates must chain to.
        cert_reqs: ``ssl.CERT_NONE``, ``CERT_OPTIONAL`` or ``CERT_REQUIRED``: whether clients present a
            certificate.
        ciphers: OpenSSL cipher string for TLS 1.2.
        alpn: the protocols ALPN offers, best first.
    """

    certfile: str
    keyfile: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    cert_reqs: ssl.VerifyMode = ssl.CERT_NONE
    ciphers: str = DEFAULT_CIPHERS
    alpn: tuple[str, ...] = ALPN_PROTOCOLS


def _ssl_reason(exc: ssl.SSLError) -> str:
    reason = exc.reason or exc.strerror or str(exc)
    return str(reason).replace("_", " ").lower()


def build_context(settings: TLSSettings) -> ssl.SSLContext:
    """A server context for ``settings``.

    Raises:
        TLSConfigError: a file is missing or unreadable, the key does not match the certificate or cannot be
            decrypted, the cipher string selects nothing, or client certificates are asked for without a CA.
    """
    s = settings
    if s.cert_reqs != ssl.CERT_NONE and not s.ca_certs:
        raise TLSConfigError("--ssl-cert-reqs asks for client certificates: give --ssl-ca-certs, the CAs they "
                             "must chain to")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_SINGLE_ECDH_USE
    try:
        ctx.set_ciphers(s.ciphers)
    except ssl.SSLError as exc:
        raise TLSConfigError(f"--ssl-ciphers {s.ciphers!r} selects no cipher OpenSSL knows") from exc
    _load_chain(ctx, s)
    if s.ca_certs:
        try:
            ctx.load_verify_locations(cafile=s.ca_certs)
        except OSError as exc:  # ssl.SSLError too: a file that holds no certificate
            why = _ssl_reason(exc) if isinstance(exc, ssl.SSLError) else exc.strerror or str(exc)
            raise TLSConfigError(f"cannot load --ssl-ca-certs {s.ca_certs}: {why}") from exc
    ctx.verify_mode = s.cert_reqs
    ctx.set_alpn_protocols(list(s.alpn))
    return ctx


def _load_chain(ctx: ssl.SSLContext, s: TLSSettings) -> None:
    # OpenSSL's own errors for these say "PEM lib" and no more: look first, to say which file is at fault.
    key = s.keyfile or s.certfile
    wants = [("--ssl-certfile", s.certfile, b"CERTIFICATE-----", "no PEM certificate")]
    wants.append(("--ssl-keyfile" if s.keyfile else "--ssl-certfile", key, b"PRIVATE KEY-----", "no PEM private key"))
    for flag, path, marker, missing in wants:
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError as exc:
            raise TLSConfigError(f"cannot read {flag} {path}: {exc.strerror or exc}") from exc
        if marker not in text:
            raise TLSConfigError(f"{flag} {path} holds {missing}")
    asked: list[bool] = []

    def password() -> bytes:
        # Always a callable: without one OpenSSL would prompt on the terminal, and a server has none.
        asked.append(True)
        return (s.password or "").encode()

    try:
        ctx.load_cert_chain(s.certfile, s.keyfile, password)
    except ssl.SSLError as exc:
        why = _ssl_reason(exc)
        if "key values mismatch" in why:
            raise TLSConfigError(f"the key in {key} does not match the certificate in {s.certfile}") from exc
        if asked and not s.password:
            raise TLSConfigError(f"the key in {key} is encrypted: give --ssl-keyfile-password") from exc
        if asked:
            raise TLSConfigError(f"cannot decrypt the key in {key}: wrong --ssl-keyfile-password") from exc
        raise TLSConfigError(f"cannot load the certificate {s.certfile} and key {key}: {why}") from exc


@final
class ServerTLS:
    """The context a server's listener uses, and the one new connections get (they differ after a reload)."""

    def __init__(self, settings: TLSSettings) -> None:
        """Raises TLSConfigError (see ``build_context``)."""
        self.settings = settings
        self.front = build_context(settings)
        self.current = self.front
        self.reloads = 0
        self.front.sni_callback = self._choose
        self.native: UringTLS | None = None

    def attach(self, native: UringTLS) -> None:
        """Have ``native`` (the io_uring core) serve TLS from these settings, now and after each reload.

        Raises:
            TLSConfigError: OpenSSL refused in C what it took here (the files changed in between).
        """
        try:
            self._give(native)
        except ssl.SSLError as exc:
            raise TLSConfigError(str(exc)) from exc
        self.native = native

    def _give(self, native: UringTLS) -> None:
        s = self.settings
        alpn = b"".join(bytes([len(p)]) + p.encode() for p in s.alpn)
        native.set_tls(s.certfile, s.keyfile, s.password.encode() if s.password is not None else None, s.ca_certs,
                       int(s.cert_reqs), s.ciphers, alpn)

    def _choose(self, conn: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
                front: ssl.SSLContext) -> None:
        current = self.current
        if current is not front:
            conn.context = current

    def reload(self) -> bool:
        """Build a new context from the files as they are now; new connections get it. True if it took;
        False (and a logged line) if the files are bad, in which case the context in service stays."""
        try:
            fresh = build_context(self.settings)
        except TLSConfigError as exc:
            log.error("TLS reload failed, still serving the previous certificate: %s", exc)
            return False
        native = self.native
        if native is not None:
            try:
                self._give(native)
            except ssl.SSLError as exc:
                log.error("TLS reload failed, still serving the previous certificate: %s", exc)
                return False
        self.current = fresh
        self.reloads += 1
        log.info("TLS certificate reloaded from %s", self.settings.certfile)
        return True
