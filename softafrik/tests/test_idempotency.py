"""Idempotent sends (softafrik.idempotency): every sending request of every dialect takes
an ``Idempotency-Key``; the same request again answers the first answer, sending and
charging nothing; another request with the key is a 422, one while the first is still
being processed a 409; keys are per tenant."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import IdempotentRequest
from accounts.tasks import idempotency_purge
from billing.models import BillingAccount
from billing.services import account_ensure
from devices.services import device_register, end_user_register
from notifications.models import Message
from notifications.tests.conftest import fake_apns, fake_fcm, fake_webpush, providers, push_app  # noqa: F401
from scenarios.models import OmniMessage
from sms import services as sms_services
from sms.models import SenderName, SenderStatus, SmsMessage
from sms.tests.conftest import _fresh_route_clients, log_route, sender  # noqa: F401
from softafrik import idempotency

pytestmark = pytest.mark.django_db

KEY = "order-4711-retry-safe"
TG = "+22890123456"
TG2 = "+22891234567"
TEXT = "Votre code SoftAfrik est 1234"
TOKEN = "fcm-" + "d" * 60
UID = "idem-device-1"
PART = 100  # one SMS part in minor units (BILLING_DEFAULT_SMS_CREDITS "1")
REUSED = "This Idempotency-Key was used for another request (body, method or path): use a new key."
IN_USE = "A request with this Idempotency-Key is still being processed; retry later."
PG_ONLY = pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrency: PostgreSQL")


@dataclass
class World:
    owner: object
    app: object
    puid: str


@pytest.fixture
def world(owner, sender, log_route, push_app, settings) -> World:  # noqa: F811
    """The owner's approved sender and LOG route, its app with one Android device of one
    user; a push delivery costs one credit, like an SMS part."""
    settings.BILLING_DEFAULT_PUSH_CREDITS = "1"
    user = end_user_register(tenant=owner.tenant, external_user_ref="idem-user", meta={})[0]
    device_register(
        tenant=owner.tenant,
        end_user=user,
        app=push_app,
        platform="android",
        device_token=TOKEN,
        device_uid=UID,
        country="TG",
    )
    account_ensure(tenant_id=owner.tenant.pk)
    return World(owner=owner, app=push_app, puid=user.puid)


AUTH = {
    "softafrik": lambda key: {"X-API-KEY": key},
    "ion": lambda key: {"X-API-Key": key},
    "primotexto": lambda key: {"X-Primotexto-ApiKey": key},
    "delevera": lambda key: {"Authorization": f"Bearer {key}"},
}


@dataclass(frozen=True)
class Send:
    """One sending operation: its request, how to count its sends, what it costs."""

    dialect: str
    method: str
    path: str
    body: Callable[[World], dict]
    status: int
    sends: Callable[[], int]
    cost: int

    def __call__(self, tenant_client, world: World, *, key: str | None = KEY, client=None, **changes):
        headers = AUTH[self.dialect](tenant_client.key)
        if key is not None:
            headers["Idempotency-Key"] = key
        client = client or tenant_client.client
        data = {**self.body(world), **changes}
        if self.method == "GET":
            return client.get(self.path, data, headers=headers)
        return client.post(self.path, data, format="json", headers=headers)


def sms_sends() -> int:
    return SmsMessage.objects.count()


def push_sends() -> int:
    return Message.objects.count()


def omni_sends() -> int:
    return OmniMessage.objects.count()


UNIDES = Send(
    "ion",
    "POST",
    "/api/V1/sms/unides",
    lambda w: {"emetteur": "SoftAfrik", "destinataire": TG, "corps": TEXT},
    201,
    sms_sends,
    PART,
)
SENDS = {
    "softafrik-to-user": Send(
        "softafrik",
        "POST",
        "/api/push/to-user",
        lambda w: {"puid": w.puid, "title": "Hi", "body": "Paid"},
        202,
        push_sends,
        PART,
    ),
    "softafrik-to-device": Send(
        "softafrik",
        "POST",
        "/api/push/to-device",
        lambda w: {"device_token": TOKEN, "title": "Hi", "body": "Paid"},
        202,
        push_sends,
        PART,
    ),
    "softafrik-broadcast": Send(
        "softafrik",
        "POST",
        "/api/push/broadcast",
        lambda w: {"app_name": w.app.name, "title": "Hi", "body": "All"},
        202,
        push_sends,
        PART,
    ),
    "ion-unides": UNIDES,
    "ion-muldes": Send(
        "ion",
        "POST",
        "/api/V1/sms/muldes",
        lambda w: {"emetteur": "SoftAfrik", "numeros": [TG, TG2], "corps": TEXT},
        201,
        sms_sends,
        2 * PART,
    ),
    "ion-muldesp": Send(
        "ion",
        "POST",
        "/api/V1/sms/muldesp",
        lambda w: {
            "emetteur": "SoftAfrik",
            "numeros": [TG, TG2],
            "corps": TEXT,
            "dateDebut": "2099-07-01T08:00:00",
            "dateFin": "2099-07-31T18:00:00",
            "nbParJour": 500,
            "intervalleMinutes": 30,
        },
        201,
        sms_sends,
        0,  # a campaign pays batch by batch, when beat releases them
    ),
    "primotexto-send": Send(
        "primotexto",
        "POST",
        "/v2/notification/messages/send",
        lambda w: {"number": TG, "message": TEXT},
        200,
        sms_sends,
        PART,
    ),
    "primotexto-send-get": Send(
        "primotexto",
        "GET",
        "/v2/notification/messages/send",
        lambda w: {"identifier": TG, "message": TEXT},
        200,
        sms_sends,
        PART,
    ),
    "delevera-sms": Send(
        "delevera",
        "POST",
        "/SMS/v1/messages",
        lambda w: {"text": TEXT, "from": "SoftAfrik", "destinations": [TG]},
        200,
        sms_sends,
        PART,
    ),
    "delevera-push": Send(
        "delevera",
        "POST",
        "/push/v1/messages",
        lambda w: {"text": "Hi", "appCode": w.app.code, "from": "Shop", "destinations": [{"uid": UID}]},
        200,
        omni_sends,
        PART,
    ),
    "delevera-omni": Send(
        "delevera",
        "POST",
        "/omni/v1/messages",
        lambda w: {
            "channel": "sms",
            "from": "SoftAfrik",
            "smsContent": {"text": TEXT},
            "destinations": [{"phone": TG}],
        },
        200,
        omni_sends,
        PART,
    ),
}
# One sending operation per dialect, for what every operation does alike, and a change
# of its body.
ANOTHER_BODY = {
    "softafrik-to-user": {"title": "Other"},
    "ion-unides": {"corps": "Autre"},
    "primotexto-send": {"message": "Autre"},
    "delevera-sms": {"text": "Autre"},
}
PER_DIALECT = list(ANOTHER_BODY)


def balance(tenant) -> int:
    return BillingAccount.objects.get(tenant=tenant).balance


def error_body(dialect: str, status: int, code: str, message: str, field: str | None) -> dict:
    """The dialect's own error shape (softafrik.api.error_body; Delevera's code/message/field)."""
    if dialect == "delevera":
        return {"code": status, "message": message, **({"field": field} if field else {})}
    body = {"error": code, "message": message}
    if field:
        body.update(field=field, fields={field: [message]})
    return body


# --- One after the other ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SENDS))
def test_the_same_request_twice_sends_and_charges_once_and_replays_the_answer(world, name):
    send = SENDS[name]
    before = balance(world.owner.tenant)

    first = send(world.owner, world)
    second = send(world.owner, world)

    assert first.status_code == send.status, first.content
    assert "Idempotent-Replayed" not in first
    assert (second.status_code, second.content, second["Content-Type"]) == (
        first.status_code,
        first.content,
        first["Content-Type"],
    )
    assert second["Idempotent-Replayed"] == "true"
    assert send.sends() == 1
    assert before - balance(world.owner.tenant) == send.cost
    record = IdempotentRequest.objects.get()
    assert (record.tenant_id, record.key, record.status_code, bytes(record.body)) == (
        world.owner.tenant.pk,
        KEY,
        send.status,
        first.content,
    )


def test_without_a_key_the_same_request_twice_sends_twice(world):
    before = balance(world.owner.tenant)
    assert [UNIDES(world.owner, world, key=None).status_code for _ in range(2)] == [201, 201]
    assert sms_sends() == 2
    assert before - balance(world.owner.tenant) == 2 * PART
    assert IdempotentRequest.objects.count() == 0


def test_a_replay_writes_nothing(world):
    UNIDES(world.owner, world)
    with CaptureQueriesContext(connection) as queries:
        replay = UNIDES(world.owner, world)
    assert replay["Idempotent-Replayed"] == "true"
    writes = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SELECT", "SAVEPOINT", "RELEASE"))]
    # The claim's INSERT finds the key and inserts nothing.
    assert len(writes) == 1 and writes[0].startswith("INSERT INTO accounts_idempotentrequest"), writes
    assert IdempotentRequest.objects.count() == 1


def test_the_key_in_the_drafts_quoted_form_is_the_same_key(world):
    first = UNIDES(world.owner, world, key=KEY)
    second = UNIDES(world.owner, world, key=f'"{KEY}"')
    assert (second.content, second["Idempotent-Replayed"]) == (first.content, "true")
    assert sms_sends() == 1


def test_the_same_body_spaced_or_ordered_otherwise_is_the_same_request(world):
    headers = {"X-API-KEY": world.owner.key, "Idempotency-Key": KEY}
    client = world.owner.client
    first = client.post(
        "/api/V1/sms/unides",
        f'{{"emetteur": "SoftAfrik", "destinataire": "{TG}", "corps": "{TEXT}"}}',
        content_type="application/json",
        headers=headers,
    )
    second = client.post(
        "/api/V1/sms/unides",
        f'{{"corps":"{TEXT}","destinataire":"{TG}","emetteur":"SoftAfrik"}}',
        content_type="application/json",
        headers=headers,
    )
    assert (first.status_code, second.content, second["Idempotent-Replayed"]) == (201, first.content, "true")
    assert sms_sends() == 1


def test_a_business_refusal_is_stored_and_replayed(world):
    """An answer below 500 is the key's answer, a refusal too: the client uses a new key
    for a corrected request."""
    first = UNIDES(world.owner, world, destinataire="123")
    again = UNIDES(world.owner, world, destinataire="123")
    assert first.status_code == 400
    assert first.json()["field"] == "destinataire"
    assert (again.status_code, again.content, again["Idempotent-Replayed"]) == (400, first.content, "true")
    assert sms_sends() == 0
    assert IdempotentRequest.objects.get().status_code == 400


def test_a_cancel_with_the_key_answers_its_first_answer_again_and_the_outsider_gets_404(world, outsider):
    """ION's cancel is no send, but takes the key: a retried cancel answers as the first
    did, where a second cancel without it is refused."""
    ref = UNIDES(world.owner, world, key=None).json()["ref"]
    path = f"/api/V1/sms/{ref}/annuler"

    def cancel(tenant_client, key: str | None = "cancel-1"):
        headers = {"X-API-Key": tenant_client.key, **({"Idempotency-Key": key} if key else {})}
        return tenant_client.client.post(path, format="json", headers=headers)

    first, again, unkeyed, theirs = (
        cancel(world.owner),
        cancel(world.owner),
        cancel(world.owner, None),
        cancel(outsider),
    )

    assert (first.status_code, first.json()) == (200, {"ref": ref, "statut": "ANNULE", "annules": 1})
    assert (again.status_code, again.content, again["Idempotent-Replayed"]) == (200, first.content, "true")
    assert (unkeyed.status_code, unkeyed.json()["error"]) == (400, "not_cancellable")
    assert (theirs.status_code, theirs.json()["error"]) == (404, "not_found")
    assert "Idempotent-Replayed" not in theirs
    assert SmsMessage.objects.get().state == "cancelled"


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PER_DIALECT)
def test_the_key_with_another_body_is_422_in_the_dialects_shape_and_sends_nothing(world, name):
    send = SENDS[name]
    first = send(world.owner, world)
    before = balance(world.owner.tenant)

    response = send(world.owner, world, **ANOTHER_BODY[name])

    assert response.status_code == 422
    assert "Idempotent-Replayed" not in response
    assert response.json() == error_body(send.dialect, 422, "idempotency_key_reused", REUSED, "Idempotency-Key")
    assert first.status_code == send.status
    assert send.sends() == 1
    assert balance(world.owner.tenant) == before


def test_the_key_on_another_path_is_422(world):
    assert UNIDES(world.owner, world).status_code == 201
    response = SENDS["ion-muldes"](world.owner, world)
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert sms_sends() == 1


@pytest.mark.parametrize("name", PER_DIALECT)
def test_a_key_of_256_characters_is_400_naming_the_header_and_sends_nothing(world, name):
    send = SENDS[name]
    before = balance(world.owner.tenant)

    response = send(world.owner, world, key="k" * 256)

    message = "Idempotency-Key: at most 255 characters (256 given)."
    assert response.status_code == 400
    assert response.json() == error_body(send.dialect, 400, "invalid", message, "Idempotency-Key")
    assert send.sends() == 0
    assert balance(world.owner.tenant) == before
    assert IdempotentRequest.objects.count() == 0


def test_a_key_of_255_characters_is_taken(world):
    assert UNIDES(world.owner, world, key="k" * 255).status_code == 201
    assert IdempotentRequest.objects.get().key == "k" * 255


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "must not be empty."),
        ("  ", "must not be empty."),
        ('""', "must not be empty."),
        ("caf\u00e9", "printable ASCII characters only."),
    ],
)
def test_an_empty_or_unprintable_key_is_400_naming_the_header(world, key, reason):
    response = UNIDES(world.owner, world, key=key)
    assert response.status_code == 400
    assert response.json() == error_body("ion", 400, "invalid", f"Idempotency-Key: {reason}", "Idempotency-Key")
    assert sms_sends() == 0
    assert IdempotentRequest.objects.count() == 0


def test_another_tenant_with_the_same_key_sends_its_own_message(world, outsider):
    SenderName.objects.create(tenant=outsider.tenant, name="Outsider", status=SenderStatus.APPROVED, is_default=True)
    account_ensure(tenant_id=outsider.tenant.pk)
    outsider_before = balance(outsider.tenant)
    mine = UNIDES(world.owner, world)

    theirs = UNIDES(outsider, world, emetteur="Outsider")

    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["ref"] != mine.json()["ref"]
    assert SmsMessage.objects.filter(tenant=outsider.tenant).count() == 1
    assert SmsMessage.objects.filter(tenant=world.owner.tenant).count() == 1
    assert outsider_before - balance(outsider.tenant) == PART
    # Each replays its own answer; neither sees the other's.
    assert UNIDES(outsider, world, emetteur="Outsider").content == theirs.content
    assert UNIDES(world.owner, world).content == mine.content
    assert IdempotentRequest.objects.filter(key=KEY).count() == 2


# --- Claims: in flight, stale, expired, failed -------------------------------------------------


def claim_for(world: World, send: Send, *, age: timedelta) -> IdempotentRequest:
    """A claim of ``send``'s very request left ``age`` ago by a request still running
    (or killed), with the fingerprint the view computes."""
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    request = Request(APIRequestFactory().post(send.path, send.body(world), format="json"), parsers=[JSONParser()])
    fingerprint = idempotency.request_fingerprint(request)
    claim = idempotency.idempotency_claim(tenant_id=world.owner.tenant.pk, key=KEY, fingerprint=fingerprint)
    IdempotentRequest.objects.filter(pk=claim.pk).update(created_at=timezone.now() - age)
    return IdempotentRequest.objects.get(pk=claim.pk)


def test_a_request_while_the_first_is_processed_is_409_and_sends_nothing(world):
    claim_for(world, UNIDES, age=timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS - 5))
    before = balance(world.owner.tenant)

    response = UNIDES(world.owner, world)

    assert response.status_code == 409
    assert response.json() == error_body("ion", 409, "idempotency_key_in_use", IN_USE, None)
    assert sms_sends() == 0
    assert balance(world.owner.tenant) == before


def test_a_claim_past_its_lease_is_taken_over(world):
    """A claim processing longer than the lease is a killed request's (which sent
    nothing: its send and its answer commit together): the next request sends."""
    stale = claim_for(world, UNIDES, age=timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS + 1))

    response = UNIDES(world.owner, world)

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    record = IdempotentRequest.objects.get()
    assert (record.pk, record.status_code) == (stale.pk, 201)
    assert record.created_at > stale.created_at
    assert UNIDES(world.owner, world).content == response.content
    assert sms_sends() == 1


def test_an_expired_record_lets_the_key_be_used_again(world):
    first = UNIDES(world.owner, world)
    expired = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS, seconds=1)
    IdempotentRequest.objects.update(created_at=expired)
    before = balance(world.owner.tenant)

    again = UNIDES(world.owner, world, corps="Un autre texte")  # absent: any request may take it

    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert again.json()["ref"] != first.json()["ref"]
    assert sms_sends() == 2
    assert before - balance(world.owner.tenant) == PART
    third = UNIDES(world.owner, world, corps="Un autre texte")
    assert (third.content, third["Idempotent-Replayed"]) == (again.content, "true")
    assert IdempotentRequest.objects.count() == 1


def test_a_record_just_inside_the_retention_is_replayed(world):
    first = UNIDES(world.owner, world)
    IdempotentRequest.objects.update(
        created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS) + timedelta(minutes=1)
    )
    assert UNIDES(world.owner, world).content == first.content
    assert sms_sends() == 1


def test_a_server_error_releases_the_key_and_sends_nothing(world, monkeypatch):
    submit = sms_services.sms_submit

    def crashing(**kwargs):
        submit(**kwargs)  # the send is written, then the request fails: all of it rolls back
        raise RuntimeError("boom")

    monkeypatch.setattr(sms_services, "sms_submit", crashing)
    client = APIClient(raise_request_exception=False)
    before = balance(world.owner.tenant)

    failed = UNIDES(world.owner, world, client=client)

    assert failed.status_code == 500
    assert (sms_sends(), IdempotentRequest.objects.count(), balance(world.owner.tenant)) == (0, 0, before)
    monkeypatch.setattr(sms_services, "sms_submit", submit)
    retried = UNIDES(world.owner, world)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert sms_sends() == 1


def test_a_503_is_not_stored_and_the_key_is_released(world, monkeypatch):
    def unavailable(**kwargs):
        raise OperationalError("the database is restarting")

    monkeypatch.setattr(sms_services, "sms_submit", unavailable)

    response = UNIDES(world.owner, world)

    assert response.status_code == 503
    assert response.json() == error_body("ion", 503, "unavailable", "Service temporarily unavailable, retry.", None)
    assert IdempotentRequest.objects.count() == 0


# --- Real concurrency (PostgreSQL) -------------------------------------------------------------


def _in_thread(target, results: list, index: int):
    def run():
        try:
            results[index] = target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@PG_ONLY
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", PER_DIALECT)
def test_the_same_request_concurrently_sends_and_charges_once(world, name):
    send = SENDS[name]
    before = balance(world.owner.tenant)
    clients = 8
    barrier = threading.Barrier(clients)
    results: list = [None] * clients

    def one():
        client = APIClient()
        barrier.wait(timeout=10)
        return send(world.owner, world, client=client)

    threads = [_in_thread(one, results, index) for index in range(clients)]
    for thread in threads:
        thread.join(timeout=60)

    fresh = [r for r in results if r.status_code == send.status and "Idempotent-Replayed" not in r]
    replayed = [r for r in results if r.get("Idempotent-Replayed") == "true"]
    busy = [r for r in results if r.status_code == 409]
    assert len(fresh) == 1, [(r.status_code, r.content) for r in results]
    assert len(fresh) + len(replayed) + len(busy) == clients
    assert all((r.status_code, r.content) == (fresh[0].status_code, fresh[0].content) for r in replayed)
    assert all(r.json() == error_body(send.dialect, 409, "idempotency_key_in_use", IN_USE, None) for r in busy)
    assert send.sends() == 1
    assert before - balance(world.owner.tenant) == send.cost


@pytest.fixture
def held_submit(monkeypatch):
    """The first call of sms_submit waits for ``release``: the request holding the key
    stays in flight while the test sends others (whose calls pass)."""
    submit = sms_services.sms_submit
    entered, release = threading.Event(), threading.Event()

    def held(**kwargs):
        if not entered.is_set():
            entered.set()
            assert release.wait(timeout=30)
        return submit(**kwargs)

    monkeypatch.setattr(sms_services, "sms_submit", held)
    return entered, release


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_while_the_first_request_runs_the_same_one_is_409_then_replayed(world, held_submit):
    entered, release = held_submit
    results: list = [None]
    first = _in_thread(lambda: UNIDES(world.owner, world, client=APIClient()), results, 0)
    assert entered.wait(timeout=10)
    before = balance(world.owner.tenant)

    during = UNIDES(world.owner, world, client=APIClient())
    # The claim is committed before the work: another connection sees it.
    assert IdempotentRequest.objects.get().status_code is None
    release.set()
    first.join(timeout=30)
    after = UNIDES(world.owner, world, client=APIClient())

    assert during.status_code == 409
    assert during.json() == error_body("ion", 409, "idempotency_key_in_use", IN_USE, None)
    assert results[0].status_code == 201
    assert (after.status_code, after.content, after["Idempotent-Replayed"]) == (201, results[0].content, "true")
    assert sms_sends() == 1
    assert before - balance(world.owner.tenant) == PART


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_request_whose_claim_was_taken_over_rolls_its_send_back(world, held_submit):
    """The first request outlives its lease; the next takes the key over and sends. The
    first then finds its claim gone: its send and charge roll back, it answers 409."""
    entered, release = held_submit
    results: list = [None]
    first = _in_thread(lambda: UNIDES(world.owner, world, client=APIClient()), results, 0)
    assert entered.wait(timeout=10)
    before = balance(world.owner.tenant)
    IdempotentRequest.objects.update(  # the lease passes
        created_at=timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS + 1)
    )

    taker = UNIDES(world.owner, world, client=APIClient())
    release.set()
    first.join(timeout=30)

    assert taker.status_code == 201
    assert results[0].status_code == 409
    assert results[0].json() == error_body("ion", 409, "idempotency_key_in_use", IN_USE, None)
    assert [str(pk) for pk in SmsMessage.objects.values_list("pk", flat=True)] == [taker.json()["ref"]]
    assert before - balance(world.owner.tenant) == PART
    assert UNIDES(world.owner, world).content == taker.content


# --- Schema, purge, beat ---------------------------------------------------------------------------


SENDING_OPERATIONS = [
    ("post", "/api/push/to-user"),
    ("post", "/api/push/to-device"),
    ("post", "/api/push/broadcast"),
    ("post", "/api/V1/sms/unides"),
    ("post", "/api/V1/sms/muldes"),
    ("post", "/api/V1/sms/muldesp"),
    ("post", "/api/V1/sms/{ref}/annuler"),
    ("post", "/v2/notification/messages/send"),
    ("get", "/v2/notification/messages/send"),
    ("post", "/SMS/v1/messages"),
    ("post", "/push/v1/messages"),
    ("post", "/omni/v1/messages"),
]


def test_the_schema_documents_the_header_and_its_refusals_on_every_sending_operation(client):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    documented = []
    for path, methods in paths.items():
        for method, operation in methods.items():
            headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
            if any(p["name"] == "Idempotency-Key" for p in headers):
                documented.append((method, path))
                (header,) = [p for p in headers if p["name"] == "Idempotency-Key"]
                assert header.get("required", False) is False
                assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"}
                assert {"400", "409", "422"} <= set(operation["responses"]), (method, path)
    assert sorted(documented) == sorted(SENDING_OPERATIONS)


def test_the_purge_deletes_records_past_the_retention_only(owner):
    now = timezone.now()
    retention = timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS)
    for key, age in (("old", retention + timedelta(seconds=1)), ("older", 2 * retention), ("live", retention / 2)):
        IdempotentRequest.objects.create(
            tenant=owner.tenant, key=key, fingerprint=hashlib.sha256(key.encode()).hexdigest(), created_at=now - age
        )

    assert idempotency_purge() == 2
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["live"]
    assert idempotency_purge() == 0


def test_beat_purges_hourly():
    assert settings.CELERY_BEAT_SCHEDULE["idempotency-purge"] == {
        "task": "accounts.tasks.idempotency_purge",
        "schedule": 3600.0,
    }
    assert (settings.IDEMPOTENCY_RETENTION_HOURS, settings.IDEMPOTENCY_LEASE_SECONDS) == (24, 60)
