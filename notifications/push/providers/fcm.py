"""Firebase Cloud Messaging (HTTP v1): what both transports share, and the adapter on
firebase-admin's ``send_each`` (``FCM_TRANSPORT=firebase-admin``, kept to measure the
default, ``fcm_aiohttp.AiohttpFcmProvider``, against). Shared: the service account and
its token exchange (``FcmCredentials``), the message (``fcm_message_parts``) and the
outcome mapping below, which both transports give alike.

One ``firebase_admin.App`` per provider instance holds the service account, its
OAuth2 token (google-auth refreshes it from the account's ``token_uri``) and the
keep-alive connection pool, so building the provider once per credentials and
reusing it across chunks costs one token exchange an hour.

Outcome mapping (per target, from each ``SendResponse``):

* success -> SENT, ``provider_message_id`` = FCM's ``projects/<p>/messages/<id>``;
* UNREGISTERED (404), SENDER_ID_MISMATCH (403) -> INVALID_ENDPOINT: the token is dead;
* any other 4xx (INVALID_ARGUMENT, THIRD_PARTY_AUTH_ERROR, ...) -> PERMANENT:
  the payload or the app's APNs/Web Push set-up is wrong, not the device;
* 429, 5xx, timeouts, resets -> TRANSIENT, with ``retry_after`` from Retry-After.

The whole call raises ``TransientProviderError`` when no target got an HTTP answer
(FCM unreachable) or the token endpoint is unreachable or failing, and
``PermanentProviderError`` when Google refuses the service account.
"""

from __future__ import annotations

import email.utils
import functools
import itertools
import json
import threading
import time
from typing import Any

import firebase_admin
import google.auth.exceptions
import google.auth.transport.requests
import requests
import requests.adapters
import urllib3.exceptions
from firebase_admin import _http_client, credentials, exceptions, messaging
from urllib3.util.retry import Retry

from notifications.push.providers.base import (
    Outcome,
    PermanentProviderError,
    PushMessage,
    PushResult,
    PushTarget,
    TransientProviderError,
)

FCM_CHUNK = 500  # FCM's per-call limit: send_each raises ValueError above it
GOOGLE_FCM_URL = "https://fcm.googleapis.com"
# Seconds for each HTTP call (token exchange and every message). firebase-admin's
# default is 120 s, which would hold a worker for two minutes on a black-holed link.
DEFAULT_HTTP_TIMEOUT = 10.0
# Connections kept alive to FCM per provider, as firebase-admin does for Google's
# host; the rest of send_each's 500 threads open a connection and drop it after use.
POOL_SIZE = 100
# Retry inside firebase-admin only a refused or failed connect (the request was not
# sent, so no duplicate). firebase-admin's default also retries 500/503 four times
# with backoff and sleeps on Retry-After, inside the worker, which our task layer
# already does with jitter and a cap (STYLE.md §8) from the TRANSIENT outcome.
SEND_RETRIES = Retry(
    total=1, connect=1, read=0, status=0, other=0, redirect=0,
    allowed_methods=None, respect_retry_after_header=False, raise_on_status=False,
)  # fmt: skip
_INVALID_TOKEN_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
_app_serial = itertools.count(1)


def fcm_app_point_at(app: firebase_admin.App, *, base_url: str, retries: Retry | None = None) -> None:
    """Make ``messaging.send*`` for ``app`` post to ``base_url`` instead of Google's host.

    firebase-admin has no option for the FCM endpoint (only the emulators of other
    products have one). Its ``messaging._MessagingService`` builds the send URL once,
    in ``__init__``, from the class constant ``FCM_URL`` and keeps it in the instance
    attribute ``_fcm_url``, which ``send``, ``send_each`` and ``send_each_async`` all
    read. So we create the app's service (the same object ``messaging.send_each(app=)``
    later fetches) and replace that one attribute: other apps in the process and the
    token URL (the service account's ``token_uri``, used by google-auth) are untouched.
    We also mount a connection pool for ``base_url`` like the one firebase-admin mounts
    for ``https://fcm.googleapis.com`` (its generic ``http://`` pool keeps only 10).
    Checked against firebase-admin 7.x; raises RuntimeError if those internals change.
    """
    service = messaging._get_messaging_service(app)
    if not isinstance(getattr(service, "_fcm_url", None), str) or not hasattr(service, "_client"):
        raise RuntimeError(
            f"firebase-admin {firebase_admin.__version__} no longer keeps the FCM send URL in "
            "_MessagingService._fcm_url; update fcm_app_point_at"
        )
    base_url = base_url.rstrip("/")
    service._fcm_url = f"{base_url}/v1/projects/{app.project_id}/messages:send"
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=1,
        pool_maxsize=POOL_SIZE,
        max_retries=retries if retries is not None else _http_client.DEFAULT_RETRY_CONFIG,
    )
    service._client.session.mount(base_url, adapter)


def _data_as_strings(data: dict[str, Any]) -> dict[str, str]:
    # FCM refuses non-string data values (400); JSON keeps numbers and booleans
    # readable by the app ("3", "true") and nested values parseable.
    return {
        str(key): value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for key, value in data.items()
    }


def _retry_after(response: requests.Response | None) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After") if response is not None else None)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (delay in seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _fcm_error_code(error: exceptions.FirebaseError) -> str:
    """FCM's ``errorCode`` ("UNREGISTERED"...) when the answer has one, else the
    google.rpc status firebase-admin derived ("INVALID_ARGUMENT", "UNAVAILABLE"...)."""
    response = error.http_response
    if response is not None:
        try:
            details = response.json()["error"]["details"]
        except (ValueError, KeyError, TypeError):
            details = []
        for detail in details if isinstance(details, list) else []:
            if isinstance(detail, dict) and detail.get("@type", "").endswith("fcm.v1.FcmError"):
                return str(detail.get("errorCode") or error.code)
    return error.code


def _result_for_error(delivery_id: int, error: BaseException) -> PushResult:
    if not isinstance(error, exceptions.FirebaseError):
        return PushResult(delivery_id, Outcome.TRANSIENT, error=f"UNKNOWN: {error}")
    code = _fcm_error_code(error)
    if isinstance(error, (messaging.UnregisteredError, messaging.SenderIdMismatchError)) or (
        code in _INVALID_TOKEN_CODES
    ):
        return PushResult(delivery_id, Outcome.INVALID_ENDPOINT, error=code)
    response = error.http_response
    if response is None:
        # firebase-admin calls a read timeout "UNAVAILABLE: Failed to establish a connection"
        # (requests wraps it in ConnectionError once retries are exhausted); say what it was.
        failure = _network_failure(error)
        return PushResult(delivery_id, Outcome.TRANSIENT, error="DEADLINE_EXCEEDED" if failure == "timeout" else code)
    if response.status_code == 429 or response.status_code >= 500:
        return PushResult(delivery_id, Outcome.TRANSIENT, error=code, retry_after=_retry_after(response))
    return PushResult(delivery_id, Outcome.PERMANENT, error=f"{code}: {error}"[:500])


def empty_token_result(delivery_id: int) -> PushResult:
    # What FCM itself answers for a malformed token: a request error, not a dead device.
    return PushResult(delivery_id, Outcome.PERMANENT, error="INVALID_ARGUMENT: empty registration token")


def _network_failure(error: BaseException | None) -> str | None:
    """For a send that got no HTTP answer: "connect" when the request never left (refused,
    DNS, connect timeout), "timeout" or "read" when FCM may have received it; else None."""
    if not isinstance(error, exceptions.FirebaseError) or error.http_response is not None:
        return None
    cause = error.cause
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return "connect"
    if isinstance(cause, requests.exceptions.Timeout):
        return "timeout"
    if not isinstance(cause, requests.exceptions.ConnectionError):
        return None
    reason = getattr(cause.args[0], "reason", None) if cause.args else None
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):  # NewConnectionError included
        return "connect"
    return "timeout" if isinstance(reason, urllib3.exceptions.TimeoutError) else "read"


class FcmCredentials:
    """A service account's google-auth credential and its OAuth2 token exchange, for
    either transport. Raises PermanentProviderError for an unusable service account."""

    def __init__(self, service_account: dict, *, api_url: str, http_timeout: float) -> None:
        try:
            self.certificate = credentials.Certificate(service_account)
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentProviderError(f"invalid FCM service account: {exc}") from exc
        self.project_id = self.certificate.project_id
        self.credential = self.certificate.get_credential()
        if api_url.rstrip("/") != GOOGLE_FCM_URL:
            self._skip_regional_access_boundary_lookup()
        # Our own session for the token exchange: refreshing once here, under a lock,
        # stops a batch's concurrent requests from each exchanging a JWT on a cold start.
        self._token_session = requests.Session()
        self.token_request = functools.partial(
            google.auth.transport.requests.Request(self._token_session), timeout=http_timeout
        )
        self._token_lock = threading.Lock()

    def _skip_regional_access_boundary_lookup(self) -> None:
        # google-auth 2.4x+ asks iamcredentials.googleapis.com for the service account's
        # "regional access boundary" in a background thread after the first request. Pointed
        # at a fake FCM, that would send Google a token Google never issued (or fail on DNS
        # and log retries), so only talk to the endpoint we were given. Absent in other
        # google-auth versions, where there is nothing to skip.
        if hasattr(self.credential, "_is_regional_access_boundary_lookup_required"):
            self.credential._is_regional_access_boundary_lookup_required = lambda: False

    def ensure_access_token(self) -> None:
        """Have a valid OAuth2 token before fanning out; raises Transient/PermanentProviderError."""
        if self.credential.valid:
            return
        with self._token_lock:
            if self.credential.valid:
                return
            self._refresh()

    def refresh_rejected(self, rejected: str | None) -> None:
        """Exchange a new token because FCM answered 401 to ``rejected``; does nothing when
        another thread already replaced it. Raises Transient/PermanentProviderError."""
        with self._token_lock:
            if self.credential.token == rejected or not self.credential.valid:
                self._refresh()

    def _refresh(self) -> None:
        try:
            self.credential.refresh(self.token_request)
        except google.auth.exceptions.GoogleAuthError as exc:
            raise batch_error(exc) from exc

    def close(self) -> None:
        self._token_session.close()


def batch_error(cause: BaseException) -> TransientProviderError | PermanentProviderError:
    if isinstance(cause, google.auth.exceptions.RefreshError) and not getattr(cause, "retryable", False):
        # invalid_grant and the like: deleted key, disabled account, wrong project.
        return PermanentProviderError(f"FCM credentials refused: {cause}")
    if isinstance(cause, google.auth.exceptions.RefreshError):
        return TransientProviderError(f"OAuth token endpoint failing: {cause}")
    if isinstance(cause, google.auth.exceptions.TransportError):
        return TransientProviderError(f"OAuth token endpoint unreachable: {cause}")
    return TransientProviderError(f"FCM send failed: {cause}")


class FcmProvider:
    """Push through FCM HTTP v1 with one service account, on firebase-admin's ``send_each``
    (``FCM_TRANSPORT=firebase-admin``; ``fcm_aiohttp.AiohttpFcmProvider`` is the default).

    ``send`` accepts at most ``FCM_CHUNK`` targets and raises ValueError above it
    (splitting here would turn a failure of the second call into a retry of targets
    the first call already delivered); callers chunk with ``FANOUT_CHUNK``.
    Raises PermanentProviderError from the constructor for an unusable service account.
    """

    def __init__(
        self,
        *,
        service_account: dict,
        api_url: str | None = None,
        name: str,
        http_timeout: float = DEFAULT_HTTP_TIMEOUT,
    ) -> None:
        self._auth = FcmCredentials(service_account, api_url=api_url or GOOGLE_FCM_URL, http_timeout=http_timeout)
        # firebase_admin keeps apps in a process-wide registry keyed by name; the serial
        # lets a replacement provider exist before the old one is closed.
        self.app_name = f"{name}#{next(_app_serial)}"
        self._app = firebase_admin.initialize_app(
            self._auth.certificate, options={"httpTimeout": http_timeout}, name=self.app_name
        )
        try:
            fcm_app_point_at(self._app, base_url=api_url or GOOGLE_FCM_URL, retries=SEND_RETRIES)
        except Exception:
            firebase_admin.delete_app(self._app)
            raise
        self._closed = False

    def send(self, message: PushMessage, targets: list[PushTarget]) -> list[PushResult]:
        """One result per target, in the order of ``targets``."""
        return self.send_many([(message, target) for target in targets])

    def send_many(self, items: list[tuple[PushMessage, PushTarget]]) -> list[PushResult]:
        """Each target its own message, in one ``send_each`` (many users' pushes at once);
        one result per item, in order."""
        if len(items) > FCM_CHUNK:
            raise ValueError(f"FcmProvider takes at most {FCM_CHUNK} targets a call, got {len(items)}")
        # An empty token would make firebase-admin refuse the whole batch (ValueError).
        sendable = [(message, target) for message, target in items if target.token]
        if not sendable:
            return [empty_token_result(target.delivery_id) for _, target in items]
        self._auth.ensure_access_token()
        templates: dict[int, dict[str, Any]] = {}
        fcm_messages = []
        for message, target in sendable:
            template = templates.get(id(message))
            if template is None:
                template = templates[id(message)] = fcm_message_parts(message)
            fcm_message = messaging.Message(**template)
            # Set after construction: firebase-admin 7.7 warns on every Message(token=...)
            # because FCM now also takes Firebase installation IDs (``fid``); FCM accepts
            # an FID in ``token`` too, so ``token`` serves both kinds of device id.
            fcm_message.token = target.token
            fcm_messages.append(fcm_message)
        try:
            batch = messaging.send_each(fcm_messages, app=self._app)
        except ValueError as exc:  # firebase-admin refused to encode the message
            raise PermanentProviderError(f"FCM message rejected before sending: {exc}") from exc
        except exceptions.FirebaseError as exc:  # a worker thread raised, e.g. a token refresh
            raise batch_error(exc.cause or exc) from exc
        if all(_network_failure(response.exception) == "connect" for response in batch.responses):
            raise TransientProviderError(f"FCM unreachable: {batch.responses[0].exception}")
        responses = iter(batch.responses)
        results = []
        for _, target in items:
            if not target.token:
                results.append(empty_token_result(target.delivery_id))
                continue
            response = next(responses)
            if response.success:
                results.append(PushResult(target.delivery_id, Outcome.SENT, provider_message_id=response.message_id))
            else:
                results.append(_result_for_error(target.delivery_id, response.exception))
        return results

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        service = messaging._get_messaging_service(self._app)
        # delete_app closes only the service's async client, not the requests session
        # holding up to POOL_SIZE sockets.
        service._client.close()
        firebase_admin.delete_app(self._app)
        self._auth.close()


def fcm_message_parts(message: PushMessage) -> dict[str, Any]:
    """Keyword arguments of ``messaging.Message`` shared by every target of ``message``.

    A notification message (``notification`` block) is shown by the system while the
    app is in the background. ``image`` goes in ``notification.image``, which Android
    shows (``android.notification.image`` would only repeat it), and, for iOS devices
    reached through FCM, in ``apns.fcm_options.image`` with ``aps.mutable-content``,
    which the FCM iOS SDK's service extension needs to fetch it; ``sound`` and
    ``badge`` go in ``android.notification`` (``sound``, ``notification_count``) and
    in ``apns.payload.aps``. Without options the message is what it always was.

    A data-only message has no ``notification`` block at all, so the Android app's
    ``onMessageReceived`` runs even in the background; title and body travel in the
    data (``PushMessage.data_with_text``), android priority is "high" so it is
    delivered at once (FCM's default for data messages is "normal", which Doze
    defers), and the apns block is a background push (``content-available``, with
    the ``apns-push-type: background`` and ``apns-priority: 5`` Apple requires).
    """
    collapse_id = message.collapse_id or None
    apns_headers = {
        # APNs: a UNIX time to give up at; "0" = try once, do not store.
        "apns-expiration": str(int(time.time()) + message.ttl) if message.ttl > 0 else "0",
    }
    if collapse_id:
        apns_headers["apns-collapse-id"] = collapse_id
    if message.data_only:
        apns_headers.update({"apns-push-type": "background", "apns-priority": "5"})
        return {
            "data": _data_as_strings(message.data_with_text()),
            "android": messaging.AndroidConfig(ttl=message.ttl, collapse_key=collapse_id, priority="high"),
            "apns": messaging.APNSConfig(
                headers=apns_headers, payload=messaging.APNSPayload(aps=messaging.Aps(content_available=True))
            ),
        }
    image = message.image or None
    sound = message.sound or None
    android_notification = {"tag": collapse_id, "sound": sound, "notification_count": message.badge}
    aps = {"badge": message.badge, "sound": sound, "mutable_content": True if image else None}
    return {
        "notification": messaging.Notification(title=message.title, body=message.body, image=image),
        "data": _data_as_strings(message.data) or None,
        "android": messaging.AndroidConfig(
            ttl=message.ttl,
            collapse_key=collapse_id,
            notification=(
                messaging.AndroidNotification(**android_notification)
                if any(value is not None for value in android_notification.values())
                else None
            ),
        ),
        "apns": messaging.APNSConfig(
            headers=apns_headers,
            payload=(
                messaging.APNSPayload(aps=messaging.Aps(**aps))
                if any(value is not None for value in aps.values())
                else None
            ),
            fcm_options=messaging.APNSFCMOptions(image=image) if image else None,
        ),
    }
