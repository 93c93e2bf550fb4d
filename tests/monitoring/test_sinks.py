"""Alert sinks (log, webhook, SMTP), their registry, and the deliveries of an alert, retried."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from kiln.alerts import Alert, get_alert, raise_alert
from kiln.alerts._address_guard import WEBHOOK_ALLOW_ENV
from kiln.auth import ensure_project
from kiln.context import Context
from kiln.errors import InvalidInput, NotFound
from kiln.monitoring._deliveries import DeliveryStatus, deliver_alert, list_deliveries
from kiln.monitoring._sinks import (
    ALERT_SINKS_ENTRY_POINT_GROUP,
    AlertSink,
    LogSink,
    SmtpSink,
    WebhookSink,
    alert_payload,
    known_sinks,
    masked_spec,
    sink_from_spec,
)
from tests.monitoring._alert_servers import http_receiver, self_signed, smtp_server

PROJECT = "default"
SECRET = "Bearer s3cr3t-token-value"


@pytest.fixture
def context(make_context: Callable[..., Context], database_url: str) -> Iterator[Context]:
    made = make_context(database_url=database_url)
    made.db.run(ensure_project, PROJECT)
    yield made
    made.close()


@pytest.fixture
def sqlite_context(make_context: Callable[..., Context]) -> Context:
    made = make_context()
    made.db.run(ensure_project, PROJECT)
    return made


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def stored_alert(context: Context, severity: str = "warning") -> Alert:
    alert: Alert = context.db.run(
        raise_alert,
        PROJECT,
        kind="monitor",
        severity=severity,
        title="fraud-watch: drift.share 0.40 > 0.3",
        subject_kind="monitor",
        subject_id="fraud-watch",
        details={"rule": "drifting", "value": 0.4, "evidence": {"columns": [{"column": "amount"}]}},
        report_digest="ab" * 32,
    )
    return alert


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- registry and specs -------------------------------------------------------------


def test_the_registry_knows_the_builtins_and_names_the_entry_point_group() -> None:
    assert known_sinks() == ["log", "smtp", "webhook"]
    assert isinstance(sink_from_spec({"kind": "log"}), LogSink)
    with pytest.raises(InvalidInput, match=ALERT_SINKS_ENTRY_POINT_GROUP) as caught:
        sink_from_spec({"kind": "pager"})
    assert caught.value.field == "kind"
    assert "log, smtp, webhook" in caught.value.message
    with pytest.raises(InvalidInput, match='"kind"'):
        sink_from_spec({"url": "https://example.com"})


class ListSink(AlertSink):
    """A third-party sink that keeps what it is given."""

    kind = "list"
    seen: list[int] = []

    def __init__(self, tag: str = "") -> None:
        self.tag = tag

    def deliver(self, alert: Alert, context: Context) -> None:
        self.seen.append(alert.id)


def fake_entry_points(**found: str) -> Any:
    points = [
        metadata.EntryPoint(name, value, ALERT_SINKS_ENTRY_POINT_GROUP)
        for name, value in found.items()
    ]
    original = metadata.entry_points

    def fake(**kwargs: Any) -> Any:
        if kwargs.get("group") == ALERT_SINKS_ENTRY_POINT_GROUP:
            return points
        return original(**kwargs)

    return fake


def test_entry_points_add_sink_kinds(
    monkeypatch: pytest.MonkeyPatch, sqlite_context: Context
) -> None:
    fake = fake_entry_points(
        list=f"{__name__}:ListSink", gone="no_such_package.sinks:Gone", log="x:Y"
    )
    monkeypatch.setattr(metadata, "entry_points", fake)
    assert known_sinks() == ["log", "smtp", "webhook", "gone", "list"]
    assert isinstance(sink_from_spec({"kind": "log"}), LogSink)  # a built-in is not replaced
    with pytest.raises(NotFound, match="install the package"):
        sink_from_spec({"kind": "gone"})
    alert = stored_alert(sqlite_context)
    (delivery,) = deliver_alert(sqlite_context, alert, [{"kind": "list", "tag": "x"}])
    assert (delivery.status, delivery.sink, ListSink.seen) == (
        DeliveryStatus.DELIVERED,
        "list",
        [alert.id],
    )


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"kind": "webhook"}, None),
        ({"kind": "webhook", "url": "ftp://example.com"}, "url"),
        ({"kind": "webhook", "url": "https://example.com", "timeout": 0}, "timeout"),
        ({"kind": "webhook", "url": "https://example.com", "timeout": True}, "timeout"),
        ({"kind": "webhook", "url": "https://example.com", "headers": {"Host": "x"}}, "headers"),
        ({"kind": "webhook", "url": "https://example.com", "headers": {"A": 1}}, "headers"),
        (
            {"kind": "webhook", "url": "https://example.com", "headers": {"A": "b\r\nC: d"}},
            "headers",
        ),
        ({"kind": "webhook", "url": "https://example.com", "method": "GET"}, None),
        ({"kind": "smtp", "host": "mail", "from": "a@x"}, None),
        ({"kind": "smtp", "host": "mail", "from": "a@x", "to": []}, "to"),
        ({"kind": "smtp", "host": "mail", "from": "a@x", "to": "b@x", "port": 0}, "port"),
        (
            {"kind": "smtp", "host": "mail", "from": "a@x", "to": "b@x", "username": "u"},
            "password_env",
        ),
        ({"kind": "smtp", "host": "", "from": "a@x", "to": "b@x"}, "host"),
        (
            {"kind": "smtp", "host": "m", "from": "a@x", "to": "b", "ssl": True, "starttls": True},
            "starttls",
        ),
        ({"kind": "log", "level": "debug"}, None),
    ],
)
def test_bad_sink_specs_are_refused_naming_the_option(
    spec: dict[str, Any], field: str | None
) -> None:
    with pytest.raises(InvalidInput) as caught:
        sink_from_spec(spec)
    assert caught.value.field == field
    if field is None:
        assert "takes" in caught.value.message


def test_labels_and_listings_hold_no_secret() -> None:
    spec = {
        "kind": "webhook",
        "url": "https://hooks.slack.com/services/T0/B0/secretpath?token=x",
        "headers": {"Authorization": SECRET},
    }
    sink = sink_from_spec(spec)
    assert sink.label == "webhook:https://hooks.slack.com"
    assert SECRET not in repr(sink)
    assert masked_spec(spec)["headers"] == {"Authorization": "***"}
    assert spec["headers"] == {"Authorization": SECRET}  # the stored spec is not changed
    smtp = sink_from_spec({"kind": "smtp", "host": "mail.example.com", "from": "a@x", "to": "b@x"})
    assert isinstance(smtp, SmtpSink)
    assert (smtp.label, smtp.sender, smtp.to, smtp.port) == (
        "smtp:mail.example.com:25",
        "a@x",
        ["b@x"],
        25,
    )


# --- log ------------------------------------------------------------------------------


def test_the_log_sink_logs_warnings_and_critical_alerts_as_errors(
    sqlite_context: Context, caplog: pytest.LogCaptureFixture
) -> None:
    warning, critical = stored_alert(sqlite_context), stored_alert(sqlite_context, "critical")
    with caplog.at_level(logging.WARNING, logger="alerts.test"):
        deliveries = deliver_alert(
            sqlite_context, warning, [{"kind": "log", "logger": "alerts.test"}]
        )
        deliver_alert(sqlite_context, critical, [{"kind": "log", "logger": "alerts.test"}])
    assert [d.status for d in deliveries] == [DeliveryStatus.DELIVERED]
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "alerts.test"]
    assert logged == [
        (logging.WARNING, f"alert {warning.id} (warning, monitor fraud-watch): {warning.title}"),
        (logging.ERROR, f"alert {critical.id} (critical, monitor fraud-watch): {critical.title}"),
    ]


# --- webhook --------------------------------------------------------------------------


def test_a_webhook_receives_the_alert_as_json_with_its_headers(
    context: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.1")
    alert = stored_alert(context)
    with http_receiver() as receiver, caplog.at_level(logging.DEBUG):
        spec = {
            "kind": "webhook",
            "url": f"{receiver.url}/hook?x=1",
            "headers": {"Authorization": SECRET},
        }
        (delivery,) = deliver_alert(context, alert, [spec])
    assert (delivery.status, delivery.attempts, delivery.error) == (DeliveryStatus.DELIVERED, 1, "")
    assert delivery.sink == f"webhook:{receiver.url}"
    (request,) = receiver.requests
    assert request.path == "/hook?x=1"
    assert request.headers["Authorization"] == SECRET
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Host"] == receiver.url.removeprefix("http://")
    body = request.json()
    assert body == alert_payload(alert) | {"kiln_alert": 1}
    assert (body["id"], body["title"], body["details"]["value"]) == (alert.id, alert.title, 0.4)
    assert SECRET not in caplog.text
    assert context.db.read(list_deliveries, PROJECT, alert.id) == [delivery]


def test_a_server_error_is_retried_until_it_is_delivered(
    sqlite_context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.0/8")
    alert = stored_alert(sqlite_context)
    with http_receiver([500, 200]) as receiver:
        (delivery,) = deliver_alert(
            sqlite_context, alert, [{"kind": "webhook", "url": receiver.url}], backoff=0.01
        )
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert [r.json()["id"] for r in receiver.requests] == [alert.id, alert.id]


def test_an_unreachable_webhook_fails_after_three_attempts_and_the_alert_stays(
    context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.1")
    alert = stored_alert(context)
    url = f"http://127.0.0.1:{closed_port()}/hook"
    failing, logged = deliver_alert(
        context, alert, [{"kind": "webhook", "url": url}, {"kind": "log"}], backoff=0.01
    )
    assert (failing.status, failing.attempts) == (DeliveryStatus.FAILED, 3)
    assert "could not be reached" in failing.error
    assert "ConnectError" in failing.error
    assert logged.status is DeliveryStatus.DELIVERED  # one failing sink never stops the others
    assert context.db.read(get_alert, PROJECT, alert.id) == alert
    assert [d.status for d in context.db.read(list_deliveries, PROJECT, alert.id)] == [
        DeliveryStatus.FAILED,
        DeliveryStatus.DELIVERED,
    ]


def test_refusals_and_client_errors_are_not_retried(
    sqlite_context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert = stored_alert(sqlite_context)
    with http_receiver([404]) as receiver:
        (refused,) = deliver_alert(
            sqlite_context, alert, [{"kind": "webhook", "url": receiver.url}]
        )
        assert receiver.requests == []  # the guard refused 127.0.0.1 before any request
        monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.1")
        (missing,) = deliver_alert(
            sqlite_context, alert, [{"kind": "webhook", "url": receiver.url}]
        )
    assert (refused.status, refused.attempts) == (DeliveryStatus.FAILED, 1)
    assert "loopback" in refused.error
    assert (missing.status, missing.attempts) == (DeliveryStatus.FAILED, 1)
    assert "HTTP 404" in missing.error
    assert len(receiver.requests) == 1


def test_redirects_are_not_followed(
    sqlite_context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.1")
    alert = stored_alert(sqlite_context)
    with http_receiver([302, 200]) as receiver:
        (delivery,) = deliver_alert(
            sqlite_context, alert, [{"kind": "webhook", "url": receiver.url}]
        )
    assert delivery.status is DeliveryStatus.FAILED
    assert "redirect" in delivery.error
    assert [r.path for r in receiver.requests] == ["/"]


def test_the_request_goes_to_the_checked_address_whatever_dns_says_later(
    sqlite_context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name resolves to an allowed address once, then elsewhere."""
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.1")
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])
    asked: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example.test":
            asked.append(host)
            return real(next(answers, "192.0.2.1"), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    alert = stored_alert(sqlite_context)
    with http_receiver() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        url = f"http://hooks.example.test:{port}/hook"
        (delivery,) = deliver_alert(sqlite_context, alert, [{"kind": "webhook", "url": url}])
    assert delivery.status is DeliveryStatus.DELIVERED, delivery.error
    assert asked == ["hooks.example.test"]  # resolved once, by the guard
    assert receiver.requests[0].headers["Host"] == f"hooks.example.test:{port}"


def test_https_is_verified_against_the_host_name_while_connecting_to_the_address(
    sqlite_context: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "localhost")
    alert = stored_alert(sqlite_context)
    with http_receiver(tls=(cert, key), host_name="localhost") as receiver:
        spec = {"kind": "webhook", "url": f"{receiver.url}/tls"}
        (untrusted,) = deliver_alert(sqlite_context, alert, [spec], attempts=1)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        (delivery,) = deliver_alert(sqlite_context, alert, [spec])
    assert untrusted.status is DeliveryStatus.FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.error or "certificate" in untrusted.error
    assert delivery.status is DeliveryStatus.DELIVERED, delivery.error
    assert [r.path for r in receiver.requests] == ["/tls"]
    assert receiver.requests[0].headers["Host"] == receiver.url.removeprefix("https://")


# --- smtp -----------------------------------------------------------------------------


def test_an_email_is_sent_with_the_title_as_subject_and_the_details_in_the_body(
    context: Context,
) -> None:
    alert = stored_alert(context, "critical")
    with smtp_server() as mailbox:
        spec = {
            "kind": "smtp",
            "host": "127.0.0.1",
            "port": mailbox.port,
            "from": "kiln@example.com",
            "to": ["oncall@example.com", "ml@example.com"],
        }
        (delivery,) = deliver_alert(context, alert, [spec])
    assert (delivery.status, delivery.sink) == (
        DeliveryStatus.DELIVERED,
        f"smtp:127.0.0.1:{mailbox.port}",
    )
    (message,) = mailbox.messages
    assert message["from"] == "kiln@example.com"
    assert message["to"] == ["oncall@example.com", "ml@example.com"]
    assert f"Subject: {alert.title}" in message["data"]
    assert "severity: critical" in message["data"]
    assert '"column": "amount"' in message["data"]


def test_starttls_and_login_with_the_password_from_the_environment(
    sqlite_context: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("KILN_TEST_SMTP_PASSWORD", "hunter2")
    alert = stored_alert(sqlite_context)
    with smtp_server(tls=(cert, key), password="hunter2") as mailbox:
        spec = {
            "kind": "smtp",
            "host": "localhost",
            "port": mailbox.port,
            "from": "kiln@example.com",
            "to": "oncall@example.com",
            "starttls": True,
            "username": "kiln",
            "password_env": "KILN_TEST_SMTP_PASSWORD",
        }
        (delivery,) = deliver_alert(sqlite_context, alert, [spec])
        monkeypatch.setenv("KILN_TEST_SMTP_PASSWORD", "wrong")
        (refused,) = deliver_alert(sqlite_context, alert, [spec])
        monkeypatch.delenv("KILN_TEST_SMTP_PASSWORD")
        (unset,) = deliver_alert(sqlite_context, alert, [spec])
    assert delivery.status is DeliveryStatus.DELIVERED, delivery.error
    assert (mailbox.tls_sessions, mailbox.logins, len(mailbox.messages)) == (
        2,
        [("kiln", "hunter2")],
        1,
    )
    assert (refused.status, refused.attempts) == (DeliveryStatus.FAILED, 1)
    assert "refused the login" in refused.error
    assert (unset.status, unset.attempts) == (DeliveryStatus.FAILED, 1)
    assert "KILN_TEST_SMTP_PASSWORD is not set" in unset.error


def test_an_smtp_server_that_is_away_is_retried_then_failed(sqlite_context: Context) -> None:
    alert = stored_alert(sqlite_context)
    spec = {"kind": "smtp", "host": "127.0.0.1", "port": closed_port(), "from": "a@x", "to": "b@x"}
    (delivery,) = deliver_alert(sqlite_context, alert, [spec], backoff=0.01)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert "Unavailable" in delivery.error


def test_a_sink_spec_that_no_longer_builds_is_a_failed_delivery(sqlite_context: Context) -> None:
    alert = stored_alert(sqlite_context)
    broken, logged = deliver_alert(sqlite_context, alert, [{"kind": "gone"}, {"kind": "log"}])
    assert (broken.status, broken.attempts, broken.sink) == (DeliveryStatus.FAILED, 0, "gone")
    assert "unknown sink kind" in broken.error
    assert logged.status is DeliveryStatus.DELIVERED
    with pytest.raises(InvalidInput):
        deliver_alert(sqlite_context, alert, [], attempts=0)
    with pytest.raises(NotFound):
        sqlite_context.db.read(list_deliveries, PROJECT, alert.id + 100)


def test_webhook_sink_options_are_stored() -> None:
    sink = WebhookSink("https://example.com/x", headers={"X-Key": "v"}, timeout=2)
    assert (sink.url, sink.headers, sink.timeout) == ("https://example.com/x", {"X-Key": "v"}, 2.0)
    assert ssl.OPENSSL_VERSION  # the TLS tests above need an OpenSSL build
