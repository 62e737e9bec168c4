"""A fake Firebase Cloud Messaging (HTTP v1) server that speaks the real protocol on loopback.

It plays the two Google endpoints firebase-admin talks to:

* the OAuth2 token endpoint, ``POST /token`` (the service account's ``token_uri``):
  checks the jwt-bearer assertion's RS256 signature with the public key of a
  service account made by ``make_service_account`` and issues a Bearer token;
* ``POST /v1/projects/<project>/messages:send``: checks the Bearer token, validates
  the body the way FCM does (``data`` values must be strings, one target, known
  fields...) and answers ``{"name": "projects/<p>/messages/<n>"}``.

Errors use FCM's JSON shape: ``error.code`` / ``error.status`` / ``error.message`` and
``details`` with a ``google.firebase.fcm.v1.FcmError`` ``errorCode`` (what
firebase-admin maps to ``UnregisteredError``, ``QuotaExceededError``...). They are
injected per registration token with ``fail_token(token, kind, times=...)`` or, with
no set-up, by the token convention ``fake-fcm-error:<KIND>[:anything]``.

It is served by an asyncio loop (``fakes.http1``: HTTP/1.1 with keep-alive, as Google's
front ends), in a background thread or on the caller's loop. The benchmark pushes
100,000 messages through one instance, so per-request work is kept to a dict lookup, a
``json.loads`` and the body's validation, which ``lean=True`` skips; ``GET /_stats``
reports the requests served and the CPU spent (``bench/fake_fcm_cost.py`` measures it).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import html
import http.server
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fakes.http1 import Answer, Http1Fake, Http1Server, Request

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# google-auth signs the assertion for Google's endpoint whatever the token_uri says.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
# Tokens of this form fail with <KIND> without any set-up: "fake-fcm-error:UNREGISTERED:7".
ERROR_TOKEN_PREFIX = "fake-fcm-error:"
ACCESS_TOKEN_LIFETIME = 3600
# What FCM returns in Retry-After on 429/503 unless the test sets ``retry_after``.
DEFAULT_RETRY_AFTER = 10
# FCM refuses a notification + data payload over 4 KB ("Message is too big").
MAX_PAYLOAD_BYTES = 4096

# kind -> (HTTP status, google.rpc status, message FCM answers with)
ERROR_KINDS: dict[str, tuple[int, str, str]] = {
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "INVALID_ARGUMENT": (
        400,
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
    ),
    "QUOTA_EXCEEDED": (
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Send messages' and limit 'Send messages per minute'.",
    ),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
}
_RETRY_AFTER_KINDS = frozenset({"QUOTA_EXCEEDED", "UNAVAILABLE"})

_MESSAGE_FIELDS = frozenset(
    {"name", "data", "notification", "android", "webpush", "apns", "fcm_options"}
    | {"token", "fid", "topic", "condition"}
)
_TARGET_FIELDS = ("token", "fid", "topic", "condition")
_NOTIFICATION_FIELDS = frozenset({"title", "body", "image"})
_ANDROID_FIELDS = frozenset(
    {
        "collapse_key",
        "priority",
        "ttl",
        "restricted_package_name",
        "data",
        "notification",
        "fcm_options",
        "direct_boot_ok",
        "bandwidth_constrained_ok",
        "restricted_satellite_ok",
    }
)
_ANDROID_NOTIFICATION_STRING_FIELDS = frozenset(
    {"title", "body", "icon", "color", "sound", "tag", "click_action", "body_loc_key", "title_loc_key"}
    | {"channel_id", "ticker", "image", "event_time", "notification_priority", "visibility", "proxy"}
)
_ANDROID_NOTIFICATION_FIELDS = _ANDROID_NOTIFICATION_STRING_FIELDS | frozenset(
    {"body_loc_args", "title_loc_args", "sticky", "local_only", "default_sound", "default_vibrate_timings"}
    | {"default_light_settings", "vibrate_timings", "light_settings", "notification_count"}
    | {"bypass_proxy_notification"}
)
_ANDROID_PRIORITIES = frozenset({"NORMAL", "HIGH"})  # proto enum names; FCM takes them in any case
_INT32_MAX = 2**31 - 1
_APNS_FIELDS = frozenset({"headers", "payload", "fcm_options", "live_activity_token"})
_APNS_FCM_OPTIONS_FIELDS = frozenset({"analytics_label", "image"})
_RESERVED_DATA_KEYS = frozenset({"from", "message_type", "notification"})
_RESERVED_DATA_PREFIXES = ("google.", "gcm.")
_DURATION_RE = re.compile(r"^\d+(\.\d{1,9})?s$")
_SEND_PATH_RE = re.compile(r"^/v1/projects/([^/]+)/messages:send$")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fcm_error_body(http_status: int, status: str, message: str, error_code: str | None) -> dict:
    """FCM v1's error JSON; ``error_code`` None leaves out the FcmError detail."""
    details = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}] if error_code else []
    return {"error": {"code": http_status, "message": message, "status": status, "details": details}}


class _InvalidMessage(Exception):
    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description


def _check_string_map(value: Any, field: str) -> None:
    if not isinstance(value, dict):
        raise _InvalidMessage(field, f"Invalid value at '{field}' (type.googleapis.com/Map), {value!r}")
    for index, (key, item) in enumerate(value.items()):
        if not isinstance(item, str):
            raise _InvalidMessage(
                f"{field}[{index}].value",
                f"Invalid value at '{field}[{index}].value' (TYPE_STRING), {json.dumps(item)}",
            )
        if not key:
            raise _InvalidMessage(f"{field}[{index}].key", f"Invalid key at '{field}[{index}]'")


def _check_fields(value: Any, allowed: frozenset[str], field: str) -> None:
    if not isinstance(value, dict):
        raise _InvalidMessage(field, f"Invalid value at '{field}', {json.dumps(value)}")
    for key in value:
        if key not in allowed:
            raise _InvalidMessage(
                field, f"Invalid JSON payload received. Unknown name \"{key}\" at '{field}': Cannot find field."
            )


def _check_string(value: Any, field: str) -> None:
    if not isinstance(value, str):
        raise _InvalidMessage(field, f"Invalid value at '{field}' (TYPE_STRING), {json.dumps(value)}")


def _check_int32(value: Any, field: str) -> None:
    if type(value) is not int or not -_INT32_MAX - 1 <= value <= _INT32_MAX:
        raise _InvalidMessage(field, f"Invalid value at '{field}' (TYPE_INT32), {json.dumps(value)}")


def _check_android_notification(notification: Any) -> None:
    field = "message.android.notification"
    _check_fields(notification, _ANDROID_NOTIFICATION_FIELDS, field)
    for key, item in notification.items():
        if key in _ANDROID_NOTIFICATION_STRING_FIELDS:
            _check_string(item, f"{field}.{key}")
    if "notification_count" in notification:
        _check_int32(notification["notification_count"], f"{field}.notification_count")


def _check_apns_payload(payload: Any) -> None:
    """FCM relays the payload to APNs as is; a non-object, or an ``aps`` APNs would refuse
    (not an object, a badge that is not a number), is refused here already."""
    if not isinstance(payload, dict):
        raise _InvalidMessage("message.apns.payload", f"Invalid value at 'message.apns.payload', {json.dumps(payload)}")
    aps = payload.get("aps")
    if aps is None:
        return
    if not isinstance(aps, dict):
        raise _InvalidMessage("message.apns.payload.aps", "Invalid value at 'message.apns.payload.aps'")
    for key in ("badge", "content-available", "mutable-content"):
        if key in aps:
            _check_int32(aps[key], f"message.apns.payload.aps.{key}")


def validate_message(message: Any) -> None:
    """Raise ``_InvalidMessage`` for what FCM answers 400 INVALID_ARGUMENT to."""
    _check_fields(message, _MESSAGE_FIELDS, "message")
    targets = [name for name in _TARGET_FIELDS if name in message]
    if not targets:
        raise _InvalidMessage("message", "Recipient of the message is not set.")
    if len(targets) > 1:
        raise _InvalidMessage(
            "message",
            f"Invalid value at 'message' (oneof), oneof field 'target' is already set. Cannot set '{targets[1]}'",
        )
    target = message[targets[0]]
    if not isinstance(target, str) or not target:
        raise _InvalidMessage(f"message.{targets[0]}", f"Invalid value at 'message.{targets[0]}'")
    if "notification" in message:
        _check_fields(message["notification"], _NOTIFICATION_FIELDS, "message.notification")
        for key, item in message["notification"].items():
            if not isinstance(item, str):
                raise _InvalidMessage(
                    f"message.notification.{key}",
                    f"Invalid value at 'message.notification.{key}' (TYPE_STRING), {json.dumps(item)}",
                )
    data = message.get("data")
    if data is not None:
        _check_string_map(data, "message.data")
        for key in data:
            if key in _RESERVED_DATA_KEYS or key.startswith(_RESERVED_DATA_PREFIXES):
                raise _InvalidMessage("message.data", f"Invalid data payload key: {key}")
    if "android" in message:
        android = message["android"]
        _check_fields(android, _ANDROID_FIELDS, "message.android")
        ttl = android.get("ttl")
        if ttl is not None and (not isinstance(ttl, str) or not _DURATION_RE.match(ttl)):
            raise _InvalidMessage(
                "message.android.ttl",
                "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), "
                f"{json.dumps(ttl)}",
            )
        if "collapse_key" in android and not isinstance(android["collapse_key"], str):
            raise _InvalidMessage(
                "message.android.collapse_key", "Invalid value at 'message.android.collapse_key' (TYPE_STRING)"
            )
        priority = android.get("priority")
        if priority is not None and (not isinstance(priority, str) or priority.upper() not in _ANDROID_PRIORITIES):
            raise _InvalidMessage(
                "message.android.priority",
                "Invalid value at 'message.android.priority' (type.googleapis.com/"
                f"google.firebase.fcm.v1.AndroidMessagePriority), {json.dumps(priority)}",
            )
        if "notification" in android:
            _check_android_notification(android["notification"])
    if "apns" in message:
        apns = message["apns"]
        _check_fields(apns, _APNS_FIELDS, "message.apns")
        if "headers" in apns:
            _check_string_map(apns["headers"], "message.apns.headers")
        if "payload" in apns:
            _check_apns_payload(apns["payload"])
        if "fcm_options" in apns:
            _check_fields(apns["fcm_options"], _APNS_FCM_OPTIONS_FIELDS, "message.apns.fcm_options")
            for key, item in apns["fcm_options"].items():
                _check_string(item, f"message.apns.fcm_options.{key}")
    size = len(json.dumps([message.get("notification"), data], separators=(",", ":")))
    if size > MAX_PAYLOAD_BYTES:
        raise _InvalidMessage("message", f"Message is too big ({size} bytes, the limit is {MAX_PAYLOAD_BYTES})")


_JSON = "application/json; charset=UTF-8"
_NOT_FOUND = json.dumps(fcm_error_body(404, "NOT_FOUND", "Not Found", None)).encode()
STATS_PATH = "/_stats"  # GET: the fake's own counters and CPU, for the benchmarks


def _unsupported_method(method: str) -> Answer:
    """What http.server (the fake's first transport) answered to a method it has no handler for."""
    message = f"Unsupported method ({method!r})"
    body = http.server.DEFAULT_ERROR_MESSAGE % {
        "code": 501,
        "message": html.escape(message, quote=False),
        "explain": "Server does not support this operation",
    }
    return 501, http.server.DEFAULT_ERROR_CONTENT_TYPE, {}, body.encode("utf-8", "replace")


class FakeFcmServer(Http1Fake):
    """FCM HTTP v1 + Google OAuth2 on 127.0.0.1, served by an asyncio loop.

    ``with FakeFcmServer() as server:`` or ``start()``/``stop()`` run the loop in a
    background thread; ``await start_serving()``/``stop_serving()`` serve on the running
    loop instead (``bench/fake_fcm_server.py``). ``received`` lists the accepted messages
    (dicts with token, title, body, data, collapse_key, tag, apns_collapse_id, ttl, name
    and the full ``message``); ``token_requests`` counts calls to ``/token``;
    ``send_requests`` counts calls to ``messages:send`` and ``accepted`` those answered
    200; ``requests`` counts every request but ``GET /_stats``, which answers
    ``stats()`` as JSON.

    ``lean=True`` skips the per-message validation of the body (field names and types,
    the 4 KB limit): a valid message gets the same answer, an invalid one may be
    accepted. It is the only per-request check worth skipping (about 6 of 46 us of CPU
    per request, measured by ``bench/fake_fcm_cost.py``): the Bearer check is a dict
    lookup, the JWT signature being verified once per token, at ``/token``. Benchmarks
    that send what firebase-admin built use it; tests keep the full checks.
    """

    thread_name = "fake-fcm"

    def __init__(self, *, record: bool = True, lean: bool = False) -> None:
        super().__init__()
        # record=False keeps only the counters: a recorded message costs ~3 KB, so
        # 100,000 of them ~300 MB. Benchmarks should pass record=False and read ``accepted``.
        self.record = record
        self.lean = lean
        self.delay = 0.0  # seconds slept in every messages:send
        self.retry_after = DEFAULT_RETRY_AFTER
        self.token_error: str | None = None  # e.g. "invalid_grant": /token answers 400 with it
        self.requests = 0  # every request served, but GET /_stats (written by the loop only)
        self.token_requests = 0
        self.send_requests = 0
        self.accepted = 0  # messages answered 200, counted even with record=False
        self._received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._message_ids = itertools.count(1)
        self._accounts: dict[str, tuple[rsa.RSAPublicKey, str, str]] = {}  # kid -> (key, email, project)
        self._access_tokens: dict[str, str] = {}  # access token -> project it may send to
        self._failures: dict[str, list[Any]] = {}  # token -> [kind, times left or None]
        self._delayed: concurrent.futures.ThreadPoolExecutor | None = None

    # lifecycle: fakes.http1.Http1Fake

    @property
    def url(self) -> str:
        return self._base_url

    async def _closing(self, http_server: Http1Server) -> None:
        if self._delayed is not None:
            self._delayed.shutdown(wait=False)  # sleeping sends finish and record on their own
            self._delayed = None

    def _counters(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "send_requests": self.send_requests,
            "token_requests": self.token_requests,
            "accepted": self.accepted,
        }

    # what tests set up and read

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._received)

    def received_by_token(self) -> dict[str, dict[str, Any]]:
        return {item["token"]: item for item in self.received}

    def fail_token(self, token: str, kind: str, *, times: int | None = None) -> None:
        """Answer ``kind``'s FCM error for ``token``; only the first ``times`` sends if given."""
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown FCM error kind {kind!r}; one of {sorted(ERROR_KINDS)}")
        with self._lock:
            self._failures[token] = [kind, times]

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def revoke_access_tokens(self) -> None:
        """Forget every issued Bearer token, as if they had expired early (next send gets 401)."""
        with self._lock:
            self._access_tokens.clear()

    def register_service_account(
        self, *, key_id: str, public_key: rsa.RSAPublicKey, client_email: str, project_id: str
    ) -> None:
        with self._lock:
            self._accounts[key_id] = (public_key, client_email, project_id)

    # request handling (on the loop; a send held by ``delay`` in a thread of its own)

    def _handle(self, request: Request) -> Answer | Awaitable[Answer]:
        if request.method != "POST":
            if request.method == "GET" and request.target == STATS_PATH:
                return 200, _JSON, {}, json.dumps(self.stats()).encode()
            self.requests += 1
            return _unsupported_method(request.method)
        self.requests += 1
        if request.target == "/token":
            status, extra_headers, payload = self._answer_token(request.body)
            return status, _JSON, extra_headers, json.dumps(payload).encode()
        match = _SEND_PATH_RE.match(request.target)
        if match is None:
            return 404, _JSON, {}, _NOT_FOUND
        arguments = (match.group(1), request.headers.get("authorization", ""), request.body)
        if self.delay:
            return self._answer_send_held(arguments)
        status, extra_headers, payload = self._answer_send(*arguments)
        return status, _JSON, extra_headers, json.dumps(payload).encode()

    async def _answer_send_held(self, arguments: tuple[str, str, bytes]) -> Answer:
        """``_answer_send`` in a thread, where it sleeps ``delay`` as a slow FCM would,
        without holding the other connections' requests."""
        if self._delayed is None:
            # As many threads as sends held at once (send_each sends up to 500 at a time).
            self._delayed = concurrent.futures.ThreadPoolExecutor(max_workers=1024, thread_name_prefix="fake-fcm-delay")
        loop = asyncio.get_running_loop()
        status, extra_headers, payload = await loop.run_in_executor(self._delayed, self._answer_send, *arguments)
        return status, _JSON, extra_headers, json.dumps(payload).encode()

    def _answer_token(self, body: bytes) -> tuple[int, dict[str, str], dict]:
        with self._lock:
            self.token_requests += 1
        form = parse_qs(body.decode("ascii", "replace"))
        if form.get("grant_type") != [JWT_BEARER_GRANT] or len(form.get("assertion", [])) != 1:
            return 400, {}, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}
        if self.token_error:
            return 400, {}, {"error": self.token_error, "error_description": "Injected by the test."}
        project = self._verify_assertion(form["assertion"][0])
        if project is None:
            return 400, {}, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        access_token = f"ya29.fake-{secrets.token_urlsafe(24)}"
        with self._lock:
            self._access_tokens[access_token] = project
        return 200, {}, {"access_token": access_token, "expires_in": ACCESS_TOKEN_LIFETIME, "token_type": "Bearer"}

    def _verify_assertion(self, assertion: str) -> str | None:
        """The project of the service account that signed ``assertion``, or None if it is not valid."""
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            account = self._accounts.get(header.get("kid", ""))
            if header.get("alg") != "RS256" or account is None:
                return None
            public_key, client_email, project = account
            public_key.verify(
                _b64url_decode(signature_b64),
                f"{header_b64}.{claims_b64}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (ValueError, InvalidSignature, AttributeError):
            return None
        now = time.time()
        scopes = str(claims.get("scope", "")).split()
        if (
            claims.get("iss") != client_email
            or claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, self.token_url)
            or not claims.get("iat", now + 1) - 300 <= now < claims.get("exp", 0)
            or not ({FCM_SCOPE, CLOUD_PLATFORM_SCOPE} & set(scopes))
        ):
            return None
        return project

    def _answer_send(self, project: str, authorization: str, body: bytes) -> tuple[int, dict[str, str], dict]:
        with self._lock:
            self.send_requests += 1
        if self.delay:
            time.sleep(self.delay)
        allowed_project = self._access_tokens.get(authorization[7:]) if authorization.startswith("Bearer ") else None
        if allowed_project is None:
            return (
                401,
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
                fcm_error_body(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                    "login cookie or other valid authentication credential.",
                    None,
                ),
            )
        if allowed_project != project:
            return (
                403,
                {},
                fcm_error_body(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission 'cloudmessaging.messages.create' denied on resource "
                    f"'//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist).",
                    None,
                ),
            )
        try:
            request = json.loads(body)
            message = request["message"] if isinstance(request, dict) else None
            if not self.lean:
                validate_message(message)
            elif not isinstance(message, dict):
                raise _InvalidMessage("message", f"Invalid value at 'message', {json.dumps(message)}")
        except (ValueError, KeyError) as exc:
            return 400, {}, fcm_error_body(400, "INVALID_ARGUMENT", f"Invalid JSON payload received. {exc}", None)
        except _InvalidMessage as exc:
            error = fcm_error_body(400, "INVALID_ARGUMENT", exc.description, "INVALID_ARGUMENT")
            error["error"]["details"].append(
                {"@type": BAD_REQUEST_TYPE, "fieldViolations": [{"field": exc.field, "description": exc.description}]}
            )
            return 400, {}, error
        token = message.get("token") or message.get("fid") or ""
        kind = self._injected_failure(token)
        if kind is not None:
            http_status, status, text = ERROR_KINDS[kind]
            headers = {"Retry-After": str(self.retry_after)} if kind in _RETRY_AFTER_KINDS else {}
            return http_status, headers, fcm_error_body(http_status, status, text, kind)
        if request.get("validate_only"):
            return 200, {}, {"name": f"projects/{project}/messages/fake_message_id"}
        name = f"projects/{project}/messages/{next(self._message_ids)}"
        with self._lock:
            self.accepted += 1
        if self.record:
            android = message.get("android", {})
            notification = message.get("notification", {})
            record = {
                "token": token,
                "title": notification.get("title"),
                "body": notification.get("body"),
                "data": message.get("data", {}),
                "collapse_key": android.get("collapse_key"),
                "tag": android.get("notification", {}).get("tag"),
                "ttl": android.get("ttl"),
                "apns_collapse_id": message.get("apns", {}).get("headers", {}).get("apns-collapse-id"),
                "name": name,
                "message": message,
            }
            with self._lock:
                self._received.append(record)
        return 200, {}, {"name": name}

    def _injected_failure(self, token: str) -> str | None:
        if token.startswith(ERROR_TOKEN_PREFIX):
            kind = token[len(ERROR_TOKEN_PREFIX) :].split(":", 1)[0]
            return kind if kind in ERROR_KINDS else None
        if not self._failures:
            return None
        with self._lock:
            rule = self._failures.get(token)
            if rule is None:
                return None
            kind, times_left = rule
            if times_left is not None:
                if times_left <= 0:
                    return None
                rule[1] = times_left - 1
            return kind


def make_service_account(
    server: FakeFcmServer, project_id: str = "demo-project", *, register: bool = True
) -> dict[str, str]:
    """A service-account JSON dict (as downloaded from the Firebase console) whose
    ``token_uri`` is ``server``'s ``/token``. With ``register=False`` the server does not
    know the key, so the token exchange fails with ``invalid_grant`` like a deleted key.
    """
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = secrets.token_hex(20)
    account = secrets.token_hex(3)
    client_email = f"firebase-adminsdk-{account}@{project_id}.iam.gserviceaccount.com"
    if register:
        server.register_service_account(
            key_id=key_id, public_key=private_key.public_key(), client_email=client_email, project_id=project_id
        )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**21)).zfill(21),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": server.token_url,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{client_email.replace('@', '%40')}",
        "universe_domain": "googleapis.com",
    }
