"""The central API calls, over httpx (see docs/central-api.md).

Transport failures (cannot connect, TLS verification, timeout, dropped or truncated
response) raise ``UplinkError`` with a message that says what to check; ``error_kind``
names the kind for status and metrics. HTTP answers are classified into an ``Outcome``
the uploader acts on; they never raise.
"""

from __future__ import annotations

import gzip
import json
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import httpx

from device.errors import UplinkError
from device.uplink.backoff import parse_retry_after
from device.uplink.config import UplinkConfig
from device.uplink.endpoints import HEARTBEAT_PATH, TRUST_LIST_PATH, UPLOAD_PATH
from device.uplink.tls import TerminalIdentity, build_ssl_context

if TYPE_CHECKING:
    from device.clock import Clock
    from device.journal import Batch, Record

log = logging.getLogger(__name__)

MAX_TRUST_LIST_BYTES = 4 * 2**20
MAX_ERROR_DETAIL = 200

RECORD_FIELDS = (
    "record_id",
    "terminal_id",
    "seq",
    "t_wall",
    "clock_quality",
    "source",
    "profile",
    "decision",
    "reason",
    "code_id",
    "subject_ref",
    "kid",
    "latency_ms",
)


class Outcome(StrEnum):
    ACKED = "acked"  # 2xx: every record of the batch is stored at the centre
    RETRY_AFTER = "retry_after"  # 429 / 503: come back later (Retry-After if given)
    IN_FLIGHT = "in_flight"  # 409: the first request with this key is still being processed
    BACKOFF = "backoff"  # 5xx, 408, malformed 2xx: retry with backoff, same key
    AUTH = "auth"  # 401 / 403: the terminal's identity is refused; back off, do not set aside
    TOO_LARGE = "too_large"  # 413: split the batch (release it, send smaller ones)
    REJECTED = "rejected"  # other 4xx: the batch itself is refused; set aside and report


@dataclass(frozen=True)
class Pacing:
    """The centre's pace for this terminal (fields of any upload response; absent = none)."""

    max_batch: int | None = None
    min_interval_s: float | None = None


@dataclass(frozen=True)
class UploadResult:
    outcome: Outcome
    status: int
    retry_after_s: float | None = None
    pacing: Pacing = Pacing()
    accepted: int = 0
    duplicates: int = 0
    detail: str = ""


@dataclass(frozen=True)
class TrustFetch:
    data: bytes | None  # None: 304 Not Modified
    etag: str | None


def error_kind(exc: BaseException) -> str:
    """A short name for a transport failure: tls, timeout, connect, protocol, network."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain and len(chain) < 20:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, ssl.SSLError) for c in chain) or any(
        "CERTIFICATE_VERIFY_FAILED" in str(c) for c in chain
    ):
        return "tls"
    for c in chain:
        if isinstance(c, httpx.TimeoutException):
            return "timeout"
        if isinstance(c, httpx.ConnectError):
            return "connect"
        if isinstance(c, httpx.RemoteProtocolError | httpx.DecodingError):
            return "protocol"
    return "network"


def encode_batch(terminal_id: str, batch_id: int, records: Sequence[Record]) -> bytes:
    """The gzip body of an upload. Deterministic: a retry sends byte-identical content
    (fixed key order from ``Record.to_json``, no whitespace, gzip mtime 0).

    Encoded record by record: one ``json.dumps`` of the whole batch would hold the GIL
    for milliseconds at a stretch and delay decisions running on other threads.
    """
    head = json.dumps({"terminal_id": terminal_id, "batch_id": batch_id},
                      separators=(",", ":"), ensure_ascii=False)
    parts = [json.dumps(r.to_json(), separators=(",", ":"), ensure_ascii=False)
             for r in records]
    raw = head[:-1] + ',"records":[' + ",".join(parts) + "]}"
    return gzip.compress(raw.encode("utf-8"), compresslevel=1, mtime=0)


def _parse_pacing(doc: Any) -> Pacing:
    if not isinstance(doc, dict):
        return Pacing()
    max_batch = doc.get("max_batch")
    interval = doc.get("min_interval_s")
    mb = max_batch if isinstance(max_batch, int) and not isinstance(max_batch, bool) else None
    iv = interval if isinstance(interval, int | float) and not isinstance(interval, bool) else None
    return Pacing(
        max_batch=mb if mb is not None and mb >= 1 else None,
        min_interval_s=float(iv) if iv is not None and 0 <= iv <= 3600 else None,
    )


def _json_or_none(response: httpx.Response) -> Any:
    if len(response.content) > 1_000_000:
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def endpoint_urls(base_url: httpx.URL) -> dict[str, httpx.URL]:
    """The absolute URL of each endpoint, built once: what httpx makes of ``base_url`` +
    the path (``base_url``'s path, which httpx ends with "/", then the versioned path),
    without parsing and merging two URLs on every request."""
    return {
        path: base_url.copy_with(raw_path=base_url.raw_path + path.lstrip("/").encode("ascii"))
        for path in (UPLOAD_PATH, HEARTBEAT_PATH, TRUST_LIST_PATH)
    }


class _CookiesWhenSet(httpx.Cookies):
    """httpx's cookie jar, consulted only for a response that sets a cookie.

    httpx hands every response to the jar, which first copies the request into a
    ``urllib`` request (every header, the URL as text) and the response into an email
    message, only for the standard library to look for ``Set-Cookie`` there: the
    largest single cost of an exchange with the centre. The central API sets no cookie,
    but a load balancer in front of it may (stickiness): a response that carries one is
    handled exactly as before, and cookies are still sent back."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class _CentreHTTP(httpx.AsyncClient):
    """``httpx.AsyncClient`` with ``_CookiesWhenSet`` as its cookie jar."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._jar = _CookiesWhenSet(kwargs.get("cookies"))

    @property
    def cookies(self) -> httpx.Cookies:
        return self._jar

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._jar = _CookiesWhenSet(cookies)


class CentralClient:
    """One httpx.AsyncClient to the centre. Use as ``async with`` or call ``aclose``."""

    def __init__(
        self,
        config: UplinkConfig,
        *,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
        on_server_date: Callable[[str], None] | None = None,
        on_identity: Callable[[str | None], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self._on_identity = on_identity
        self._transport = transport
        self._retired: list[httpx.AsyncClient] = []
        self.identity = TerminalIdentity(
            token=config.token, client_cert=config.client_cert, client_key=config.client_key
        )
        if config.is_tls and config.ca_file is None:
            # No pinned CA: refuse rather than fall back to the system store.
            raise UplinkError(
                "uplink.ca_file is not set: an https central engine needs the pinned CA file"
            )
        self._on_server_date = on_server_date if config.is_tls else None
        self._http = self._make_http()
        self._urls = endpoint_urls(self._http.base_url)

    def _make_http(self) -> httpx.AsyncClient:
        config = self.config
        verify: ssl.SSLContext | bool = True
        if config.ca_file is not None:
            verify = build_ssl_context(config.ca_file, self.identity)
        headers = {
            "User-Agent": "scangate-terminal",
            "X-Scangate-Terminal": config.terminal_id,
            **self.identity.headers(),
        }
        return _CentreHTTP(
            base_url=config.base_url,
            verify=verify,
            transport=self._transport,
            timeout=httpx.Timeout(config.timeout_s),
            headers=headers,
            follow_redirects=False,
        )

    def reload_identity(self) -> None:
        """Use the client certificate on disk now (after a renewal): new connections
        present it; the previous client is closed with this one (its requests finish)."""
        self._retired.append(self._http)
        self._http = self._make_http()

    async def aclose(self) -> None:
        for old in self._retired:
            await old.aclose()
        self._retired.clear()
        await self._http.aclose()

    def _note_identity(self, response: httpx.Response) -> None:
        """401/403: the identity was refused (``revoked``, ...); 2xx: it is accepted."""
        if self._on_identity is None:
            return
        status = response.status_code
        if 200 <= status < 300:
            self._on_identity(None)
        elif status in (401, 403):
            code = f"http_{status}"
            if len(response.content) < 10_000:
                doc = _json_or_none(response)
                if isinstance(doc, dict) and isinstance(doc.get("code"), str):
                    code = doc["code"][:40]
            self._on_identity(code)

    async def __aenter__(self) -> CentralClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, self._urls[path], **kwargs)
        except httpx.HTTPError as exc:
            raise self._translate(exc, path) from exc
        date = response.headers.get("date")
        if date and self._on_server_date is not None:
            # Only over verified TLS: the Date then comes from the pinned centre.
            self._on_server_date(date)
        self._note_identity(response)
        return response

    def _translate(self, exc: httpx.HTTPError, path: str) -> UplinkError:
        kind = error_kind(exc)
        where = f"{self.config.base_url}{path}"
        if kind == "tls":
            return UplinkError(
                f"TLS verification of the central engine at {where} failed ({exc}); its "
                f"certificate must be signed by the pinned CA uplink.ca_file={self.config.ca_file}"
            )
        if kind == "timeout":
            return UplinkError(
                f"the central engine at {where} did not answer within "
                f"{self.config.timeout_s:g} s; will retry"
            )
        if kind == "connect":
            return UplinkError(f"cannot connect to the central engine at {where} ({exc}); "
                               "check the network and uplink.base_url; will retry")
        return UplinkError(f"the connection to {where} broke ({type(exc).__name__}: {exc}); "
                           "will retry with the same idempotency key")

    async def upload(self, batch: Batch, body: bytes | None = None) -> UploadResult:
        """Send one batch. ``body`` may be pre-encoded with ``encode_batch`` (same bytes)."""
        if body is None:
            body = encode_batch(self.config.terminal_id, batch.batch_id, batch.records)
        response = await self._send(
            "POST",
            UPLOAD_PATH,
            content=body,
            headers={
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "Idempotency-Key": batch.idempotency_key,
                "X-Scangate-Record-Count": str(len(batch.records)),
            },
        )
        return self._classify_upload(response, len(batch.records))

    def _classify_upload(self, response: httpx.Response, sent: int) -> UploadResult:
        status = response.status_code
        doc = _json_or_none(response)
        pacing = _parse_pacing(doc)
        detail = ""
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            detail = doc["error"][:MAX_ERROR_DETAIL]
        if 200 <= status < 300:
            if not isinstance(doc, dict) or doc.get("accepted") != sent:
                # A 2xx that does not confirm every record is not an acknowledgement.
                return UploadResult(
                    Outcome.BACKOFF, status, pacing=pacing,
                    detail=f"2xx without a complete acknowledgement ({sent} sent)",
                )
            dup = doc.get("duplicates", 0)
            return UploadResult(
                Outcome.ACKED, status, pacing=pacing, accepted=sent,
                duplicates=dup if isinstance(dup, int) else 0,
            )
        retry_after = parse_retry_after(
            response.headers.get("retry-after"),
            now=self.clock.now(),
            response_date=response.headers.get("date"),
            max_s=self.config.retry_after_max_s,
        )
        if status in (429, 503):
            return UploadResult(Outcome.RETRY_AFTER, status, retry_after, pacing, detail=detail)
        if status == 409:
            return UploadResult(Outcome.IN_FLIGHT, status, retry_after, pacing, detail=detail)
        if status in (401, 403):
            return UploadResult(Outcome.AUTH, status, retry_after, pacing, detail=detail)
        if status == 413 and sent > 1:
            return UploadResult(Outcome.TOO_LARGE, status, retry_after, pacing, detail=detail)
        if status == 408 or status >= 500 or status < 200 or 300 <= status < 400:
            return UploadResult(Outcome.BACKOFF, status, retry_after, pacing, detail=detail)
        return UploadResult(Outcome.REJECTED, status, retry_after, pacing, detail=detail)

    async def heartbeat(self, health: dict[str, Any]) -> dict[str, Any]:
        """Post the health report; returns the centre's JSON answer (may be empty)."""
        body = json.dumps(health, sort_keys=True, default=str).encode("utf-8")
        response = await self._send(
            "POST", HEARTBEAT_PATH, content=body, headers={"Content-Type": "application/json"}
        )
        if not 200 <= response.status_code < 300:
            raise UplinkError(
                f"the central engine refused the heartbeat with HTTP {response.status_code}"
            )
        doc = _json_or_none(response)
        return doc if isinstance(doc, dict) else {}

    async def fetch_trust_list(self, etag: str | None) -> TrustFetch:
        """Conditional GET of the signed trust list. 304 -> ``TrustFetch(None, etag)``."""
        headers = {"If-None-Match": etag} if etag else {}
        try:
            async with self._http.stream("GET", self._urls[TRUST_LIST_PATH],
                                         headers=headers) as response:
                date = response.headers.get("date")
                if date and self._on_server_date is not None:
                    self._on_server_date(date)
                if response.status_code in (401, 403):
                    await response.aread()
                self._note_identity(response)
                if response.status_code == 304:
                    return TrustFetch(None, etag)
                if response.status_code != 200:
                    raise UplinkError(
                        f"the central engine answered HTTP {response.status_code} for the "
                        "trust list; will retry"
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_TRUST_LIST_BYTES:
                        raise UplinkError(
                            f"the trust list from the centre exceeds {MAX_TRUST_LIST_BYTES} "
                            "bytes; refused"
                        )
                    chunks.append(chunk)
                return TrustFetch(b"".join(chunks), response.headers.get("etag"))
        except httpx.HTTPError as exc:
            raise self._translate(exc, TRUST_LIST_PATH) from exc
