"""The webhook address guard: public addresses only, unless the operator's allow-list says more."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from kiln.alerts._address_guard import (
    WEBHOOK_ALLOW_ENV,
    check_url_form,
    check_webhook_url,
    parse_allowance,
    refusal,
)
from kiln.errors import InvalidInput, Unavailable


def resolving_to(*addresses: str) -> Any:
    """A resolver that answers ``addresses`` for any host, as ``getaddrinfo`` would."""

    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        found = []
        for text in addresses:
            family = socket.AF_INET6 if ":" in text else socket.AF_INET
            sockaddr = (text, port, 0, 0) if family == socket.AF_INET6 else (text, port)
            found.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return found

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.8.9.10:8080/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://2130706433/", "loopback"),  # decimal form of 127.0.0.1
        ("http://0x7f000001/", "loopback"),  # hexadecimal
        ("http://0177.0.0.1/", "loopback"),  # octal
        ("http://127.1/", "loopback"),  # short form
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped IPv6
        ("http://[::ffff:a00:1]/", "private"),  # ::ffff:10.0.0.1
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),  # NAT64 around 169.254.169.254
        ("http://10.1.2.3/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://169.254.10.20/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("http://100.100.100.200/", "cloud metadata"),
        ("http://100.64.0.1/", "shared"),
        ("http://100.127.255.254/", "shared"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://192.0.2.10/", "private"),  # documentation (TEST-NET-1)
    ],
)
def test_every_class_of_internal_address_is_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as caught:
        check_webhook_url(url, allow=())
    assert caught.value.field == "url"
    assert WEBHOOK_ALLOW_ENV in caught.value.message  # says how to allow it


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com:70/",
        "javascript:alert(1)",
        "//example.com/hook",
        "http:///nohost",
        "http://user:secret@8.8.8.8/",
        "http://8.8.8.8:99999/",
        "",
        42,
    ],
)
def test_urls_that_are_not_plain_http_are_refused(url: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_webhook_url(url, allow=())
    assert caught.value.field == "url"


def test_credentials_in_the_url_are_refused_with_the_header_alternative() -> None:
    with pytest.raises(InvalidInput, match="headers"):
        check_url_form("https://bot:token@hooks.example.com/x")


def test_a_public_address_passes_and_keeps_what_was_checked() -> None:
    checked = check_webhook_url("https://8.8.8.8/hook?x=1", allow=())
    assert checked.addresses == (ipaddress.ip_address("8.8.8.8"),)
    assert (checked.scheme, checked.host, checked.port) == ("https", "8.8.8.8", 443)
    assert checked.origin == "https://8.8.8.8"
    v6 = check_webhook_url("http://[2001:4860:4860::8888]:8080/", allow=())
    assert v6.origin == "http://[2001:4860:4860::8888]:8080"


def test_every_address_a_host_resolves_to_must_pass() -> None:
    public = resolving_to("93.184.216.34", "2606:2800:220:1::248")
    assert len(check_webhook_url("https://hooks.example.com/", resolver=public).addresses) == 2
    mixed = resolving_to("93.184.216.34", "10.0.0.7")
    with pytest.raises(InvalidInput, match=r"10\.0\.0\.7, a private address"):
        check_webhook_url("https://hooks.example.com/", allow=(), resolver=mixed)
    mapped = resolving_to("::ffff:169.254.169.254")
    with pytest.raises(InvalidInput, match="cloud metadata"):
        check_webhook_url("https://hooks.example.com/", allow=(), resolver=mapped)


def test_a_host_that_does_not_resolve_is_unavailable_not_refused() -> None:
    def fail(*_: Any, **__: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(Unavailable, match="cannot resolve"):
        check_webhook_url("https://nowhere.invalid/", allow=(), resolver=fail)


def test_the_allow_list_admits_listed_addresses_networks_and_hosts() -> None:
    assert check_webhook_url("http://127.0.0.1:9/", allow="127.0.0.1").port == 9
    assert check_webhook_url("http://10.20.3.4/", allow="10.20.0.0/16")
    assert check_webhook_url("http://[fd12::1]/", allow=["fd12::/16"])
    assert check_webhook_url("http://[::ffff:127.0.0.1]/", allow="127.0.0.0/8")
    internal = resolving_to("10.9.8.7")
    assert check_webhook_url("http://hooks.internal/", allow="hooks.internal", resolver=internal)
    with pytest.raises(InvalidInput, match="private"):
        check_webhook_url("http://10.21.0.1/", allow="10.20.0.0/16")
    with pytest.raises(InvalidInput, match="private"):
        check_webhook_url("http://other.internal/", allow="hooks.internal", resolver=internal)


def test_metadata_addresses_pass_only_when_listed_exactly() -> None:
    with pytest.raises(InvalidInput, match="cloud metadata"):
        check_webhook_url("http://169.254.169.254/", allow="169.254.0.0/16")
    with pytest.raises(InvalidInput, match="cloud metadata"):
        check_webhook_url("http://100.100.100.200/", allow="100.64.0.0/10")
    metadata = resolving_to("169.254.169.254")
    with pytest.raises(InvalidInput, match="cloud metadata"):
        check_webhook_url("http://meta.internal/", allow="meta.internal", resolver=metadata)
    assert check_webhook_url("http://169.254.169.254/", allow="169.254.169.254")


def test_the_allow_list_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInput):
        check_webhook_url("http://127.0.0.1/")
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, " localhost., 127.0.0.0/8 ,,")
    assert check_webhook_url("http://127.0.0.1/").host == "127.0.0.1"
    assert check_webhook_url("http://LOCALHOST/", resolver=resolving_to("::1")).host == "localhost"
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "bad host!")
    with pytest.raises(InvalidInput) as caught:
        check_webhook_url("http://127.0.0.1/")
    assert caught.value.field == WEBHOOK_ALLOW_ENV


def test_allow_list_entries_are_parsed() -> None:
    allowance = parse_allowance("Hooks.Internal., 10.0.0.0/8, 192.168.1.1, [::1]")
    assert allowance.hosts == frozenset({"hooks.internal"})
    assert [str(n) for n in allowance.networks] == ["10.0.0.0/8", "192.168.1.1/32", "::1/128"]
    with pytest.raises(InvalidInput):
        parse_allowance("10.0.0.0/99")
    assert parse_allowance(None).hosts == frozenset()


def test_refusal_is_none_only_for_public_addresses() -> None:
    assert refusal(ipaddress.ip_address("1.1.1.1")) is None
    assert refusal(ipaddress.ip_address("2606:4700:4700::1111")) is None
    assert refusal(ipaddress.ip_address("::ffff:1.1.1.1")) is None
    assert refusal(ipaddress.ip_address("::ffff:192.168.0.1")) is not None
