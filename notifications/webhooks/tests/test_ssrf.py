"""The SSRF guard, when a URL is saved and at delivery time, and the client's limits: the
connection goes to the address that was checked, no redirect is followed, every phase
times out, a large answer is not read whole."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest

from notifications.webhooks import ssrf, transport
from notifications.webhooks.ssrf import address_allowed, url_refusal
from notifications.webhooks.tests.receiver import WebhookReceiver

PRIVATE = "Webhook URLs may not point at private, loopback or link-local addresses."


@pytest.fixture
def guard(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False


@pytest.fixture
def dns(monkeypatch):
    """The resolver seam: names map to what the test says; a record of what was asked."""
    answers: dict[str, list[str]] = {}
    asked: list[str] = []

    def resolve(host, port):
        asked.append(host)
        if host not in answers:
            raise OSError(f"{host}: Name or service not known")
        return [ipaddress.ip_address(a) for a in answers[host]]

    monkeypatch.setattr(ssrf, "resolve", resolve)
    return answers, asked


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456:789a::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
    ],
)
def test_non_public_addresses_are_not_allowed(address):
    assert address_allowed(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:2800:21f:cb07:6820:80da:af6b:261b", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address):
    assert address_allowed(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://[::1]:8080/x",
        "http://[fe80::1%25eth0]/x",
        "http://169.254.169.254/",
        "http://0.0.0.0/",
    ],
)
def test_literal_private_urls_are_refused(guard, url):
    assert url_refusal(url) == PRIVATE


def test_names_resolving_to_private_addresses_are_refused(guard, dns):
    answers, _ = dns
    answers.update(
        {
            "internal.example.com": ["10.0.0.7"],
            "v6internal.example.com": ["fd00::7"],
            "mixed.example.com": ["93.184.215.14", "192.168.1.1"],
            "public.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:261b"],
        }
    )
    assert url_refusal("https://internal.example.com/hook") == PRIVATE
    assert url_refusal("https://v6internal.example.com/hook") == PRIVATE
    assert url_refusal("https://mixed.example.com/hook") == PRIVATE
    assert url_refusal("https://public.example.com/hook") is None


def test_localhost_resolves_to_loopback_and_is_refused(guard):
    assert url_refusal("http://localhost:8000/hook") == PRIVATE  # the real resolver, /etc/hosts


def test_the_setting_turns_the_guard_off(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert url_refusal("http://127.0.0.1/x") is None
    assert url_refusal("ftp://127.0.0.1/x") == "Only http and https URLs are allowed."


def test_delivery_time_refuses_a_name_that_now_resolves_to_loopback(guard, dns):
    """Saved while public, rebound to loopback since: the connection is never made."""
    answers, _ = dns
    with WebhookReceiver() as receiver:
        answers["hooks.example.com"] = ["93.184.215.14"]
        assert url_refusal(f"http://hooks.example.com:{receiver.port}/hook") is None
        answers["hooks.example.com"] = ["127.0.0.1"]
        answer = transport.post(f"http://hooks.example.com:{receiver.port}/hook", body=b"{}", headers={})
        assert answer.status_code is None
        assert answer.error == "refused: hooks.example.com resolves to 127.0.0.1, which is not a public address"
        assert receiver.received == []


def test_delivery_time_refuses_a_literal_private_address(guard):
    with WebhookReceiver() as receiver:
        answer = transport.post(receiver.url + "/hook", body=b"{}", headers={})
        assert answer.error == "refused: 127.0.0.1 resolves to 127.0.0.1, which is not a public address"
        assert receiver.received == []


def test_the_connection_goes_to_the_checked_address_without_resolving_again(settings, dns, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    answers, asked = dns
    answers["pinned.example.com"] = ["127.0.0.1"]
    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with WebhookReceiver() as receiver:
        for _ in range(3):  # one connection, kept alive
            answer = transport.post(f"http://pinned.example.com:{receiver.port}/hook", body=b"{}", headers={})
            assert answer.status_code == 200
        assert [r.headers["host"] for r in receiver.received] == [f"pinned.example.com:{receiver.port}"] * 3
    assert asked == ["pinned.example.com"]
    assert "pinned.example.com" not in looked_up  # the socket was given the checked address


def test_redirects_are_not_followed(allow_private):
    with WebhookReceiver() as first, WebhookReceiver() as second:
        first.redirect_to = second.url + "/elsewhere"
        answer = transport.post(first.url + "/hook", body=b"{}", headers={})
        assert (answer.status_code, answer.error) == (302, "HTTP 302 (redirects are not followed)")
        assert len(first.received) == 1
        assert second.received == []


def test_a_slow_receiver_times_out(allow_private, settings):
    settings.WEBHOOK_TIMEOUT = 0.5
    transport.client_close()
    with WebhookReceiver() as receiver:
        receiver.delay = 2.0
        started = time.monotonic()
        answer = transport.post(receiver.url + "/hook", body=b"{}", headers={})
        assert time.monotonic() - started < 1.5
    assert answer.status_code is None
    assert answer.error.startswith("timeout (ReadTimeout)")


def test_a_closed_port_is_a_connection_error(allow_private):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = transport.post(f"http://127.0.0.1:{port}/hook", body=b"{}", headers={})
    assert answer.status_code is None
    assert answer.error.startswith("ConnectError")


def test_only_the_start_of_a_large_answer_is_read(allow_private):
    with WebhookReceiver() as receiver:
        receiver.body = b"x" * 5_000_000
        answer = transport.post(receiver.url + "/hook", body=b"{}", headers={})
    assert (answer.status_code, answer.excerpt, answer.error) == (200, "x" * transport.EXCERPT_CHARS, "")
