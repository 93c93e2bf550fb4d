"""Alert sinks: where a raised alert is sent, by kind, from a rule's JSON spec.

::

    AlertSink.deliver(alert, context)   the one primitive: send it or raise
      ├── LogSink      "log"      Python logging, WARNING (or ERROR when critical)
      ├── WebhookSink  "webhook"  POST the alert as JSON with httpx, to a checked address
      └── SmtpSink     "smtp"     an e-mail through an SMTP server (STARTTLS, login)
    sink_from_spec({"kind": "webhook", "url": ...}) ──► the table below, then entry points

The registry is a table of kind → ``"module:Class"``, resolved when a spec
names it; other packages add kinds through the ``kiln.alert_sinks``
entry-point group. A sink's constructor checks and stores its options (so
a bad spec is refused when the rule is created); ``deliver`` does the I/O.
A delivery that raises :class:`~kiln.errors.InvalidInput` is not tried
again (the spec or the address guard refused it); anything else is retried
(``_deliveries.py``).
"""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from kiln._plugins import entry_point_table, plugin_class
from kiln.alerts._address_guard import check_url_form
from kiln.errors import InvalidInput, Unavailable

if TYPE_CHECKING:
    from kiln.alerts import Alert
    from kiln.context import Context

__all__ = [
    "ALERT_SINKS_ENTRY_POINT_GROUP",
    "BUILTIN_SINKS",
    "AlertSink",
    "LogSink",
    "SmtpSink",
    "WebhookSink",
    "alert_payload",
    "known_sinks",
    "masked_spec",
    "sink_from_spec",
]

#: Entry-point group through which other packages add sink kinds ("module:Class").
ALERT_SINKS_ENTRY_POINT_GROUP = "kiln.alert_sinks"

BUILTIN_SINKS: dict[str, str] = {
    "log": "kiln.monitoring._sinks:LogSink",
    "smtp": "kiln.monitoring._sinks:SmtpSink",
    "webhook": "kiln.monitoring._sinks:WebhookSink",
}
#: Spec keys whose values are secrets: shown as ``***`` in listings.
SECRET_KEYS = frozenset({"headers"})
_MASK = "***"


class AlertSink(ABC):
    """Sends an alert somewhere; see the module docstring.

    Subclasses set ``kind`` and implement :meth:`deliver`. ``from_spec``
    builds one from a rule's spec (the keys other than ``kind`` are the
    constructor's keyword arguments); override it when a spec key is not a
    Python name (``from``).
    """

    kind: ClassVar[str]

    @classmethod
    def from_spec(cls, options: Mapping[str, Any]) -> AlertSink:
        """A sink built from ``options``, refused with the options it takes when they differ."""
        signature = inspect.signature(cls)
        try:
            signature.bind(**options)
        except TypeError as exc:
            takes = ", ".join(signature.parameters) or "no options"
            raise InvalidInput(f"the {cls.kind} sink takes {takes}: {exc}") from None
        return cls(**options)

    @property
    def label(self) -> str:
        """What delivery records call this sink; never holds a secret."""
        return self.kind

    @abstractmethod
    def deliver(self, alert: Alert, context: Context) -> None:
        """Send ``alert``; raise if it did not arrive (``InvalidInput``: do not try again)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


def _table() -> dict[str, str]:
    installed = entry_point_table(ALERT_SINKS_ENTRY_POINT_GROUP)
    third_party = {name: value for name, value in installed.items() if name not in BUILTIN_SINKS}
    return BUILTIN_SINKS | dict(sorted(third_party.items()))


def known_sinks() -> list[str]:
    """Every sink kind available here: the built-ins, then entry points."""
    return list(_table())


def sink_from_spec(spec: Mapping[str, Any]) -> AlertSink:
    """The sink a spec describes: ``{"kind": "webhook", "url": "https://…"}``."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("kind"), str):
        raise InvalidInput(
            f'a sink is a mapping with a "kind" (e.g. {{"kind": "log"}}), got {spec!r}',
            field="kind",
        )
    table = _table()
    kind = str(spec["kind"])
    target = table.get(kind)
    if target is None:
        raise InvalidInput(
            f"unknown sink kind {kind!r}; known kinds: {', '.join(table)} (others come from "
            f"packages declaring a {ALERT_SINKS_ENTRY_POINT_GROUP!r} entry point)",
            field="kind",
        )
    cls: type[AlertSink] = plugin_class(target, AlertSink, f"the {kind} alert sink")
    return cls.from_spec({key: value for key, value in spec.items() if key != "kind"})


def masked_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` with its secret values (header values) replaced by ``***``, for listings."""
    masked = dict(spec)
    for key in SECRET_KEYS & set(masked):
        value = masked[key]
        masked[key] = dict.fromkeys(value, _MASK) if isinstance(value, Mapping) else _MASK
    return masked


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The alert as a JSON-ready dict (what a webhook receives, with ``kiln_alert: 1``)."""

    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": alert.id,
        "project": alert.project,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status.value,
        "title": alert.title,
        "subject_kind": alert.subject_kind,
        "subject_id": alert.subject_id,
        "details": alert.details,
        "report_digest": alert.report_digest,
        "created_at": when(alert.created_at),
        "resolved_at": when(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "resolution": alert.resolution,
    }


def _seconds(value: Any, field: str, most: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= most:
        raise InvalidInput(
            f"{field} must be a number of seconds above 0 and at most {most:g}, got {value!r}",
            field=field,
        )
    return float(value)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string, got {value!r}", field=field)
    return value.strip()


class LogSink(AlertSink):
    """Logs the alert on ``logger``: WARNING for a warning, ERROR for a critical alert."""

    kind = "log"

    def __init__(self, logger: str = "kiln.monitoring.alerts") -> None:
        self.logger = _text(logger, "logger")

    def deliver(self, alert: Alert, context: Context) -> None:
        level = logging.ERROR if alert.severity == "critical" else logging.WARNING
        logging.getLogger(self.logger).log(
            level,
            "alert %d (%s, %s %s): %s",
            alert.id,
            alert.severity,
            alert.subject_kind,
            alert.subject_id,
            alert.title,
        )


#: Headers a webhook spec may not set: Kiln sets them from the URL and the body.
_RESERVED_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding"})


class WebhookSink(AlertSink):
    """POSTs the alert as JSON to ``url``; any 2xx answer is a delivery.

    The URL's host is resolved and checked on every delivery
    (``_address_guard.py``) and the request goes to a checked address, with
    the original ``Host`` header and TLS server name. Redirects are not
    followed. Header values (tokens) are never logged or listed.
    """

    kind = "webhook"

    def __init__(
        self, url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0
    ) -> None:
        check_url_form(url)
        self.url = url.strip()
        self.headers = self._check_headers(headers or {})
        self.timeout = _seconds(timeout, "timeout", 60)

    @staticmethod
    def _check_headers(headers: Any) -> dict[str, str]:
        if not isinstance(headers, Mapping) or not all(
            isinstance(name, str) and isinstance(value, str) for name, value in headers.items()
        ):
            raise InvalidInput(
                "headers must be a mapping of header names to string values", field="headers"
            )
        for name, value in headers.items():
            if not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
                raise InvalidInput(f"header name {name!r} is not valid", field="headers")
            if "\r" in value or "\n" in value:
                raise InvalidInput(f"header {name!r} holds a line break", field="headers")
            if name.lower() in _RESERVED_HEADERS:
                raise InvalidInput(
                    f"header {name!r} is set by Kiln from the URL and the body; leave it out",
                    field="headers",
                )
        return dict(headers)

    @property
    def label(self) -> str:
        # Only the origin: a chat service's webhook path is its secret.
        parts = check_url_form(self.url)
        return f"webhook:{parts.scheme.lower()}://{parts.netloc.lower()}"

    def deliver(self, alert: Alert, context: Context) -> None:
        import orjson

        from kiln.alerts._webhook_post import post_json

        body = orjson.dumps(alert_payload(alert) | {"kiln_alert": 1})
        post_json(self.url, body, headers=self.headers, timeout=self.timeout)


class SmtpSink(AlertSink):
    """Sends the alert as an e-mail: subject the alert's title, body its details.

    ``starttls`` upgrades the connection before anything is sent; ``ssl``
    connects with TLS from the start (port 465). The server's certificate is
    checked against the system's trust store (``SSL_CERT_FILE`` works). The
    password is read from the environment variable ``password_env`` when
    the mail is sent, so it is never stored in a rule.
    """

    kind = "smtp"

    def __init__(
        self,
        host: str,
        *,
        sender: str,
        to: str | list[str],
        port: int = 25,
        starttls: bool = False,
        ssl: bool = False,
        username: str | None = None,
        password_env: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = _text(host, "host")
        self.sender = _text(sender, "from")
        recipients = [to] if isinstance(to, str) else to
        if not isinstance(recipients, list) or not recipients:
            raise InvalidInput("to must be an address or a list of addresses", field="to")
        self.to = [_text(address, "to") for address in recipients]
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidInput(f"port must be between 1 and 65535, got {port!r}", field="port")
        self.port = port
        if not isinstance(starttls, bool) or not isinstance(ssl, bool) or (starttls and ssl):
            raise InvalidInput(
                "starttls and ssl are true or false, and at most one of them is true",
                field="starttls",
            )
        self.starttls, self.ssl = starttls, ssl
        self.username = None if username is None else _text(username, "username")
        self.password_env = None if password_env is None else _text(password_env, "password_env")
        if (self.username is None) != (self.password_env is None):
            raise InvalidInput(
                "give both username and password_env (the variable holding the password), or "
                "neither",
                field="password_env",
            )
        self.timeout = _seconds(timeout, "timeout", 120)

    @classmethod
    def from_spec(cls, options: Mapping[str, Any]) -> AlertSink:
        renamed = {("sender" if key == "from" else key): value for key, value in options.items()}
        return super().from_spec(renamed)

    @property
    def label(self) -> str:
        return f"smtp:{self.host}:{self.port}"

    def _message(self, alert: Alert) -> Any:
        import json
        from email.message import EmailMessage

        message = EmailMessage()
        message["Subject"] = alert.title
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        lines = [
            alert.title,
            "",
            f"alert:    {alert.id} ({alert.status.value})",
            f"severity: {alert.severity}",
            f"subject:  {alert.subject_kind} {alert.subject_id}",
            f"project:  {alert.project}",
            f"raised:   {alert.created_at.isoformat()}",
            "",
            json.dumps(alert.details, indent=2, sort_keys=True, default=str),
        ]
        message.set_content("\n".join(lines) + "\n")
        return message

    def deliver(self, alert: Alert, context: Context) -> None:
        import os
        import smtplib
        import ssl

        password = None
        if self.password_env is not None:
            password = os.environ.get(self.password_env)
            if password is None:
                raise InvalidInput(
                    f"the smtp sink's password variable {self.password_env} is not set in the "
                    "environment of the process that delivers alerts",
                    field="password_env",
                )
        tls = ssl.create_default_context()
        try:
            if self.ssl:
                server: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=tls
                )
            else:
                server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with server:
                if self.starttls:
                    server.starttls(context=tls)
                if self.username is not None and password is not None:
                    server.login(self.username, password)
                server.send_message(self._message(alert))
        except smtplib.SMTPAuthenticationError as exc:
            where = f"smtp {self.host}:{self.port}"
            raise InvalidInput(f"{where} refused the login: {exc}", field="username") from None
        except smtplib.SMTPRecipientsRefused as exc:
            where = f"smtp {self.host}:{self.port}"
            raise InvalidInput(f"{where} refused the recipients: {exc}", field="to") from None
        except smtplib.SMTPNotSupportedError as exc:
            where = f"smtp {self.host}:{self.port}"
            raise InvalidInput(f"{where} does not offer what the spec asks: {exc}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise Unavailable(f"smtp {self.host}:{self.port}: {exc}") from None
