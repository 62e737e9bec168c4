"""Signatures as receivers check them: the ``standardwebhooks`` package, and today's
X-SoftAfrik-Signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from notifications.webhooks.signing import SIGNATURE_HEADER, secret_generate, signed_headers
from notifications.webhooks.signing import legacy_signature as callback_signature

BODY = b'{"type":"sms.recipient.delivered","timestamp":"2026-12-01T09:00:00Z","data":{}}'


def test_generated_secrets_are_whsec_and_24_random_bytes():
    secrets = {secret_generate() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24


def test_endpoint_signature_verifies_with_the_standardwebhooks_package():
    secret = secret_generate()
    now = int(time.time())
    headers = signed_headers(secret=secret, legacy=False, message_id="msg_abc", timestamp=now, body=BODY)
    assert (headers["webhook-id"], headers["webhook-timestamp"]) == ("msg_abc", str(now))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "sms.recipient.delivered",
        "timestamp": "2026-12-01T09:00:00Z",
        "data": {},
    }


def test_signature_is_hmac_of_id_timestamp_body_with_the_decoded_secret():
    secret = secret_generate()
    headers = signed_headers(secret=secret, legacy=False, message_id="msg_1", timestamp=1764579600, body=BODY)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b"msg_1.1764579600." + BODY, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_a_tampered_body_or_another_secret_fails_verification():
    secret = secret_generate()
    headers = signed_headers(secret=secret, legacy=False, message_id="msg_1", timestamp=int(time.time()), body=BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"delivered", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_generate()).verify(BODY, headers)


def test_x_softafrik_signature_is_kept_beside_it():
    secret = secret_generate()
    headers = signed_headers(secret=secret, legacy=False, message_id="msg_1", timestamp=int(time.time()), body=BODY)
    assert headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()


def test_legacy_callback_signs_with_the_tenant_secret_both_ways():
    headers = signed_headers(secret="s3cret", legacy=True, message_id="msg_2", timestamp=int(time.time()), body=BODY)
    assert headers[SIGNATURE_HEADER] == callback_signature("s3cret", BODY)
    assert Webhook(b"s3cret").verify(BODY, headers)["type"] == "sms.recipient.delivered"


def test_legacy_callback_without_a_secret_is_not_signed():
    headers = signed_headers(secret="", legacy=True, message_id="msg_3", timestamp=1764579600, body=BODY)
    assert headers == {"webhook-id": "msg_3", "webhook-timestamp": "1764579600"}
