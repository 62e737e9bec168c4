"""Message.options (data_only, badge, sound, image) from the row to each provider's request.

``_push_of`` turns the row into a ``PushMessage``; each adapter is then run against its
fake (real firebase-admin over HTTP, real HTTP/2 + TLS to APNs, real VAPID + aes128gcm
Web Push) and the exact request the fake received is asserted.
"""

from __future__ import annotations

import copy
import json
import time
import uuid

import pytest
from django.conf import settings

from devices.services import device_register
from fakes.apns import FakeApnsServer, make_apns_key
from fakes.fcm import FakeFcmServer, make_service_account
from fakes.webpush import FakeWebPushServer
from notifications.models import Message
from notifications.push import accept, fanout, send
from notifications.push.providers.apns import ApnsProvider
from notifications.push.providers.base import Outcome, PushMessage, PushTarget
from notifications.push.providers.fcm import FcmProvider
from notifications.push.providers.webpush import WebPushProvider, generate_vapid_keypair

IMAGE = "https://cdn.example.com/promo/banner.png"
TTL = 3600
PLAIN = PushMessage(
    title="Order shipped",
    body="Your parcel is on its way",
    data={"order_id": "42", "sa_message_id": "m-1"},
    ttl=TTL,
    collapse_id="m-1",
)
DRESSED = PushMessage(**{**PLAIN.__dict__, "badge": 3, "sound": "ping.caf", "image": IMAGE})
DATA_ONLY = PushMessage(**{**PLAIN.__dict__, "data_only": True})
APNS_KEY_ID = "ABC123DEFG"
APNS_TEAM_ID = "DEF123GHIJ"
APNS_TOPIC = "com.softafrik.demo"
VAPID_PRIVATE_KEY, _ = generate_vapid_keypair()


def row(**fields) -> Message:
    """An unsaved message row: ``_push_of`` reads its fields only."""
    return Message(title="Hi", body="Paid", **fields)


# _push_of: options -> PushMessage


def test_every_option_reaches_the_push_message():
    message = row(data={"n": 1}, options={"data_only": True, "badge": 3, "sound": "ping.caf", "image": IMAGE})

    assert send._push_of(message) == PushMessage(
        title="Hi",
        body="Paid",
        data={"n": "1", "sa_message_id": str(message.pk)},
        ttl=settings.PUSH_TTL_SECONDS,
        collapse_id=str(message.pk),
        data_only=True,
        badge=3,
        sound="ping.caf",
        image=IMAGE,
    )


def test_no_options_give_the_defaults():
    message = row(data={})

    push = send._push_of(message)

    assert (push.data_only, push.badge, push.sound, push.image) == (False, None, "", "")
    assert push.data == {"sa_message_id": str(message.pk)}


def test_badge_zero_is_kept_to_clear_the_badge():
    assert send._push_of(row(options={"badge": 0})).badge == 0


@pytest.mark.parametrize(
    "options",
    [
        {"data_only": "true"},
        {"data_only": 1},
        {"data_only": None},
        {"badge": -1},
        {"badge": "3"},
        {"badge": 3.0},
        {"badge": True},
        {"badge": 2**31},
        {"badge": None},
        {"sound": 5},
        {"sound": ""},
        {"sound": "   "},
        {"sound": "ping\n.caf"},
        {"sound": "x" * 256},
        {"sound": ["ping.caf"]},
        {"image": "http://cdn.example.com/a.png"},
        {"image": "javascript:alert(1)"},
        {"image": "https://"},
        {"image": "https:///a.png"},
        {"image": "https://cdn.example.com/a b.png"},
        {"image": "https://[::1/a.png"},
        {"image": "https://cdn.example.com:port/a.png"},
        {"image": "https://user:pw@cdn.example.com/a.png"},
        {"image": "https://cdn.example.com/" + "a" * 2048},
        {"image": {"url": IMAGE}},
        {"colour": "red", "priority": "high"},
        [],
        "data_only",
        None,
    ],
)
def test_a_bad_or_unknown_option_is_dropped(options):
    message = row(data={"n": "1"}, options=options)

    assert send._push_of(message) == PushMessage(
        title="Hi",
        body="Paid",
        data={"n": "1", "sa_message_id": str(message.pk)},
        ttl=settings.PUSH_TTL_SECONDS,
        collapse_id=str(message.pk),
    )


def test_a_bad_option_does_not_drop_the_good_ones():
    push = send._push_of(row(options={"badge": "many", "sound": "ping.caf", "image": "ftp://x/a.png", "x": 1}))

    assert (push.data_only, push.badge, push.sound, push.image) == (False, None, "ping.caf", "")


def test_data_with_text_keeps_the_data_own_title_and_body():
    push = PushMessage(title="T", body="B", data={"title": "mine", "sa_message_id": "m"})

    assert push.data_with_text() == {"title": "mine", "body": "B", "sa_message_id": "m"}


# FCM


@pytest.fixture(scope="module")
def fcm_server():
    with FakeFcmServer() as fake:
        yield fake


@pytest.fixture
def fcm(fcm_server):
    adapter = FcmProvider(service_account=make_service_account(fcm_server), api_url=fcm_server.url, name="options")
    yield adapter
    adapter.close()


def fcm_sent(fcm: FcmProvider, fcm_server: FakeFcmServer, message: PushMessage) -> dict:
    """The message JSON the fake accepted, its time-dependent apns-expiration checked and removed."""
    token = f"token-{uuid.uuid4().hex}"
    before = int(time.time())
    [result] = fcm.send(message, [PushTarget(delivery_id=1, token=token)])
    assert result.outcome is Outcome.SENT
    sent = copy.deepcopy(fcm_server.received_by_token()[token]["message"])
    assert before + TTL <= int(sent["apns"]["headers"].pop("apns-expiration")) <= time.time() + TTL
    del sent["token"]
    return sent


def test_fcm_push_without_options_is_unchanged(fcm, fcm_server):
    assert fcm_sent(fcm, fcm_server, PLAIN) == {
        "notification": {"title": "Order shipped", "body": "Your parcel is on its way"},
        "data": {"order_id": "42", "sa_message_id": "m-1"},
        "android": {"collapse_key": "m-1", "ttl": "3600s", "notification": {"tag": "m-1"}},
        "apns": {"headers": {"apns-collapse-id": "m-1"}},
    }


def test_fcm_image_sound_and_badge_reach_notification_android_and_apns_blocks(fcm, fcm_server):
    assert fcm_sent(fcm, fcm_server, DRESSED) == {
        "notification": {"title": "Order shipped", "body": "Your parcel is on its way", "image": IMAGE},
        "data": {"order_id": "42", "sa_message_id": "m-1"},
        "android": {
            "collapse_key": "m-1",
            "ttl": "3600s",
            "notification": {"tag": "m-1", "sound": "ping.caf", "notification_count": 3},
        },
        "apns": {
            "headers": {"apns-collapse-id": "m-1"},
            "payload": {"aps": {"badge": 3, "sound": "ping.caf", "mutable-content": 1}},
            "fcm_options": {"image": IMAGE},
        },
    }


def test_fcm_badge_zero_is_sent(fcm, fcm_server):
    sent = fcm_sent(fcm, fcm_server, PushMessage(**{**PLAIN.__dict__, "badge": 0}))

    assert sent["android"]["notification"] == {"tag": "m-1", "notification_count": 0}
    assert sent["apns"]["payload"] == {"aps": {"badge": 0}}


def test_fcm_data_only_has_no_notification_block_and_carries_title_and_body_in_data(fcm, fcm_server):
    assert fcm_sent(fcm, fcm_server, DATA_ONLY) == {
        "data": {
            "title": "Order shipped",
            "body": "Your parcel is on its way",
            "order_id": "42",
            "sa_message_id": "m-1",
        },
        "android": {"collapse_key": "m-1", "priority": "high", "ttl": "3600s"},
        "apns": {
            "headers": {"apns-collapse-id": "m-1", "apns-push-type": "background", "apns-priority": "5"},
            "payload": {"aps": {"content-available": 1}},
        },
    }


def test_fcm_data_only_keeps_the_data_own_title_and_drops_display_options(fcm, fcm_server):
    message = PushMessage(
        **{**DRESSED.__dict__, "data_only": True, "data": {"title": "app's own", "sa_message_id": "m-1"}}
    )

    sent = fcm_sent(fcm, fcm_server, message)

    assert "notification" not in sent
    assert sent["data"] == {"title": "app's own", "body": "Your parcel is on its way", "sa_message_id": "m-1"}
    assert sent["android"] == {"collapse_key": "m-1", "priority": "high", "ttl": "3600s"}
    assert sent["apns"]["payload"] == {"aps": {"content-available": 1}}
    assert "fcm_options" not in sent["apns"]


# APNs


@pytest.fixture(scope="module")
def apns_key():
    return make_apns_key()


@pytest.fixture(scope="module")
def apns_server(apns_key):
    with FakeApnsServer() as fake:
        fake.add_key(APNS_KEY_ID, APNS_TEAM_ID, apns_key[1])
        yield fake


@pytest.fixture
def apns(apns_server, apns_key):
    adapter = ApnsProvider(
        key_pem=apns_key[0],
        key_id=APNS_KEY_ID,
        team_id=APNS_TEAM_ID,
        topic=APNS_TOPIC,
        sandbox=True,
        url=apns_server.url,
        ca_file=apns_server.ca_file,
        clock=lambda: 1_800_000_000.0,
    )
    yield adapter
    adapter.close()


def apns_sent(apns: ApnsProvider, apns_server: FakeApnsServer, message: PushMessage):
    token = uuid.uuid4().hex * 2
    [result] = apns.send(message, [PushTarget(delivery_id=1, token=token)])
    assert result.outcome is Outcome.SENT
    [received] = [n for n in apns_server.received if n.token == token]
    return received


def test_apns_alert_carries_badge_sound_mutable_content_and_image(apns, apns_server):
    received = apns_sent(apns, apns_server, DRESSED)

    assert received.payload == {
        "aps": {
            "alert": {"title": "Order shipped", "body": "Your parcel is on its way"},
            "sound": "ping.caf",
            "badge": 3,
            "mutable-content": 1,
        },
        "image": IMAGE,
        "order_id": "42",
        "sa_message_id": "m-1",
    }
    assert received.headers == {
        "apns-topic": APNS_TOPIC,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(1_800_000_000 + TTL),
        "apns-collapse-id": "m-1",
    }


def test_apns_alert_without_options_plays_the_default_sound_and_sets_no_badge(apns, apns_server):
    assert apns_sent(apns, apns_server, PLAIN).payload == {
        "aps": {
            "alert": {"title": "Order shipped", "body": "Your parcel is on its way"},
            "sound": "default",
            "mutable-content": 1,
        },
        "order_id": "42",
        "sa_message_id": "m-1",
    }


def test_apns_badge_zero_is_sent(apns, apns_server):
    payload = apns_sent(apns, apns_server, PushMessage(**{**PLAIN.__dict__, "badge": 0})).payload

    assert payload["aps"]["badge"] == 0


def test_apns_image_option_wins_over_a_data_key_named_image(apns, apns_server):
    message = PushMessage(**{**DRESSED.__dict__, "data": {"image": "https://other.example/x.png"}})

    assert apns_sent(apns, apns_server, message).payload["image"] == IMAGE


def test_apns_data_only_is_a_background_push_with_priority_5(apns, apns_server):
    received = apns_sent(apns, apns_server, DATA_ONLY)

    assert received.payload == {
        "aps": {"content-available": 1},
        "title": "Order shipped",
        "body": "Your parcel is on its way",
        "order_id": "42",
        "sa_message_id": "m-1",
    }
    assert received.headers == {
        "apns-topic": APNS_TOPIC,
        "apns-push-type": "background",
        "apns-priority": "5",
        "apns-expiration": str(1_800_000_000 + TTL),
        "apns-collapse-id": "m-1",
    }


def test_apns_background_push_carries_no_alert_sound_badge_or_image(apns, apns_server):
    message = PushMessage(**{**DRESSED.__dict__, "data_only": True, "data": {"sa_message_id": "m-1"}})

    assert apns_sent(apns, apns_server, message).payload == {
        "aps": {"content-available": 1},
        "title": "Order shipped",
        "body": "Your parcel is on its way",
        "sa_message_id": "m-1",
    }


# Web Push


@pytest.fixture(scope="module")
def webpush_server():
    with FakeWebPushServer() as fake:
        yield fake


@pytest.fixture
def webpush():
    adapter = WebPushProvider(vapid_private_key=VAPID_PRIVATE_KEY, timeout=5.0, allow_http=True)
    yield adapter
    adapter.close()


def webpush_sent(webpush: WebPushProvider, webpush_server: FakeWebPushServer, message: PushMessage):
    subscription = webpush_server.new_subscription()
    [result] = webpush.send(message, [PushTarget(delivery_id=1, token=json.dumps(subscription))])
    assert result.outcome is Outcome.SENT
    [received] = [p for p in webpush_server.received if p.endpoint == subscription["endpoint"]]
    return received.payload


def test_web_push_without_options_is_unchanged(webpush, webpush_server):
    assert webpush_sent(webpush, webpush_server, PLAIN) == {
        "title": "Order shipped",
        "body": "Your parcel is on its way",
        "data": {"order_id": "42", "sa_message_id": "m-1"},
    }


def test_web_push_carries_image_and_the_badge_count_as_app_badge_but_no_sound(webpush, webpush_server):
    assert webpush_sent(webpush, webpush_server, DRESSED) == {
        "title": "Order shipped",
        "body": "Your parcel is on its way",
        "data": {"order_id": "42", "sa_message_id": "m-1"},
        "image": IMAGE,
        "app_badge": 3,
    }


def test_web_push_data_only_has_no_display_fields(webpush, webpush_server):
    message = PushMessage(**{**DRESSED.__dict__, "data_only": True})

    assert webpush_sent(webpush, webpush_server, message) == {
        "data_only": True,
        "data": {
            "title": "Order shipped",
            "body": "Your parcel is on its way",
            "order_id": "42",
            "sa_message_id": "m-1",
        },
    }


# Through the pipeline: a row's options reach the providers


def device_for(owner, customer, push_app, platform, token):
    device, _ = device_register(
        tenant=owner.tenant, end_user=customer, app=push_app, platform=platform, device_token=token
    )
    return device


def send_with_options(owner, device, options) -> Message:
    message = accept.push_send_to_device(tenant=owner.tenant, device=device, title="Hi", body="Paid", data={"n": 1})
    Message.objects.filter(pk=message.pk).update(options=options)
    for page in fanout.message_fan_out(message_id=str(message.pk)):
        send.deliveries_send(delivery_ids=page.ids, claim=page.claim)
    return message


def test_options_of_a_row_reach_fcm(owner, push_app, customer, fake_fcm):
    token = f"fcm-{uuid.uuid4().hex}"
    device = device_for(owner, customer, push_app, "android", token)

    message = send_with_options(owner, device, {"badge": 2, "sound": "ping.caf", "image": IMAGE})

    sent = fake_fcm.received_by_token()[token]["message"]
    assert sent["notification"] == {"title": "Hi", "body": "Paid", "image": IMAGE}
    assert sent["android"]["notification"] == {"tag": str(message.pk), "sound": "ping.caf", "notification_count": 2}
    assert sent["data"] == {"n": "1", "sa_message_id": str(message.pk)}


def test_data_only_row_reaches_apns_as_a_background_push(owner, push_app, customer, fake_apns):
    token = uuid.uuid4().hex * 2
    device = device_for(owner, customer, push_app, "ios", token)

    message = send_with_options(owner, device, {"data_only": True, "badge": 2})

    [received] = [n for n in fake_apns.received if n.token == token]
    assert received.payload == {
        "aps": {"content-available": 1},
        "title": "Hi",
        "body": "Paid",
        "n": "1",
        "sa_message_id": str(message.pk),
    }
    assert (received.push_type, received.priority) == ("background", "5")


def test_bad_options_of_a_row_send_a_plain_web_push(owner, push_app, customer, fake_webpush):
    subscription = fake_webpush.new_subscription()
    device = device_for(owner, customer, push_app, "web", json.dumps(subscription))

    message = send_with_options(owner, device, {"data_only": "yes", "badge": -4, "image": "http://x.example/a.png"})

    [received] = [p for p in fake_webpush.received if p.endpoint == subscription["endpoint"]]
    assert received.payload == {"title": "Hi", "body": "Paid", "data": {"n": "1", "sa_message_id": str(message.pk)}}
