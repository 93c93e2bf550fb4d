"""One JSON POST to a webhook, only to an address the guard allows.

The URL's host is resolved and checked on every call (``_address_guard``)
and the request goes to a checked address, with the original ``Host``
header and TLS server name, so a name that resolves differently the second
time cannot redirect it. Redirects are not followed; any 2xx answer is a
delivery. Alert sinks and labeling webhooks both post through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.alerts._address_guard import CheckedUrl, check_webhook_url
from kiln.errors import InvalidInput, Unavailable

__all__ = ["post_json"]


def post_json(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> None:
    """POST ``body`` (JSON) to ``url``; ``Unavailable`` when it cannot be delivered now."""
    import httpx

    from kiln._version import __version__

    checked = check_webhook_url(url)
    sent = dict(headers or {}) | {
        "Host": _host_header(checked),
        "Content-Type": "application/json",
        "User-Agent": f"kiln/{__version__}",
    }
    failure = ""
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for address in checked.addresses:
            request = client.build_request(
                "POST",
                _pinned_url(checked, address),
                content=body,
                headers=sent,
                extensions={"sni_hostname": checked.host} if checked.scheme == "https" else {},
            )
            try:
                response = client.send(request, stream=True)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            response.close()
            _check_status(checked, response.status_code)
            return
    raise Unavailable(f"webhook {checked.origin} could not be reached ({failure})")


def _host_header(checked: CheckedUrl) -> str:
    host = f"[{checked.host}]" if ":" in checked.host else checked.host
    default = 443 if checked.scheme == "https" else 80
    return host if checked.port == default else f"{host}:{checked.port}"


def _pinned_url(checked: CheckedUrl, address: Any) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(checked.url)
    literal = f"[{address}]" if address.version == 6 else str(address)
    return urlunsplit((checked.scheme, f"{literal}:{checked.port}", parts.path, parts.query, ""))


def _check_status(checked: CheckedUrl, status: int) -> None:
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise InvalidInput(
            f"webhook {checked.origin} answered HTTP {status}, a redirect: Kiln does not follow "
            "redirects; point it at the final address",
            field="url",
        )
    if status >= 500 or status in (408, 425, 429):
        raise Unavailable(f"webhook {checked.origin} answered HTTP {status}")
    raise InvalidInput(
        f"webhook {checked.origin} answered HTTP {status}: check the URL and the headers",
        field="url",
    )
