"""HTTP SMS routes against fake providers on loopback: real requests, real form posts."""

from __future__ import annotations

import logging
import socket

import pytest

from fakes.sms_http import CallbackRecorder, FakeAfricasTalking, FakeTwilio
from sms.encoding import encode_parts
from sms.providers import africastalking, twilio
from sms.providers.africastalking import AfricasTalkingRoute
from sms.providers.base import (
    PermanentSmsError,
    Receipt,
    SmsSubmit,
    SubmitResult,
    ThrottledError,
    TransientSmsError,
)
from sms.providers.log import LogRoute
from sms.providers.twilio import TwilioRoute, validate_signature

KE_1, KE_2, KE_3 = "+254711000001", "+254711000002", "+254711000003"
TG_1 = "+22890112233"
CALLBACK_PATH = "/sms/callbacks/twilio?tenant=7"


def sms(destination: str, text: str = "Your code is 481516", *, sender: str = "SoftAfrik", recipient_id: int = 1):
    return SmsSubmit(
        recipient_id=recipient_id,
        sender=sender,
        destination=destination,
        text=text,
        parts=tuple(encode_parts(text, reference=recipient_id)),
    )


def free_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def at_fake():
    with FakeAfricasTalking() as fake:
        yield fake


@pytest.fixture
def at_route(at_fake):
    route = AfricasTalkingRoute(username=at_fake.username, api_key=at_fake.api_key, base_url=at_fake.url, timeout=5.0)
    yield route
    route.close()


@pytest.fixture
def tw_fake():
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def recorder():
    with CallbackRecorder() as server:
        yield server


@pytest.fixture
def tw_route(tw_fake, recorder):
    route = TwilioRoute(
        account_sid=tw_fake.account_sid,
        auth_token=tw_fake.auth_token,
        base_url=tw_fake.url,
        status_callback_url=recorder.url + CALLBACK_PATH,
        timeout=5.0,
    )
    yield route
    route.close()


# -- Africa's Talking: sending ------------------------------------------------------------


def test_at_batch_of_three_returns_one_id_each_and_provider_got_exact_fields(at_fake, at_route):
    batch = [sms(KE_1, "Hello one"), sms(KE_2, "Hello two", sender="ACME"), sms(KE_3, "Habari tatu")]

    outcomes = at_route.submit_batch(batch)

    by_number = {received.to: received for received in at_fake.received}
    assert [type(o) for o in outcomes] == [SubmitResult] * 3
    assert [o.provider_message_ids for o in outcomes] == [(by_number[n].message_id,) for n in (KE_1, KE_2, KE_3)]
    assert sorted((r.to, r.sender, r.text) for r in at_fake.received) == [
        (KE_1, "SoftAfrik", "Hello one"),
        (KE_2, "ACME", "Hello two"),
        (KE_3, "SoftAfrik", "Habari tatu"),
    ]


def test_at_form_carries_username_and_bulk_mode(at_fake, at_route):
    at_route.submit_batch([sms(KE_1, "Hi")])

    assert at_fake.received[0].fields == {
        "username": at_fake.username,
        "to": KE_1,
        "message": "Hi",
        "from": "SoftAfrik",
        "bulkSMSMode": "1",
    }


def test_at_empty_sender_is_left_out_of_the_form(at_fake, at_route):
    at_route.submit_batch([sms(KE_1, "Hi", sender="")])

    assert "from" not in at_fake.received[0].fields
    assert at_fake.received[0].sender is None


def test_at_enqueue_option_is_sent(at_fake):
    route = AfricasTalkingRoute(username=at_fake.username, api_key=at_fake.api_key, base_url=at_fake.url, enqueue=True)
    try:
        route.submit_batch([sms(KE_1)])
    finally:
        route.close()

    assert at_fake.received[0].fields["enqueue"] == "1"


def test_at_invalid_phone_number_fails_only_that_message(at_fake, at_route):
    at_fake.fail_number(KE_2, "InvalidPhoneNumber")

    outcomes = at_route.submit_batch([sms(KE_1), sms(KE_2), sms(KE_3)])

    assert isinstance(outcomes[0], SubmitResult)
    assert type(outcomes[1]) is PermanentSmsError
    assert str(outcomes[1]) == "InvalidPhoneNumber"
    assert isinstance(outcomes[2], SubmitResult)
    assert sorted(r.to for r in at_fake.received) == [KE_1, KE_3]


@pytest.mark.parametrize(
    ("status_code", "reason"),
    [(401, "RiskHold"), (402, "InvalidSenderId"), (404, "UnsupportedNumberType"), (406, "UserInBlacklist"),
     (409, "DoNotDisturbRejection")],
)  # fmt: skip
def test_at_refused_recipient_statuses_are_permanent(at_fake, at_route, status_code, reason):
    at_fake.fail_number(KE_1, status_code)

    [outcome] = at_route.submit_batch([sms(KE_1)])

    assert type(outcome) is PermanentSmsError
    assert str(outcome) == reason


@pytest.mark.parametrize(
    ("status_code", "reason"),
    [(405, "InsufficientBalance"), (407, "CouldNotRoute"), (500, "InternalServerError"), (501, "GatewayError"),
     (502, "RejectedByGateway")],
)  # fmt: skip
def test_at_recipient_statuses_another_route_may_take_are_transient(at_fake, at_route, status_code, reason):
    at_fake.fail_number(KE_1, status_code)

    [outcome] = at_route.submit_batch([sms(KE_1)])

    assert type(outcome) is TransientSmsError
    assert str(outcome) == reason


def test_at_queued_status_is_accepted(at_fake, at_route):
    at_fake.fail_number(KE_1, 102)

    [outcome] = at_route.submit_batch([sms(KE_1)])

    assert outcome == SubmitResult(provider_message_ids=(at_fake.received[0].message_id,))


def test_at_unregistered_sender_id_is_permanent(at_fake, at_route):
    at_fake.sender_ids = {"SoftAfrik"}

    outcomes = at_route.submit_batch([sms(KE_1, sender="Unknown"), sms(KE_2)])

    assert type(outcomes[0]) is PermanentSmsError
    assert str(outcomes[0]) == "InvalidSenderId"
    assert isinstance(outcomes[1], SubmitResult)
    assert [r.to for r in at_fake.received] == [KE_2]


def test_at_bad_api_key_raises_route_error_and_sends_nothing(at_fake):
    route = AfricasTalkingRoute(username=at_fake.username, api_key="wrong", base_url=at_fake.url)
    try:
        with pytest.raises(TransientSmsError) as raised:
            route.submit_batch([sms(KE_1), sms(KE_2)])
    finally:
        route.close()

    assert type(raised.value) is TransientSmsError
    assert str(raised.value) == (
        "africastalking: authentication failed (HTTP 401: The supplied authentication is invalid)"
    )
    assert at_fake.received == []


def test_at_bad_username_raises_route_error(at_fake):
    route = AfricasTalkingRoute(username="someone-else", api_key=at_fake.api_key, base_url=at_fake.url)
    try:
        with pytest.raises(TransientSmsError, match="authentication failed"):
            route.submit_batch([sms(KE_1)])
    finally:
        route.close()


def test_at_refused_credentials_stop_the_rest_of_the_batch(at_fake):
    route = AfricasTalkingRoute(username=at_fake.username, api_key="wrong", base_url=at_fake.url, max_workers=4)
    try:
        with pytest.raises(TransientSmsError):
            route.submit_batch([sms(f"+2547110000{i:02d}") for i in range(40)])
    finally:
        route.close()

    # At most one request per worker was in flight before the first 401 came back.
    assert at_fake.request_count <= 4


def test_at_http_429_is_throttled(at_fake, at_route):
    at_fake.throttle(times=1)

    [outcome] = at_route.submit_batch([sms(KE_1)])

    assert type(outcome) is ThrottledError
    assert str(outcome) == "africastalking: throttled (HTTP 429, Retry-After 1)"
    assert at_fake.received == []


def test_at_http_503_is_transient(at_fake, at_route):
    at_fake.fail_http(503)

    [outcome] = at_route.submit_batch([sms(KE_1)])

    assert type(outcome) is TransientSmsError
    assert str(outcome) == "africastalking: HTTP 503"


def test_at_timeout_is_transient(at_fake):
    at_fake.delay = 1.0
    route = AfricasTalkingRoute(username=at_fake.username, api_key=at_fake.api_key, base_url=at_fake.url, timeout=0.2)
    try:
        [outcome] = route.submit_batch([sms(KE_1)])
    finally:
        route.close()

    assert type(outcome) is TransientSmsError
    assert str(outcome) == "africastalking: timeout waiting for the answer"


def test_at_unreachable_provider_raises_route_error():
    route = AfricasTalkingRoute(username="u", api_key="k", base_url=free_port_url(), timeout=2.0)
    try:
        with pytest.raises(TransientSmsError, match=r"^africastalking unreachable: "):
            route.submit_batch([sms(KE_1), sms(KE_2)])
    finally:
        route.close()


def test_at_batches_reuse_keep_alive_connections(at_fake):
    route = AfricasTalkingRoute(username=at_fake.username, api_key=at_fake.api_key, base_url=at_fake.url, max_workers=4)
    try:
        for _ in range(3):
            route.submit_batch([sms(f"+2547110000{i:02d}") for i in range(20)])
    finally:
        route.close()

    assert len(at_fake.received) == 60
    assert at_fake.connection_count <= 4


def test_at_empty_batch_sends_nothing(at_fake, at_route):
    assert at_route.submit_batch([]) == []
    assert at_fake.request_count == 0


# -- Africa's Talking: delivery reports ----------------------------------------------------


def at_report(at_fake, at_route, recorder, status: str, **kwargs) -> dict[str, str]:
    [result] = at_route.submit_batch([sms(KE_1)])
    message_id = result.provider_message_ids[0]
    assert at_fake.send_receipt(message_id, status, recorder.url + "/sms/callbacks/at", **kwargs) == 200
    return recorder.callbacks[-1].form


def test_at_success_report_is_delivered(at_fake, at_route, recorder):
    form = at_report(at_fake, at_route, recorder, "Success")

    assert africastalking.parse_callback(form) == Receipt(provider_message_id=form["id"], state="delivered")
    assert form["phoneNumber"] == KE_1


def test_at_failed_report_is_failed_with_reason(at_fake, at_route, recorder):
    form = at_report(at_fake, at_route, recorder, "Failed", failure_reason="UserInBlackList")

    assert africastalking.parse_callback(form) == Receipt(form["id"], "failed", "UserInBlackList")


def test_at_expired_report_without_reason_is_failed_with_status(at_fake, at_route, recorder):
    form = at_report(at_fake, at_route, recorder, "Expired")

    assert africastalking.parse_callback(form) == Receipt(form["id"], "failed", "Expired")


@pytest.mark.parametrize("status", ["Sent", "Submitted", "Buffered"])
def test_at_intermediate_report_is_sent(at_fake, at_route, recorder, status):
    form = at_report(at_fake, at_route, recorder, status)

    assert africastalking.parse_callback(form) == Receipt(form["id"], "sent")


def test_at_unknown_report_status_is_ignored():
    assert africastalking.parse_callback({"id": "ATXid_1", "status": "Teleported"}) is None
    assert africastalking.parse_callback({"status": "Success"}) is None


def test_at_report_parsing_accepts_list_values():
    form = {"id": ["ATXid_1"], "status": ["Rejected"], "failureReason": ["InsufficientCredit"]}

    assert africastalking.parse_callback(form) == Receipt("ATXid_1", "failed", "InsufficientCredit")


# -- Twilio: sending -------------------------------------------------------------------------


def test_twilio_success_returns_sid_and_records_to_from_body_status_callback(tw_fake, tw_route, recorder):
    [outcome] = tw_route.submit_batch([sms(TG_1, "Votre code: 481516")])

    [received] = tw_fake.received
    assert outcome == SubmitResult(provider_message_ids=(received.message_id,))
    assert received.message_id.startswith("SM")
    assert received.fields == {
        "To": TG_1,
        "From": "SoftAfrik",
        "Body": "Votre code: 481516",
        "StatusCallback": recorder.url + CALLBACK_PATH,
    }


def test_twilio_leaves_status_callback_out_when_no_receipt_is_wanted(tw_fake, tw_route):
    message = SmsSubmit(1, "SoftAfrik", TG_1, "Hi", tuple(encode_parts("Hi", 1)), want_receipt=False)

    tw_route.submit_batch([message])

    assert tw_fake.received[0].status_callback is None
    assert "StatusCallback" not in tw_fake.received[0].fields


def test_twilio_messaging_service_sender_is_sent_as_messaging_service_sid(tw_fake, tw_route):
    service = "MG" + "a" * 32

    [outcome] = tw_route.submit_batch([sms(TG_1, sender=service)])

    assert isinstance(outcome, SubmitResult)
    assert tw_fake.received[0].fields["MessagingServiceSid"] == service
    assert "From" not in tw_fake.received[0].fields


def test_twilio_invalid_to_21211_is_permanent(tw_fake, tw_route):
    outcomes = tw_route.submit_batch([sms("+123"), sms(TG_1)])

    assert type(outcomes[0]) is PermanentSmsError
    assert str(outcomes[0]) == "twilio 21211: The 'To' number +123 is not a valid phone number."
    assert isinstance(outcomes[1], SubmitResult)
    assert [r.to for r in tw_fake.received] == [TG_1]


@pytest.mark.parametrize("code", [21610, 21614, 21212])
def test_twilio_refusals_for_the_message_are_permanent(tw_fake, tw_route, code):
    tw_fake.fail_number(TG_1, code)

    [outcome] = tw_route.submit_batch([sms(TG_1)])

    assert type(outcome) is PermanentSmsError
    assert str(outcome).startswith(f"twilio {code}: ")


@pytest.mark.parametrize("code", [21408, 21612])
def test_twilio_unreachable_region_is_transient_for_route_fallback(tw_fake, tw_route, code):
    tw_fake.fail_number(TG_1, code)

    [outcome] = tw_route.submit_batch([sms(TG_1)])

    assert type(outcome) is TransientSmsError
    assert str(outcome).startswith(f"twilio {code}: ")


def test_twilio_bad_auth_token_raises_route_error(tw_fake):
    route = TwilioRoute(account_sid=tw_fake.account_sid, auth_token="wrong", base_url=tw_fake.url)
    try:
        with pytest.raises(TransientSmsError) as raised:
            route.submit_batch([sms(TG_1)])
    finally:
        route.close()

    assert type(raised.value) is TransientSmsError
    assert str(raised.value) == "twilio: authentication failed (twilio 20003: Authenticate)"
    assert tw_fake.received == []


def test_twilio_http_429_is_throttled(tw_fake, tw_route):
    tw_fake.throttle(times=1)

    outcomes = tw_route.submit_batch([sms(TG_1)])

    assert [type(o) for o in outcomes] == [ThrottledError]
    assert str(outcomes[0]) == "twilio 20429: Too Many Requests"
    assert tw_fake.received == []


def test_twilio_sender_queue_full_21611_is_throttled(tw_fake, tw_route):
    tw_fake.fail_number(TG_1, 21611, times=1)

    outcomes = tw_route.submit_batch([sms(TG_1), sms(TG_1)])

    # The two messages race; whichever reaches the fake first meets the full queue.
    assert sorted(type(o).__name__ for o in outcomes) == ["SubmitResult", "ThrottledError"]
    assert len(tw_fake.received) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_twilio_server_errors_are_transient(tw_fake, tw_route, status):
    tw_fake.fail_number(TG_1, status)

    [outcome] = tw_route.submit_batch([sms(TG_1)])

    assert type(outcome) is TransientSmsError


def test_twilio_unreachable_provider_raises_route_error():
    route = TwilioRoute(account_sid="AC" + "0" * 32, auth_token="t", base_url=free_port_url(), timeout=2.0)
    try:
        with pytest.raises(TransientSmsError, match=r"^twilio unreachable: "):
            route.submit_batch([sms(TG_1)])
    finally:
        route.close()


# -- Twilio: status callbacks and their signature --------------------------------------------


def twilio_callback(tw_fake, tw_route, recorder, status: str, **kwargs):
    [result] = tw_route.submit_batch([sms(TG_1)])
    sid = result.provider_message_ids[0]
    assert tw_fake.send_receipt(sid, status, recorder.url + CALLBACK_PATH, **kwargs) == 200
    return recorder.callbacks[-1]


def test_twilio_delivered_callback_is_delivered(tw_fake, tw_route, recorder):
    callback = twilio_callback(tw_fake, tw_route, recorder, "delivered")

    assert twilio.parse_callback(callback.form) == Receipt(callback.form["MessageSid"], "delivered")
    assert callback.form["To"] == TG_1


def test_twilio_undelivered_callback_is_failed_with_error_code(tw_fake, tw_route, recorder):
    callback = twilio_callback(tw_fake, tw_route, recorder, "undelivered", error_code=30003)

    assert twilio.parse_callback(callback.form) == Receipt(callback.form["MessageSid"], "failed", "30003")


def test_twilio_failed_callback_without_error_code_keeps_status():
    assert twilio.parse_callback({"MessageSid": "SM1", "MessageStatus": "failed"}) == Receipt("SM1", "failed", "failed")


@pytest.mark.parametrize("status", ["queued", "sending", "sent"])
def test_twilio_intermediate_callback_is_sent(tw_fake, tw_route, recorder, status):
    callback = twilio_callback(tw_fake, tw_route, recorder, status)

    assert twilio.parse_callback(callback.form) == Receipt(callback.form["MessageSid"], "sent")


def test_twilio_inbound_or_unknown_callback_is_ignored():
    assert twilio.parse_callback({"MessageSid": "SM1", "SmsStatus": "received"}) is None
    assert twilio.parse_callback({"MessageStatus": "delivered"}) is None


def test_twilio_signature_of_fake_callback_is_accepted(tw_fake, tw_route, recorder):
    callback = twilio_callback(tw_fake, tw_route, recorder, "delivered")

    url = recorder.url + callback.path
    assert validate_signature(tw_fake.auth_token, url, callback.form, callback.headers["x-twilio-signature"])


def test_twilio_tampered_callback_is_rejected(tw_fake, tw_route, recorder):
    callback = twilio_callback(tw_fake, tw_route, recorder, "undelivered")
    url = recorder.url + callback.path
    signature = callback.headers["x-twilio-signature"]

    assert not validate_signature(tw_fake.auth_token, url, callback.form | {"MessageStatus": "delivered"}, signature)
    assert not validate_signature(tw_fake.auth_token, url.replace("tenant=7", "tenant=8"), callback.form, signature)
    assert not validate_signature("another-token", url, callback.form, signature)
    assert not validate_signature(tw_fake.auth_token, url, callback.form, "")


# Twilio's published vector (twilio-csharp / twilio-php RequestValidatorTest).
VECTOR_TOKEN = "12345"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (VECTOR_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # port removed
        (VECTOR_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # :443 added
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # :80 added
        ("https://MyCompany.com/myapp.php?foo=1&bar=2", "g9IN/x4Cft2g517EjYvEvM/W7LU="),  # host case kept
        ("http://username:password@MyCompany.com/myapp.php?foo=1&bar=2", "PJ08CxXr7KLPjEQCTc8LkUSMwSM="),
    ],
)
def test_twilio_signature_matches_published_vectors(url, signature):
    assert validate_signature(VECTOR_TOKEN, url, VECTOR_PARAMS, signature)


def test_twilio_signature_does_not_ignore_host_case():
    assert not validate_signature(
        VECTOR_TOKEN, "https://MyCompany.com/myapp.php?foo=1&bar=2", VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


# -- Log route ---------------------------------------------------------------------------------


def test_log_route_returns_one_id_per_part(caplog):
    route = LogRoute()
    message = sms(TG_1, "x" * 400)  # GSM-7, 153 per concatenated part: 3 parts

    with caplog.at_level(logging.INFO, logger="softafrik.sms.log_route"):
        [outcome] = route.submit_batch([message])

    assert len(message.parts) == 3
    assert len(outcome.provider_message_ids) == 3
    assert len(set(outcome.provider_message_ids)) == 3
    assert all(i.startswith("log-") for i in outcome.provider_message_ids)
    assert list(route.sent) == [message]
    assert len(caplog.records) == 1
    assert TG_1 in caplog.records[0].getMessage()


def test_log_route_keeps_only_the_latest_messages():
    route = LogRoute(keep=2)

    route.submit_batch([sms(KE_1), sms(KE_2), sms(KE_3)])

    assert [m.destination for m in route.sent] == [KE_2, KE_3]
