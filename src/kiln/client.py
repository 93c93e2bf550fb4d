"""``ApiClient``: the one HTTP client the SDK uses when ``KILN_SERVER_URL`` is set.

It is generic over the routes of ``/api/v1`` (it knows no domain), keeps one
connection alive per thread, sends the bearer token and project, and turns
Kiln's JSON error bodies back into the matching ``KilnError`` subclass, so code
behaves the same embedded or remote. Standard library only.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

from kiln.errors import InvalidInput, KilnError, error_class

__all__ = ["ApiClient"]


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
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._base = parts.path.rstrip("/") + prefix
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(self._netloc, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body (None for 204)."""
        target = self._base + path
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            target += "?" + urlencode(query, doseq=True)
        headers = {"Accept": "application/json"}
        body: bytes | None = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.project:
            headers["X-Kiln-Project"] = self.project
        status, payload = self._send(method, target, body, headers)
        if status >= 400:
            raise self._error(status, payload)
        return json.loads(payload) if payload else None

    def _send(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, target, body=body, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException) as exc:
                # A kept-alive connection the server closed: reconnect once.
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise KilnError(f"cannot reach the Kiln server at {self.url}: {exc}") from exc
            except OSError as exc:
                conn.close()
                self._local.conn = None
                raise KilnError(f"cannot reach the Kiln server at {self.url}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

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
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
