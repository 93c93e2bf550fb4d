"""``ApiClient``: the one HTTP client the SDK uses when ``KILN_SERVER_URL`` is set.

It is generic over the routes of ``/api/v1`` (it knows no domain), keeps one
connection alive per thread, sends the bearer token and project, and turns
Kiln's JSON error bodies back into the matching ``KilnError`` subclass, so code
behaves the same embedded or remote. Standard library only.
"""

from __future__ import annotations

import http.client
import json
import random
import shutil
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from kiln.errors import InvalidInput, KilnError, error_class

__all__ = ["ApiClient"]

#: Answers that mean the request never reached Kiln (a proxy or a restart): always retried.
_RETRY_ALWAYS = frozenset({502, 503, 504})
#: Methods whose replay cannot double an effect: retried on any 5xx. A POST that
#: failed with 500 may have committed (a metric batch), so it is not replayed.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "PATCH"})


class ApiClient:
    """Calls a Kiln server: ``client.request("GET", "/projects")`` → decoded JSON."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        project: str | None = None,
        timeout: float = 30.0,
        prefix: str = "/api/v1",
        retries: int = 4,
        backoff: float = 0.2,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(
                f"server URL {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8700",
                field="server_url",
            )
        self.url = url.rstrip("/")
        self.token = token
        self.project = project
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._base = parts.path.rstrip("/") + prefix
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._open_lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        """This thread's kept-alive connection (each thread has its own)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(self._netloc, timeout=self.timeout)
            self._local.conn = conn
            with self._open_lock:
                self._open.add(conn)
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._local.conn = None
        with self._open_lock:
            self._open.discard(conn)

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", **(extra or {})}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.project:
            headers["X-Kiln-Project"] = self.project
        return headers

    def _target(self, path: str, params: dict[str, Any] | None) -> str:
        target = self._base + path
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            target += "?" + urlencode(query, doseq=True)
        return target

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body (None for 204).

        Connection failures and 502/503/504 answers are retried with
        exponential back-off, and so is any 5xx of an idempotent method
        (GET, PUT, DELETE, PATCH); other errors raise the matching ``KilnError``.
        """
        body: bytes | None = None
        extra: dict[str, str] = {}
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode()
            extra["Content-Type"] = "application/json"
        status, payload = self._send(
            method, self._target(path, params), lambda: body, self._headers(extra)
        )
        if status >= 400:
            raise self._error(status, payload)
        return json.loads(payload) if payload else None

    def upload(self, path: str, local_file: Path, *, params: dict[str, Any] | None = None) -> Any:
        """PUT a file as the raw request body, streamed from disk."""
        size = local_file.stat().st_size
        handles: list[Any] = []

        def body() -> Any:
            for handle in handles:
                handle.close()
            handles.append(local_file.open("rb"))
            return handles[-1]

        headers = self._headers(
            {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        )
        try:
            status, payload = self._send("PUT", self._target(path, params), body, headers)
        finally:
            for handle in handles:
                handle.close()
        if status >= 400:
            raise self._error(status, payload)
        return json.loads(payload) if payload else None

    def download(self, path: str, dest: Path) -> Path:
        """GET a raw body into ``dest``, streamed to disk (atomically)."""
        partial = dest.with_name(f".{dest.name}.part")
        conn = self._connection()
        try:
            conn.request("GET", self._target(path, None), headers=self._headers())
            response = conn.getresponse()
            if response.status >= 400:
                raise self._error(response.status, response.read())
            with partial.open("wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
            partial.replace(dest)
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            self._drop(conn)
            partial.unlink(missing_ok=True)
            if isinstance(exc, KilnError):
                raise
            raise KilnError(f"cannot download {path} from {self.url}: {exc}") from exc
        return dest

    def _send(
        self,
        method: str,
        target: str,
        body: Any,
        headers: dict[str, str],
    ) -> tuple[int, bytes]:
        attempt = 0
        while True:
            attempt += 1
            conn = self._connection()
            try:
                conn.request(method, target, body=body(), headers=headers)
                response = conn.getresponse()
                status, payload = response.status, response.read()
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                self._drop(conn)
                if attempt > self.retries:
                    raise KilnError(f"cannot reach the Kiln server at {self.url}: {exc}") from exc
            else:
                retryable = status in _RETRY_ALWAYS or (
                    status >= 500 and method in _IDEMPOTENT_METHODS
                )
                if not retryable or attempt > self.retries:
                    return status, payload
            delay = self.backoff * 2 ** (attempt - 1)
            time.sleep(random.uniform(delay / 2, delay))

    @staticmethod
    def _error(status: int, payload: bytes) -> KilnError:
        try:
            body = json.loads(payload)
            code, message = body.get("error_code", ""), body.get("message", "")
            field = body.get("field")
        except (ValueError, AttributeError):
            code, message, field = "", payload[:500].decode(errors="replace"), None
        cls = error_class(code)
        return cls(message or f"the server answered HTTP {status}", field=field)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection this client opened, in any thread."""
        with self._open_lock:
            connections, self._open = self._open, set()
        for conn in connections:
            conn.close()
        self._local = threading.local()
