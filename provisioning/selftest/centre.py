"""The centre: reachable, the mutual-TLS handshake with the pinned CA and this terminal's
certificate, the identity accepted, and the client certificate's days left.

One probe (``probe_centre``), run once and shared: one ``GET /v1/identity`` ("who do you
take me for", docs/central-api.md) through httpx with the SSL context the daemon's
uplink builds (``device.uplink.tls.build_ssl_context``: the pinned CA only, the client
certificate loaded). A centre without that endpoint (404, 501) is asked for the head of
``GET /v1/trust-list`` instead (the list itself is not downloaded). Nothing is written at
the centre. The answer's ``Date`` also tells how far the wall clock is off (the clock
line uses it).

A failed handshake names its likely cause: a centre certificate not signed by the pinned
CA (wrong pin, or something intercepting), a certificate outside its validity (a wrong
clock, or an expired certificate), a host name the certificate does not list, or this
terminal's certificate refused by the centre (expired, revoked, unknown).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from device.errors import ScangateError
from device.uplink.client import TRUST_LIST_PATH
from device.uplink.tls import TerminalIdentity, build_ssl_context
from provisioning.selftest.context import Context
from provisioning.selftest.identity import CentreSettings, centre_settings
from provisioning.selftest.result import (
    CheckResult,
    Status,
    duration,
    fail,
    passed,
    skip,
    warn,
)

REACH, TLS, CERT = "centre reachable", "centre mTLS", "client certificate"
#: At most this long for each network step, whatever uplink.timeout_s says.
MAX_TIMEOUT_S = 5.0
#: What the centre makes of this terminal's certificate (docs/central-api.md); a centre
#: that does not have it (404, 501) is asked for the trust list's head instead.
IDENTITY_PATH = "/v1/identity"
MAX_SMALL_BODY = 64 * 1024

ENROL = ("Enrol this terminal again (scangate provision enroll, see docs/provisioning.md) to "
         "get a new key and certificate, then re-run the self-test.")
CLOCK_FIRST = ("Check the clock line first: if the time is wrong, turn on time sync (sudo "
               "timedatectl set-ntp true) and re-run.")


@dataclass
class CentreProbe:
    settings: CentreSettings | None
    rows: list[CheckResult] = field(default_factory=list)
    date_skew_s: float | None = None  # wall clock minus the centre's Date (+: ahead)
    http_status: int | None = None


def _day(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def _utc(d: dt.datetime) -> float:
    return d.replace(tzinfo=dt.UTC).timestamp() if d.tzinfo is None else d.timestamp()


# --------------------------------------------------------------------- the client certificate


@dataclass
class CertFindings:
    row: CheckResult
    ok: bool  # usable: readable, key matches, valid now
    not_after: float | None = None


def _examine_cert(ctx: Context, s: CentreSettings) -> CertFindings:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    assert s.client_cert is not None and s.client_key is not None
    try:
        certs = x509.load_pem_x509_certificates(s.client_cert.read_bytes())
    except (OSError, ValueError) as exc:
        return CertFindings(fail(CERT, f"{s.client_cert} cannot be read as a PEM certificate: "
                                 f"{exc}", ENROL), ok=False)
    leaf = certs[0]
    try:
        key = serialization.load_pem_private_key(s.client_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        reason = type(exc).__name__ if isinstance(exc, ValueError | TypeError) else str(exc)
        return CertFindings(fail(CERT, f"the private key {s.client_key} cannot be read "
                                 f"({reason})", ENROL), ok=False)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        return CertFindings(fail(CERT, f"the private key {s.client_key} does not belong to the "
                                 f"certificate {s.client_cert}",
                                 "Restore the key made together with this certificate, or "
                                 + ENROL[0].lower() + ENROL[1:]), ok=False)
    now = ctx.now()
    nbf, naf = _utc(leaf.not_valid_before_utc), _utc(leaf.not_valid_after_utc)
    who = leaf.subject.rfc4514_string()
    if now < nbf:
        return CertFindings(fail(CERT, f"{who}: not valid before {_day(nbf)} (this terminal's "
                                 f"time is {_day(now)})", CLOCK_FIRST), ok=False, not_after=naf)
    if now > naf:
        return CertFindings(fail(CERT, f"{who}: expired on {_day(naf)} ({duration(now - naf)} "
                                 "ago)", ENROL), ok=False, not_after=naf)
    left = naf - now
    detail = f"{who}, valid until {_day(naf)} ({left / 86400:.0f} days left); key matches"
    mode = stat.S_IMODE(s.client_key.stat().st_mode)
    if mode & 0o077:
        row = warn(CERT, f"{detail}; the key file is readable by other users (mode {mode:04o})",
                   f"Run sudo chmod 600 {s.client_key} so only the service user reads it.")
    elif left < ctx.options.cert_warn_days * 86400:
        row = warn(CERT, detail, "Let the terminal reach the centre so it renews its "
                   "certificate by itself; if it is not renewed within a day, "
                   + ENROL[0].lower() + ENROL[1:])
    else:
        row = passed(CERT, detail)
    return CertFindings(row, ok=True, not_after=naf)


# --------------------------------------------------------------------- reachability


def _reach(s: CentreSettings, timeout: float) -> CheckResult:
    where = f"{s.host}:{s.port}"
    try:
        infos = socket.getaddrinfo(s.host, s.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return fail(REACH, f"cannot resolve {s.host}: {exc.strerror}",
                    "Check the DNS settings of this network (or use the centre's IP address "
                    "in uplink.base_url if DNS is not available), then re-run.")
    errors: list[str] = []
    for family, kind, proto, _, addr in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        t0 = time.monotonic()
        try:
            sock.connect(addr)
            took = (time.monotonic() - t0) * 1000
            return passed(REACH, f"{where} accepts connections ({took:.0f} ms to connect)")
        except TimeoutError:
            errors.append("timeout")
        except ConnectionRefusedError:
            errors.append("refused")
        except OSError as exc:
            errors.append(exc.strerror or str(exc))
        finally:
            sock.close()
    if "refused" in errors:
        return fail(REACH, f"{where} refused the connection: nothing listens there",
                    "Check that uplink.base_url has the centre's host and port; if it does, "
                    "the centre is down: tell its operator. The gate keeps working offline.")
    if "timeout" in errors:
        return fail(REACH, f"{where} did not answer in {timeout:g} s",
                    "Check the network cable or Wi-Fi and that the site firewall lets "
                    f"outbound TCP port {s.port} through, then re-run the self-test.")
    return fail(REACH, f"{where} cannot be reached: {', '.join(errors)}",
                "Check the network cable or Wi-Fi, the default route (ip route) and the site "
                "firewall, then re-run the self-test.")


# --------------------------------------------------------------------- TLS and identity


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _verify_failure(err: ssl.SSLCertVerificationError, s: CentreSettings,
                    clock_behind: bool) -> CheckResult:
    code, msg = err.verify_code, err.verify_message
    what = f"the centre's certificate failed verification ({msg})"
    if code in (9, 10):  # X509_V_ERR_CERT_NOT_YET_VALID / CERT_HAS_EXPIRED
        cause = ("this terminal's clock is wrong" if clock_behind else
                 "this terminal's clock is wrong, or the centre's certificate has expired")
        return fail(TLS, f"{what}: likely cause: {cause}",
                    CLOCK_FIRST + " If the time is right, tell the centre's operator that its "
                    "certificate is outside its validity.")
    if code in (62, 64):  # HOSTNAME_MISMATCH / IP_ADDRESS_MISMATCH
        return fail(TLS, f"{what}: the certificate does not name {s.host}",
                    "Use the centre's host name exactly as given at enrolment in "
                    "uplink.base_url, then re-run the self-test.")
    return fail(TLS, f"{what}: likely cause: wrong pin (uplink.ca_file={s.ca_file} is not the "
                "CA that signed this centre), or something intercepts the connection",
                "Check that uplink.base_url is the centre this terminal was enrolled with and "
                "that no proxy inspects TLS on this network; if both are right, enrol the "
                "terminal again to get the centre's current CA.")


def _alert_failure(reason: str, s: CentreSettings, after: str) -> CheckResult | None:
    r = reason.upper()
    own = s.client_cert is not None
    if "CERTIFICATE_EXPIRED" in r:
        return fail(TLS, f"the centre refused this terminal's certificate as expired ({reason}, "
                    f"{after})", CLOCK_FIRST + " If the time is right: " + ENROL)
    if "CERTIFICATE_REVOKED" in r:
        return fail(TLS, f"the centre reports this terminal's certificate revoked ({reason})",
                    "Ask the operator whether this terminal was retired or replaced; if it "
                    "should run, " + ENROL[0].lower() + ENROL[1:])
    if "CERTIFICATE_REQUIRED" in r or ("HANDSHAKE_FAILURE" in r and not own):
        return fail(TLS, f"the centre requires a client certificate and none is configured "
                    f"({reason})", ENROL)
    if any(k in r for k in ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN",
                            "ACCESS_DENIED", "UNSUPPORTED_CERTIFICATE", "DECRYPT_ERROR")):
        return fail(TLS, f"the centre does not accept this terminal's certificate ({reason}, "
                    f"{after}): likely cause: enrolled with another centre or CA, or revoked",
                    "Check that uplink.base_url is the centre this terminal was enrolled with; "
                    "if it is, " + ENROL[0].lower() + ENROL[1:])
    if "WRONG_VERSION_NUMBER" in r or "RECORD_LAYER" in r:
        return fail(TLS, f"{s.host}:{s.port} does not speak TLS ({reason})",
                    "Check the port in uplink.base_url (the centre's https port), then re-run.")
    return None


def _transport_failure(exc: httpx.HTTPError, s: CentreSettings, cert_ok: bool | None,
                       clock_behind: bool, timeout: float) -> CheckResult:
    during = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    after = "during the handshake" if during else "after the handshake"
    for e in _chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return _verify_failure(e, s, clock_behind)
    for e in _chain(exc):
        if isinstance(e, ssl.SSLError):
            row = _alert_failure(str(e.reason or e), s, after)
            if row is not None:
                return row
            return fail(TLS, f"TLS with the centre failed {after}: {e}",
                        CLOCK_FIRST + " Otherwise " + ENROL[0].lower() + ENROL[1:])
    if isinstance(exc, httpx.TimeoutException):
        return fail(TLS, f"the centre accepted the connection but did not answer within "
                    f"{timeout:g} s ({type(exc).__name__})",
                    "The centre is overloaded or something on the path holds the connection: "
                    "re-run in a few minutes, and tell the centre's operator if it persists.")
    if not during and s.client_cert is not None:
        return fail(TLS, f"the centre closed the connection {after} without an answer "
                    f"({exc}): likely cause: it refused this terminal's certificate "
                    "(expired, revoked or unknown)",
                    ("Check the client certificate line. " if cert_ok is False else "")
                    + ENROL)
    return fail(TLS, f"the request to the centre failed {after}: {type(exc).__name__}: {exc}",
                "Re-run the self-test; if it persists, check the network and tell the "
                "centre's operator.")


def _peer_not_after(response: httpx.Response) -> float | None:
    from cryptography import x509

    stream = response.extensions.get("network_stream")
    obj = stream.get_extra_info("ssl_object") if stream is not None else None
    der = obj.getpeercert(True) if obj is not None else None
    if not der:
        return None
    return _utc(x509.load_der_x509_certificate(der).not_valid_after_utc)


def _tls_version(response: httpx.Response) -> str:
    stream = response.extensions.get("network_stream")
    obj = stream.get_extra_info("ssl_object") if stream is not None else None
    return str(obj.version()) if obj is not None else "TLS"


@dataclass
class Answer:
    """The centre's answer to the identity question."""

    path: str
    status: int
    tls: str  # "TLSv1.3", or "" over plain http
    peer_not_after: float | None  # the centre's certificate
    doc: Any = None  # the JSON body (identity, or an error with its "code")


def _answered(ctx: Context, s: CentreSettings, a: Answer) -> CheckResult:
    asked = f"GET {a.path} → {a.status}"
    tls = a.tls or "http"
    doc = a.doc if isinstance(a.doc, dict) else {}
    if a.status in (401, 403):
        if a.status == 403 or doc.get("code") == "revoked":
            revoked = doc.get("code") == "revoked"
            cause = ("the centre reports this terminal's certificate revoked" if revoked else
                     "likely cause: its certificate was revoked, or the terminal was retired "
                     "or replaced")
            return fail(TLS, f"{tls} ok, but the centre refuses this terminal ({asked}): "
                        f"{cause}",
                        "Ask the operator whether this terminal was revoked or replaced; if it "
                        "should run, " + ENROL[0].lower() + ENROL[1:])
        return fail(TLS, f"{tls} ok, but the centre does not accept this terminal's identity "
                    f"({asked})",
                    ("Check uplink.token against the centre's record of this terminal, or "
                     if s.client_cert is None else "") + ENROL[0].lower() + ENROL[1:])
    if a.status >= 500 or a.status == 429:
        return warn(TLS, f"{tls} ok; the centre is busy or failing ({asked})",
                    "Nothing to do if it passes (the daemon retries by itself); tell the "
                    "centre's operator if it persists.")
    if a.status not in (200, 304, 404):
        return warn(TLS, f"{tls} ok; unexpected answer ({asked})",
                    "Check that uplink.base_url is the centre's API address (no extra path), "
                    "then re-run.")
    known = ""
    if a.path == IDENTITY_PATH and a.status == 200:
        tid, state = doc.get("terminal_id"), doc.get("status")
        if tid != s.terminal_id:
            return fail(TLS, f"{tls} ok, but the centre takes this certificate for terminal "
                        f"{tid!r}, not {s.terminal_id!r}",
                        "The certificate files belong to another terminal: "
                        + ENROL[0].lower() + ENROL[1:])
        if state != "active":
            return fail(TLS, f"{tls} ok, but the centre reports this terminal {state!r}",
                        "Ask the operator whether this terminal was revoked or replaced; if it "
                        "should run, " + ENROL[0].lower() + ENROL[1:])
        known = f": terminal {tid}, gate {doc.get('gate_id')}, {state}"
    if not s.is_tls:
        return skip(TLS, f"plain http to {s.host} (the simulator on loopback): no TLS to test; "
                    f"the centre answered ({asked}){known}",
                    "Nothing to do for the simulator; a deployed terminal uses https with a "
                    "pinned CA and its own certificate.")
    who = ("accepted this terminal's certificate" if s.client_cert is not None
           else "accepted the bearer token")
    detail = f"{tls} with the pinned CA; the centre {who} ({asked}){known}"
    if a.peer_not_after is not None:
        left = a.peer_not_after - ctx.now()
        detail += f"; its own certificate is valid {left / 86400:.0f} more days"
        if left < ctx.options.cert_warn_days * 86400:
            return warn(TLS, detail, "Tell the centre's operator that the centre's certificate "
                        f"expires on {_day(a.peer_not_after)}.")
    if s.client_cert is None:
        return warn(TLS, detail + "; no client certificate: identified by a shared bearer "
                    "token only", ENROL.replace(" again", ""))
    return passed(TLS, detail)


def _small_json(response: httpx.Response) -> Any:
    """The body as JSON if it is small (identity answers, error documents), else None."""
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_SMALL_BODY:
            return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _ask(ctx: Context, client: httpx.Client, s: CentreSettings, path: str,
         probe: CentreProbe) -> Answer:
    with client.stream("GET", path) as response:
        probe.http_status = response.status_code
        probe.date_skew_s = _date_skew(ctx, response)
        peer = _peer_not_after(response) if s.is_tls else None
        tls = _tls_version(response) if s.is_tls else ""
        # the trust list itself is not downloaded: its head says enough
        doc = None if path == TRUST_LIST_PATH and response.status_code == 200 else \
            _small_json(response)
        return Answer(path, response.status_code, tls, peer, doc)


def _date_skew(ctx: Context, response: httpx.Response) -> float | None:
    date = response.headers.get("date")
    if not date:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    # Date has whole seconds (truncated): the centre's time lies in [date, date + 1).
    return float(ctx.clock.now()) - (_utc(parsed) + 0.5)


def probe_centre(ctx: Context) -> CentreProbe:
    """Resolve the name, then one request; a separate TCP connect only to explain a
    connection that failed before TLS (a bare connect shows up at a TLS centre as a
    failed handshake, so it is not made when all is well)."""
    s = centre_settings(ctx.config)
    if s is None:
        return CentreProbe(None)
    probe = CentreProbe(s)
    timeout = min(MAX_TIMEOUT_S, s.timeout_s)
    cert: CertFindings | None = None
    if s.is_tls and s.client_cert is not None:
        cert = _examine_cert(ctx, s)
    try:
        socket.getaddrinfo(s.host, s.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        probe.rows.append(fail(REACH, f"cannot resolve {s.host}: {exc.strerror}",
                               "Check the DNS settings of this network (or use the centre's "
                               "IP address in uplink.base_url if DNS is not available), then "
                               "re-run the self-test."))
        tls: CheckResult | None = None
    else:
        t0 = time.monotonic()
        tls, tcp_failed = _tls_row(ctx, s, probe, cert, timeout)
        took = (time.monotonic() - t0) * 1000
        reach = _reach(s, timeout) if tcp_failed else passed(
            REACH, f"{s.host}:{s.port} answered ({took:.0f} ms for connection, "
            f"{'TLS, ' if s.is_tls else ''}answer)")
        probe.rows.append(reach)
        if reach.status is not Status.PASS:
            tls = None
    probe.rows.append(tls if tls is not None else skip(
        TLS, "not tried: the centre cannot be reached", "Fix the centre reachable line first."))
    if cert is not None:
        probe.rows.append(cert.row)
    elif s.is_tls:
        probe.rows.append(skip(CERT, "none configured: the terminal identifies with a shared "
                               "bearer token", ENROL.replace(" again", "")))
    else:
        probe.rows.append(skip(CERT, "none configured (plain http to the simulator)"))
    return probe


def _tls_row(ctx: Context, s: CentreSettings, probe: CentreProbe, cert: CertFindings | None,
             timeout: float) -> tuple[CheckResult, bool]:
    """The mTLS line, and whether the connection failed before TLS began (TCP)."""
    verify: ssl.SSLContext | bool = False
    if s.is_tls:
        if s.ca_file is None:
            return fail(TLS, "https without a pinned CA (uplink.ca_file is not set): the "
                        "daemon refuses to connect", ENROL), False
        try:
            verify = build_ssl_context(s.ca_file, TerminalIdentity(
                client_cert=s.client_cert, client_key=s.client_key))
        except ScangateError as exc:
            return fail(TLS, str(exc), ENROL), False
    headers = {"User-Agent": "scangate-selftest", "X-Scangate-Terminal": s.terminal_id}
    if s.token:
        headers["Authorization"] = f"Bearer {s.token}"
    tf = ctx.timefloor.now()
    clock_behind = str(getattr(tf.quality, "value", tf.quality)) == "floor"
    try:
        with httpx.Client(base_url=s.base_url, verify=verify, headers=headers,
                          timeout=httpx.Timeout(timeout), follow_redirects=False,
                          trust_env=False) as client:
            answer = _ask(ctx, client, s, IDENTITY_PATH, probe)
            if answer.status in (404, 501):  # a centre without the identity endpoint
                answer = _ask(ctx, client, s, TRUST_LIST_PATH, probe)
            return _answered(ctx, s, answer), False
    except httpx.HTTPError as exc:
        before_tls = (isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                      and not any(isinstance(e, ssl.SSLError) for e in _chain(exc)))
        return _transport_failure(exc, s, cert.ok if cert is not None else None, clock_behind,
                                  timeout), before_tls


def centre_probe(ctx: Context) -> CentreProbe | None:
    """The centre probed once per self-test (the clock line uses its Date); None: no
    [uplink] configured."""
    probe = ctx.found.get("centre")
    if probe is None:
        probe = ctx.found["centre"] = probe_centre(ctx)
    assert isinstance(probe, CentreProbe)
    return probe if probe.settings is not None else None


def check_centre(ctx: Context) -> Iterator[CheckResult]:
    probe = centre_probe(ctx)
    if probe is None:
        yield skip("centre", "no [uplink] configured: this terminal runs offline only",
                   "Nothing to do, unless this gate should upload its records: then enrol it "
                   "(see docs/provisioning.md).")
        return
    yield from probe.rows
