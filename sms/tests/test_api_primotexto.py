"""Primotexto dialect: notification send (POST and GET forms), status, stats, unsubscribers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from notifications.core.status import DeliveryStatus
from sms.models import BlacklistedNumber, SenderName, SenderStatus, SmsMessage, SmsRecipient, SmsState
from sms.services import BLACKLISTED
from softafrik.dialects.primotexto import UnixMillisField

pytestmark = pytest.mark.django_db

SEND = "/v2/notification/messages/send"
STATS = "/v2/notification/messages/stats"
UNSUBSCRIBERS = "/v2/unsubscribers/default/contacts"
NUMBER = "+22890123456"
OTHER_NUMBER = "+22891234567"


@pytest.fixture(autouse=True)
def _sms_ready(sender, log_route):
    """An approved default sender ("SoftAfrik") for the owner, and a LOG route."""


def pt(tenant_client, method: str, path: str, data=None, **headers):
    call = getattr(tenant_client.client, method)
    headers = {"X-Primotexto-ApiKey": tenant_client.key, **headers}
    if method in ("post", "put"):
        return call(path, data, format="json", headers=headers)
    return call(path, data, headers=headers)


def send(tenant_client, **fields):
    return pt(tenant_client, "post", SEND, {"number": NUMBER, "message": "Code de confirmation: 283951", **fields})


def test_send_returns_credits_used_and_snapshot_id(owner):
    response = send(owner, sender="SoftAfrik", campaignName="Code de confirmation", category="codeConfirmation")

    assert response.status_code == 200
    message = SmsMessage.objects.get()
    assert response.json() == {"creditsUsed": 1.0, "snapshotId": str(message.pk)}
    assert (message.dialect, message.kind, message.sender) == ("primotexto", "single", "SoftAfrik")
    assert (message.campaign_name, message.category, message.credits) == ("Code de confirmation", "codeConfirmation", 1)
    assert list(SmsRecipient.objects.values_list("number", "status")) == [(NUMBER, DeliveryStatus.PENDING)]


def test_161_gsm_characters_use_two_credits(owner):
    response = send(owner, message="a" * 161)

    assert response.status_code == 200
    assert response.json()["creditsUsed"] == 2.0
    assert SmsMessage.objects.get().parts == 2


def test_national_number_is_read_in_the_tenant_region(owner):
    response = send(owner, number="90123456")

    assert response.status_code == 200
    assert SmsRecipient.objects.get().number == NUMBER


def test_get_form_sends_with_the_api_key_in_the_query(owner):
    params = {"apiKey": owner.key, "identifier": NUMBER, "sender": "SoftAfrik", "message": "Votre code: 4821"}
    response = owner.client.get(SEND, params)

    assert response.status_code == 200
    message = SmsMessage.objects.get()
    assert response.json() == {"creditsUsed": 1.0, "snapshotId": str(message.pk)}
    assert (message.text, message.tenant_id) == ("Votre code: 4821", owner.tenant.pk)


def test_api_key_in_the_query_is_refused_for_the_post_form(owner):
    response = owner.client.post(f"{SEND}?apiKey={owner.key}", {"number": NUMBER, "message": "x"}, format="json")

    assert response.status_code == 401
    assert SmsMessage.objects.count() == 0


def test_future_date_schedules_the_send_at_that_millisecond(owner):
    date = (timezone.now() + timedelta(days=1)).replace(microsecond=123000)
    millis = int(date.timestamp()) * 1000 + 123

    response = send(owner, date=millis)

    assert response.status_code == 200
    message = SmsMessage.objects.get()
    assert message.state == SmsState.SCHEDULED
    assert message.scheduled_at == date
    assert SmsRecipient.objects.get().next_attempt_at == date


def test_past_date_sends_now(owner):
    response = send(owner, date=1398177000000)  # Tue, 22 Apr 2014 14:30:00 GMT

    assert response.status_code == 200
    message = SmsMessage.objects.get()
    assert (message.state, message.scheduled_at) == (SmsState.ACTIVE, None)


def test_date_that_is_not_a_timestamp_is_400_naming_date(owner):
    response = send(owner, date="tomorrow")

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("date", 61)
    assert SmsMessage.objects.count() == 0


def test_invalid_number_is_400_naming_number(owner):
    response = send(owner, number="12345")

    assert response.status_code == 400
    body = response.json()
    assert (body["field"], body["code"]) == ("number", 11)
    assert body["message"] == "Invalid number '12345': not a valid number for region TG."
    assert SmsMessage.objects.count() == 0


def test_get_form_invalid_number_is_400_naming_identifier(owner):
    response = owner.client.get(SEND, {"apiKey": owner.key, "identifier": "12345", "message": "x"})

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("identifier", 11)
    assert SmsMessage.objects.count() == 0


def test_missing_message_is_400_naming_message(owner):
    response = pt(owner, "post", SEND, {"number": NUMBER})

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("message", 30)
    assert SmsMessage.objects.count() == 0


def test_text_over_the_parts_limit_is_400_naming_message(owner, settings):
    settings.SMS_MAX_PARTS = 2

    response = send(owner, message="a" * 307)  # 3 GSM parts of 153

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("message", 32)
    assert SmsMessage.objects.count() == 0


def test_unapproved_sender_is_400_naming_sender(owner):
    response = send(owner, sender="Unknown")

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("sender", 20)
    assert SmsMessage.objects.count() == 0


def test_wrong_key_is_401_and_sends_nothing(owner):
    headers = {"X-Primotexto-ApiKey": "sk_wrong_key"}
    response = owner.client.post(SEND, {"number": NUMBER, "message": "x"}, format="json", headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == 72
    assert SmsMessage.objects.count() == 0


def test_status_lists_each_number_with_its_status(owner):
    snapshot_id = send(owner).json()["snapshotId"]
    SmsRecipient.objects.update(status=DeliveryStatus.DELIVERED)

    response = pt(owner, "get", f"/v2/notification/messages/{snapshot_id}/status")

    assert response.status_code == 200
    assert response.json() == {
        "snapshotId": snapshot_id,
        "status": "delivered",
        "recipients": [{"number": NUMBER, "status": "delivered", "reason": None}],
    }


def test_status_of_another_tenants_snapshot_is_404(owner, outsider):
    snapshot_id = send(owner).json()["snapshotId"]

    response = pt(outsider, "get", f"/v2/notification/messages/{snapshot_id}/status")

    assert response.status_code == 404
    assert response.json()["field"] == "snapshotId"


def test_stats_count_numbers_per_status_by_category(owner):
    for number in (NUMBER, OTHER_NUMBER, "+2250701020304"):
        send(owner, number=number, category="otp")
    send(owner, category="alerts")
    SmsRecipient.objects.filter(number=NUMBER).update(status=DeliveryStatus.DELIVERED)
    SmsRecipient.objects.filter(number=OTHER_NUMBER).update(status=DeliveryStatus.FAILED, error="expired")
    SmsRecipient.objects.filter(number="+2250701020304").update(status=DeliveryStatus.SENT)

    response = pt(owner, "get", STATS, {"category": "otp"})

    assert response.status_code == 200
    assert response.json() == [
        {"category": "otp", "credits": 3, "pending": 0, "sent": 1, "failed": 1, "delivered": 1},
    ]


def test_stats_without_filters_cover_every_category(owner):
    send(owner, category="otp", campaignName="login")
    send(owner, category="alerts")

    response = pt(owner, "get", STATS)

    assert response.json() == [
        {"category": "alerts", "credits": 1, "pending": 1, "sent": 0, "failed": 0, "delivered": 0},
        {"category": "otp", "credits": 1, "pending": 1, "sent": 0, "failed": 0, "delivered": 0},
    ]
    assert [row["category"] for row in pt(owner, "get", STATS, {"campaignName": "login"}).json()] == ["otp"]


def test_unsubscriber_is_added_and_listed(owner):
    added = pt(owner, "post", UNSUBSCRIBERS, {"identifier": "90123456"})

    assert added.status_code == 200
    assert added.json() == {"id": NUMBER, "identifier": NUMBER}
    assert pt(owner, "get", UNSUBSCRIBERS).json() == [{"identifier": NUMBER}]


def test_invalid_unsubscriber_is_400_naming_identifier(owner):
    response = pt(owner, "post", UNSUBSCRIBERS, {"identifier": "12345"})

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("identifier", 11)
    assert BlacklistedNumber.objects.count() == 0


def test_unsubscriber_is_deleted(owner):
    pt(owner, "post", UNSUBSCRIBERS, {"identifier": NUMBER})

    response = pt(owner, "delete", f"{UNSUBSCRIBERS}?identifier=%2B22890123456")

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert BlacklistedNumber.objects.count() == 0


def test_deleting_a_number_not_unsubscribed_is_404(owner):
    response = pt(owner, "delete", f"{UNSUBSCRIBERS}?identifier=%2B22890123456")

    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "This number is not blacklisted.",
        "field": "identifier",
        "fields": {"identifier": ["This number is not blacklisted."]},
    }


def test_send_to_an_unsubscriber_uses_no_credit_and_fails(owner):
    pt(owner, "post", UNSUBSCRIBERS, {"identifier": NUMBER})

    response = send(owner)

    assert response.status_code == 200
    assert response.json()["creditsUsed"] == 0.0
    status = pt(owner, "get", f"/v2/notification/messages/{response.json()['snapshotId']}/status").json()
    assert status["status"] == "failed"
    assert status["recipients"] == [{"number": NUMBER, "status": "failed", "reason": BLACKLISTED}]


def test_outsider_neither_sees_nor_deletes_the_owners_unsubscribers(owner, outsider):
    pt(owner, "post", UNSUBSCRIBERS, {"identifier": NUMBER})

    assert pt(outsider, "get", UNSUBSCRIBERS).json() == []
    assert pt(outsider, "delete", f"{UNSUBSCRIBERS}?identifier=%2B22890123456").status_code == 404
    assert list(BlacklistedNumber.objects.values_list("tenant_id", "number")) == [(owner.tenant.pk, NUMBER)]


def test_unix_millis_are_read_as_utc():
    assert UnixMillisField().run_validation(1398177000000) == datetime(2014, 4, 22, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize("field", ["number", "message", "sender", "campaignName", "category", "date"])
@pytest.mark.parametrize("value", [[], {}, {"a": {}}, [NUMBER]])
def test_field_of_the_wrong_json_type_is_400_naming_it(owner, field, value):
    response = send(owner, **{field: value})

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert SmsMessage.objects.count() == 0


@pytest.mark.parametrize("field", ["number", "message", "sender", "campaignName", "category"])
def test_null_where_a_string_is_expected_is_400_naming_it(owner, field):
    response = send(owner, **{field: None})

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == (field, f"{field}: This field may not be null.")
    assert SmsMessage.objects.count() == 0


@pytest.mark.parametrize("value", [None, [], {}, [NUMBER]])
def test_unsubscriber_identifier_of_the_wrong_json_type_is_400_naming_it(owner, value):
    response = pt(owner, "post", UNSUBSCRIBERS, {"identifier": value})

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("identifier", 10 if value is None else 11)
    assert BlacklistedNumber.objects.count() == 0


# --- Primotexto's documented examples, verbatim (primotexto-notification-sms-api.txt) ----

# The curl example's -d body, character for character.
DOC_CURL_BODY = (
    '{"number":"+33600000000","message":"Code de confirmation: 283951","sender":"YourCompany",'
    '"campaignName":"Code de confirmation","category":"codeConfirmation","date": 1398177000000}'
)


def documented(tenant_client, body: str):
    headers = {"X-Primotexto-ApiKey": tenant_client.key}
    return tenant_client.client.post(SEND, body, content_type="application/json", headers=headers)


def approve(tenant_client, name: str) -> None:
    SenderName.objects.create(tenant=tenant_client.tenant, name=name, status=SenderStatus.APPROVED)


def test_documented_curl_example_answers_the_documented_shape(owner):
    approve(owner, "YourCompany")

    response = documented(owner, DOC_CURL_BODY)

    assert response.status_code == 200
    message = SmsMessage.objects.get()
    assert response.json() == {"creditsUsed": 1.0, "snapshotId": str(message.pk)}
    assert (message.sender, message.text) == ("YourCompany", "Code de confirmation: 283951")
    assert (message.campaign_name, message.category) == ("Code de confirmation", "codeConfirmation")
    assert (message.state, message.scheduled_at) == (SmsState.ACTIVE, None)  # 22 Apr 2014: in the past, so now
    assert list(SmsRecipient.objects.values_list("number", flat=True)) == ["+33600000000"]


def test_documented_example_sender_not_approved_is_400_code_20_and_sends_nothing(owner):
    response = documented(owner, DOC_CURL_BODY)

    assert response.status_code == 400
    assert response.json() == {
        "code": 20,
        "error": "sender_not_approved",
        "message": "Sender 'YourCompany' is not approved for this account.",
        "field": "sender",
        "fields": {"sender": ["Sender 'YourCompany' is not approved for this account."]},
    }
    assert SmsMessage.objects.count() == 0


def test_sender_over_11_characters_is_400_code_20_saying_the_limit(owner):
    response = send(owner, sender="YourCompany1")

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == (20, "sender")
    assert body["message"] == "Invalid sender: sender too long (max 11 characters)."
    assert SmsMessage.objects.count() == 0


# The other bodies the document shows, verbatim: the DATA block, the Python and Perl
# strings, the Ruby heredoc and the Node object (identifier and tag), and WinDev's string
# (its [ ] delimit a multi-line string in WLangage, they are not a JSON array).
DOC_BODIES = {
    "data": '{ "number": "+33600000000", "message": "Code de confirmation: 283951", "sender": "YourCompany", '
    '"campaignName": "Code de confirmation", "category": "codeConfirmation", "date": 1398177000000 }',
    "python_perl": '{"number": "+33600000000", "message": "Code de confirmation: 283951", "sender": "YourCompany", '
    '"campaignName": "Code de confirmation", "category": "codeConfirmation", "date": 1398177000000 }',
    "ruby": '{ "identifier": "+33600000000", "message": "Code de confirmation: 283951", '
    '"campaignName":"Code de confirmation", "tag":"codeConfirmation", "sender":"YourCompany", "date": 1398177000000 }',
    "node": '{ "identifier": "+33600000000", "message": "Code de confirmation: 283951", "sender": "YourCompany", '
    '"campaignName": "Code de confirmation", "tag": "codeConfirmation", "date": 1398177000000 }',
    "windev": '{ "message": "Code de confirmation: 283951", "number": "+33600000000", "sender": "YourCompany", '
    '"campaignName": "Code de confirmation", "category": "codeConfirmation", "date": 1398177000000 }',
}


@pytest.mark.parametrize("example", list(DOC_BODIES))
def test_every_documented_body_sends_the_same_sms(owner, example):
    approve(owner, "YourCompany")

    response = documented(owner, DOC_BODIES[example])

    assert response.status_code == 200
    message = SmsMessage.objects.get()
    assert response.json() == {"creditsUsed": 1.0, "snapshotId": str(message.pk)}
    assert (message.sender, message.text, message.campaign_name, message.category) == (
        "YourCompany",
        "Code de confirmation: 283951",
        "Code de confirmation",
        "codeConfirmation",
    )
    assert list(SmsRecipient.objects.values_list("number", flat=True)) == ["+33600000000"]


def test_documented_get_form_sends_with_its_query_string(owner):
    # The document's URL, "?&apiKey=...&identifier=...&sender=...&message=...", filled in.
    approve(owner, "YourCompany")
    query = f"?&apiKey={owner.key}&identifier=%2B33600000000&sender=YourCompany&message=Code%20de%20confirmation%3A%20283951"

    response = owner.client.get(SEND + query)

    assert response.status_code == 200
    message = SmsMessage.objects.get()
    assert response.json() == {"creditsUsed": 1.0, "snapshotId": str(message.pk)}
    assert (message.sender, message.text) == ("YourCompany", "Code de confirmation: 283951")
    assert list(SmsRecipient.objects.values_list("number", flat=True)) == ["+33600000000"]


def test_get_form_takes_number_and_tag_too(owner):
    params = {"apiKey": owner.key, "number": NUMBER, "message": "Votre code: 4821", "tag": "otp"}

    response = owner.client.get(SEND, params)

    assert response.status_code == 200
    message = SmsMessage.objects.get()
    assert (message.category, list(SmsRecipient.objects.values_list("number", flat=True))) == ("otp", [NUMBER])


def test_invalid_identifier_in_the_json_is_400_naming_identifier(owner):
    response = pt(owner, "post", SEND, {"identifier": "12345", "message": "x"})

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == (11, "identifier")
    assert body["message"] == "Invalid number '12345': not a valid number for region TG."
    assert SmsMessage.objects.count() == 0


def test_invalid_number_in_the_get_form_is_400_naming_number(owner):
    response = owner.client.get(SEND, {"apiKey": owner.key, "number": "12345", "message": "x"})

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == (11, "number")
    assert SmsMessage.objects.count() == 0


def test_neither_number_nor_identifier_is_400_code_10_naming_the_forms_own_spelling(owner):
    posted = pt(owner, "post", SEND, {"message": "x"})
    got = owner.client.get(SEND, {"apiKey": owner.key, "message": "x"})

    assert posted.status_code == got.status_code == 400
    assert posted.json() == {
        "code": 10,
        "error": "invalid",
        "message": "number: This field is required.",
        "field": "number",
        "fields": {"number": ["This field is required."]},
    }
    assert (got.json()["code"], got.json()["field"]) == (10, "identifier")
    assert SmsMessage.objects.count() == 0


def test_number_and_identifier_that_agree_are_one_number(owner):
    response = send(owner, identifier=NUMBER)

    assert response.status_code == 200
    assert list(SmsRecipient.objects.values_list("number", flat=True)) == [NUMBER]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"number": NUMBER, "identifier": OTHER_NUMBER}, "identifier"),
        ({"category": "otp", "tag": "alerts"}, "tag"),
    ],
)
def test_two_spellings_that_differ_are_400_naming_the_second(owner, fields, named):
    response = pt(owner, "post", SEND, {"number": NUMBER, "message": "x", **fields})

    assert response.status_code == 400
    assert response.json()["field"] == named
    assert SmsMessage.objects.count() == 0


@pytest.mark.parametrize("field", ["identifier", "tag"])
@pytest.mark.parametrize("value", [None, [], {}, [NUMBER]])
def test_the_other_spellings_of_the_wrong_json_type_are_400_naming_them(owner, field, value):
    body = {"message": "x", field: value} if field == "identifier" else {"number": NUMBER, "message": "x", field: value}

    response = pt(owner, "post", SEND, body)

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert SmsMessage.objects.count() == 0


def test_stats_filter_by_tag_as_by_category(owner):
    send(owner, category="otp")
    send(owner, tag="alerts")

    by_tag = pt(owner, "get", STATS, {"tag": "otp"})

    assert by_tag.status_code == 200
    assert by_tag.json() == [{"category": "otp", "credits": 1, "pending": 1, "sent": 0, "failed": 0, "delivered": 0}]
    assert [row["category"] for row in pt(owner, "get", STATS, {"category": "alerts"}).json()] == ["alerts"]


def test_stats_with_category_and_tag_that_differ_is_400_naming_tag(owner):
    response = pt(owner, "get", STATS, {"category": "otp", "tag": "alerts"})

    assert response.status_code == 400
    assert response.json()["field"] == "tag"


def test_unsubscriber_may_be_given_as_number(owner):
    added = pt(owner, "post", UNSUBSCRIBERS, {"number": "90123456"})
    invalid = pt(owner, "post", UNSUBSCRIBERS, {"number": "12345"})

    assert added.json() == {"id": NUMBER, "identifier": NUMBER}
    assert (invalid.status_code, invalid.json()["field"], invalid.json()["code"]) == (400, "number", 11)
    assert list(BlacklistedNumber.objects.values_list("number", flat=True)) == [NUMBER]
    assert pt(owner, "delete", f"{UNSUBSCRIBERS}?number=%2B22890123456").json() == {"success": True}
    assert BlacklistedNumber.objects.count() == 0


# --- Unknown paths and wrong methods: Primotexto's error body, never an HTML page -------


@pytest.mark.parametrize(
    "path", ["/v2/nope", "/v2/notification/messages/send/", "/v2/notification/messages/x/y/z", "/v2/"]
)
@pytest.mark.parametrize("method", ["get", "post", "put"])
def test_unknown_path_under_v2_is_primotextos_404(owner, path, method):
    response = pt(owner, method, path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "not_found", "message": "No such path."}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("put", SEND, "GET, POST, HEAD, OPTIONS"),
        ("delete", SEND, "GET, POST, HEAD, OPTIONS"),
        ("post", STATS, "GET, HEAD, OPTIONS"),
        ("delete", "/v2/notification/messages/{snapshot_id}/status", "GET, HEAD, OPTIONS"),
        ("put", UNSUBSCRIBERS, "GET, POST, DELETE, HEAD, OPTIONS"),
    ],
)
def test_wrong_method_on_a_primotexto_route_is_405_with_allow(owner, method, path, allow):
    snapshot_id = send(owner).json()["snapshotId"]

    response = pt(owner, method, path.format(snapshot_id=snapshot_id), {"number": OTHER_NUMBER, "message": "x"})

    assert response.status_code == 405
    assert response["Allow"] == allow
    assert response.json() == {"error": "method_not_allowed", "message": f'Method "{method.upper()}" not allowed.'}
    assert SmsMessage.objects.count() == 1


def test_outsider_gets_the_same_405_on_the_owners_status(owner, outsider):
    snapshot_id = send(owner).json()["snapshotId"]

    response = pt(outsider, "delete", f"/v2/notification/messages/{snapshot_id}/status")

    assert (response.status_code, response["Allow"]) == (405, "GET, HEAD, OPTIONS")
    assert SmsMessage.objects.count() == 1
