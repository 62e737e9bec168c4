"""SmppRoute against FakeSmsc: real SMPP 3.4 over loopback, no mocks, no Django."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import smpp34

from fakes.smsc import ESME_RINVDSTADR, ESME_RSYSERR, FakeSmsc, SentReceipt
from sms.providers.base import (
    PermanentSmsError,
    Receipt,
    SmsPart,
    SmsSubmit,
    SubmitResult,
    ThrottledError,
    TransientSmsError,
)
from sms.providers.smpp import SmppRoute, parse_receipt, raw_submit_rate

DESTINATION = "+22890123456"
WIRE_DESTINATION = "22890123456"  # E.164 without '+', TON 1 (international)
SENDER = "SoftAfrik"  # alphanumeric, TON 5


def part(text: str, *, udh: bytes = b"") -> SmsPart:
    # GSM-7 unpacked septets: for these characters, the ASCII bytes.
    return SmsPart(payload=udh + text.encode("ascii"), data_coding=0, udhi=bool(udh), text=text)


def message(
    recipient_id: int = 1,
    *,
    destination: str = DESTINATION,
    parts: tuple[SmsPart, ...] | None = None,
    want_receipt: bool = False,
) -> SmsSubmit:
    parts = parts or (part(f"Hello {recipient_id}"),)
    text = "".join(p.text for p in parts)
    return SmsSubmit(recipient_id, SENDER, destination, text, parts, want_receipt)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    with FakeSmsc() as fake:
        yield fake


@pytest.fixture
def make_route(smsc: FakeSmsc) -> Iterator[Callable[..., SmppRoute]]:
    routes: list[SmppRoute] = []

    def make(**kwargs: object) -> SmppRoute:
        options: dict[str, object] = {
            "host": smsc.host,
            "port": smsc.port,
            "system_id": smsc.system_id,
            "password": smsc.password,
        }
        options.update(kwargs)
        route = SmppRoute(**options)  # type: ignore[arg-type]
        routes.append(route)
        return route

    yield make
    for route in routes:
        route.close()


class Receipts:
    def __init__(self) -> None:
        self.items: list[Receipt] = []
        self._lock = threading.Lock()

    def __call__(self, receipt: Receipt) -> None:
        with self._lock:
            self.items.append(receipt)

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)


def test_single_part_submit_is_recorded_with_exact_fields(smsc, make_route):
    route = make_route()

    [outcome] = route.submit_batch([message(7, parts=(part("Hello world"),))])

    [submit] = smsc.received
    assert outcome == SubmitResult(provider_message_ids=(submit.message_id,))
    assert submit.payload == b"Hello world"
    assert submit.data_coding == 0
    assert submit.esm_class == 0
    assert (submit.source, submit.source_ton) == (SENDER, 5)
    assert (submit.destination, submit.dest_ton) == (WIRE_DESTINATION, 1)
    assert submit.registered_delivery == 0


def test_ucs2_part_keeps_its_bytes_and_data_coding(smsc, make_route):
    route = make_route()
    payload = "Ça coûte 5 €".encode("utf-16-be")

    [outcome] = route.submit_batch([message(parts=(SmsPart(payload, 8, False, "Ça coûte 5 €"),))])

    [submit] = smsc.received
    assert isinstance(outcome, SubmitResult)
    assert (submit.payload, submit.data_coding) == (payload, 8)


def test_three_part_message_is_three_udhi_submits_with_one_id_each(smsc, make_route):
    route = make_route()
    parts = tuple(part(f"part {i}", udh=bytes([5, 0, 3, 0x2A, 3, i])) for i in (1, 2, 3))

    [outcome] = route.submit_batch([message(parts=parts)])

    received = smsc.received
    assert [r.payload for r in received] == [p.payload for p in parts]
    assert [r.esm_class for r in received] == [0x40, 0x40, 0x40]
    assert outcome == SubmitResult(provider_message_ids=tuple(r.message_id for r in received))
    assert len(set(outcome.provider_message_ids)) == 3


def test_payload_over_254_bytes_goes_in_message_payload(smsc, make_route):
    route = make_route()
    text = "Ça coûte 5 € " * 12
    payload = text.encode("utf-16-be")  # 312 bytes: too long for short_message

    [outcome] = route.submit_batch([message(parts=(SmsPart(payload, 8, False, text),))])

    [submit] = smsc.received
    assert isinstance(outcome, SubmitResult)
    assert (submit.payload, submit.data_coding) == (payload, 8)


def test_want_receipt_sets_registered_delivery(smsc, make_route):
    route = make_route()

    route.submit_batch([message(want_receipt=True)])

    assert [r.registered_delivery for r in smsc.received] == [1]


def test_delivered_receipt_reaches_on_receipt_with_its_message_id(smsc, make_route):
    receipts = Receipts()
    route = make_route(on_receipt=receipts)

    [outcome] = route.submit_batch([message(want_receipt=True)])

    assert wait_until(lambda: len(receipts) == 1)
    [message_id] = outcome.provider_message_ids
    assert receipts.items == [Receipt(provider_message_id=message_id, state="delivered")]
    # ... and the SMSC got deliver_sm_resp OK for it.
    assert wait_until(lambda: smsc.receipts == [SentReceipt(message_id, "DELIVRD")])


def test_undeliverable_receipt_is_reported_failed(smsc, make_route):
    receipts = Receipts()
    route = make_route(on_receipt=receipts)
    smsc.undeliverable(WIRE_DESTINATION)

    [outcome] = route.submit_batch([message(want_receipt=True)])

    assert wait_until(lambda: len(receipts) == 1)
    assert receipts.items == [
        Receipt(provider_message_id=outcome.provider_message_ids[0], state="failed", error="UNDELIV")
    ]


def test_receipt_handler_error_is_logged_and_later_receipts_still_arrive(smsc, make_route, caplog):
    delivered: list[Receipt] = []

    def handler(receipt: Receipt) -> None:
        if not delivered:
            delivered.append(receipt)
            raise RuntimeError("database is down")
        delivered.append(receipt)

    route = make_route(on_receipt=handler)

    with caplog.at_level(logging.ERROR, logger="sms.providers.smpp"):
        route.submit_batch([message(1, want_receipt=True)])
        assert wait_until(lambda: len(delivered) == 1)
        route.submit_batch([message(2, want_receipt=True)])
        assert wait_until(lambda: len(delivered) == 2)

    assert [r.state for r in delivered] == ["delivered", "delivered"]
    assert "receipt handler failed" in caplog.text


def test_invalid_destination_is_a_permanent_error_and_not_recorded(smsc, make_route):
    route = make_route()
    smsc.reject(WIRE_DESTINATION, ESME_RINVDSTADR)

    [outcome] = route.submit_batch([message()])

    assert isinstance(outcome, PermanentSmsError)
    assert str(outcome) == "ESME_RINVDSTADR"
    assert smsc.received == []


def test_system_error_is_a_transient_error(smsc, make_route):
    route = make_route()
    smsc.reject(WIRE_DESTINATION, ESME_RSYSERR)

    [outcome] = route.submit_batch([message()])

    assert type(outcome) is TransientSmsError
    assert str(outcome) == "ESME_RSYSERR"


def test_one_rejected_message_does_not_fail_the_rest_of_the_batch(smsc, make_route):
    route = make_route()
    smsc.reject("22890000002", ESME_RINVDSTADR)

    outcomes = route.submit_batch([message(i, destination=f"+2289000000{i}") for i in (1, 2, 3)])

    assert [type(o) for o in outcomes] == [SubmitResult, PermanentSmsError, SubmitResult]
    assert sorted(r.destination for r in smsc.received) == ["22890000001", "22890000003"]


def test_throttled_submits_fail_as_throttled_then_succeed_after_backoff(smsc, make_route):
    route = make_route(window=10)
    smsc.throttle_after(5)
    batch = [message(i) for i in range(10)]

    first = route.submit_batch(batch)
    retry = [m for m, outcome in zip(batch, first, strict=True) if isinstance(outcome, ThrottledError)]
    started = time.monotonic()
    second = route.submit_batch(retry)
    waited = time.monotonic() - started

    # smpp34 may put concurrent submits on the wire in any order: count, don't index.
    assert sorted(type(o).__name__ for o in first) == ["SubmitResult"] * 5 + ["ThrottledError"] * 5
    assert {str(o) for o in first if isinstance(o, ThrottledError)} == {"ESME_RTHROTTLED"}
    assert [type(o) for o in second] == [SubmitResult] * 5
    assert len(smsc.received) == 10
    assert waited >= 0.5  # the route paused before trying again


def test_connection_dropped_mid_batch_reconnects_and_reports_only_what_the_smsc_took(smsc, make_route):
    route = make_route(window=5)
    route.submit_batch([message(0)])
    smsc.drop_after(20)  # the 20th submit from now kills every bind, unanswered

    outcomes = route.submit_batch([message(i) for i in range(1, 51)])

    sent_ids = {i for o in outcomes if isinstance(o, SubmitResult) for i in o.provider_message_ids}
    failed = [o for o in outcomes if not isinstance(o, SubmitResult)]
    assert all(type(o) is TransientSmsError for o in failed)
    assert len(failed) >= 31  # the 20th and everything after it
    assert sent_ids <= {r.message_id for r in smsc.received}

    after = route.submit_batch([message(i) for i in range(51, 61)])

    assert [type(o) for o in after] == [SubmitResult] * 10
    assert smsc.binds == 2


def test_dropped_bind_is_restored_without_waiting_for_traffic(smsc, make_route):
    route = make_route()
    route.submit_batch([message(1)])

    smsc.drop_connections()

    assert wait_until(lambda: smsc.binds == 2)


def test_bind_is_kept_across_batches(smsc, make_route):
    route = make_route()

    route.submit_batch([message(1)])
    route.submit_batch([message(2)])

    assert smsc.binds == 1
    assert len(smsc.received) == 2


def test_wrong_password_raises_transient_error_from_submit_batch(smsc, make_route):
    route = make_route(password="wrong", timeout=1.0)

    with pytest.raises(TransientSmsError, match="bind"):
        route.submit_batch([message()])

    assert smsc.refused_binds == 1
    assert smsc.received == []


def test_unreachable_smsc_raises_transient_error_from_submit_batch(make_route):
    with FakeSmsc() as gone:
        port = gone.port
    route = make_route(port=port, timeout=1.0)

    with pytest.raises(TransientSmsError, match="Connection refused"):
        route.submit_batch([message()])


def test_window_bounds_outstanding_submits(smsc, make_route):
    smsc.response_delay = 0.02
    route = make_route(window=4)

    outcomes = route.submit_batch([message(i) for i in range(40)])

    assert all(isinstance(o, SubmitResult) for o in outcomes)
    assert smsc.max_outstanding == 4


def test_tps_limits_parts_per_second(smsc, make_route):
    route = make_route(tps=100, window=10)
    route.submit_batch([message(0)])  # bind outside the measurement

    started = time.monotonic()
    outcomes = route.submit_batch([message(i) for i in range(1, 51)])
    elapsed = time.monotonic() - started

    assert all(isinstance(o, SubmitResult) for o in outcomes)
    assert elapsed >= 0.4


def test_from_url_reads_credentials_and_address():
    route = SmppRoute.from_url("smpp://acme%40tg:p%3Ass@smsc.example.net:2776?window=20&tps=50", timeout=3.0)

    assert (route.host, route.port, route.system_id) == ("smsc.example.net", 2776, "acme@tg")
    assert (route.window, route.tps, route.timeout, route.tls) == (20, 50.0, 3.0, False)
    assert route._password == "p:ss"


def test_receipt_without_tlvs_takes_the_id_from_the_text():
    text = b"id:7f3a sub:001 dlvrd:000 submit date:2501011200 done date:2501011201 stat:EXPIRED err:027 text:Hi"

    assert parse_receipt(text, []) == Receipt(provider_message_id="7f3a", state="failed", error="EXPIRED")


def test_receipt_state_falls_back_to_the_message_state_tlv():
    tlvs = [smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, b"abc\x00"), smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, b"\x06")]

    assert parse_receipt(b"", tlvs) == Receipt(provider_message_id="abc", state="sent")


def test_raw_submit_rate_measures_the_client_alone(smsc):
    rate = raw_submit_rate(smsc.host, smsc.port, smsc.system_id, smsc.password, n=200, window=10)

    assert rate > 0
    assert smsc.received_count == 200


def test_raw_submit_rate_with_receipts_asks_for_and_acknowledges_each(smsc):
    rate = raw_submit_rate(smsc.host, smsc.port, smsc.system_id, smsc.password, n=200, window=10, receipts=True)

    assert rate > 0
    assert smsc.received_count == 200
    assert {r.registered_delivery for r in smsc.received} == {1}
    assert len(smsc.receipts) == 200  # each deliver_sm answered by the client


def test_binding_keeps_this_processs_file_locks(tmp_path, smsc, make_route):
    """Setting TCP_NODELAY walks this process's descriptors; it must not close a duplicate of
    a file's, which drops this process's POSIX locks on that file (SQLite's locks)."""
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        route = make_route()
        route.submit_batch([message()])  # binds: TCP_NODELAY is set here
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; sqlite3.connect(sys.argv[1], timeout=0).execute('BEGIN EXCLUSIVE')",
                str(path),
            ],
            capture_output=True,
            text=True,
        )
    finally:
        holder.close()
    assert other.returncode != 0
    assert "database is locked" in other.stderr
