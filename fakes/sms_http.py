"""Fake Africa's Talking and Twilio SMS APIs on loopback, plus a callback recorder.

Each fake is a threaded HTTP/1.1 (keep-alive) server on 127.0.0.1 that speaks the
provider's documented protocol, so the real adapter code runs against it:

* ``FakeAfricasTalking``: ``POST /version1/messaging``, form ``username``/``to``/``message``/
  ``from``, ``apiKey`` header; answers ``{"SMSMessageData": {"Message", "Recipients": [...]}}``
  (XML unless ``Accept: application/json``, like the real API), 401 plain text on bad
  credentials, 400 on a missing form field.
* ``FakeTwilio``: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic
  auth; 201 with the message resource, or ``{"code", "message", "more_info", "status"}``
  errors (20003, 21211, 21212, 21602-21604, 21617, ...).
* ``CallbackRecorder``: receives the delivery callbacks that ``send_receipt`` POSTs.

Error injection: ``fail_number`` (per destination), ``fail_http`` / ``throttle`` (the next
requests, whatever they carry) and ``delay`` (seconds slept before answering, for timeouts).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http.server
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

import requests

from sms.encoding import split

# Seconds the fakes wait for a callback receiver to answer.
CALLBACK_TIMEOUT = 10.0
E164 = re.compile(r"\+[1-9][0-9]{6,14}")

# -- Africa's Talking ------------------------------------------------------------------

AT_MESSAGING_PATH = "/version1/messaging"
AT_STATUS_NAMES = {
    100: "Processed",
    101: "Success",  # the documented name is "Sent"; the Recipients entry says "Success"
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
AT_STATUS_CODES = {name: code for code, name in AT_STATUS_NAMES.items()} | {"Sent": 101}
AT_ACCEPTED = frozenset({100, 101, 102})
AT_COST = "0.8000"  # KES per message, what a Safaricom number costs on the bulk route
AT_FAILED_RECEIPTS = frozenset({"Failed", "Rejected"})

# -- Twilio ------------------------------------------------------------------------------

TWILIO_API_VERSION = "2010-04-01"
TWILIO_MESSAGES_PATH = re.compile(r"/2010-04-01/Accounts/([^/]+)/Messages\.json")
# Twilio error code -> (HTTP status, message). "{to}" / "{sender}" are filled in.
TWILIO_ERRORS = {
    14107: (400, "SMS send rate limit exceeded"),
    20003: (401, "Authenticate"),
    20004: (405, "Method not allowed"),
    20404: (404, "The requested resource {path} was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    20503: (503, "Service is unavailable. Please try again"),
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21212: (400, "The 'From' number {sender} is not a valid phone number, shortcode, or alphanumeric sender ID."),
    21408: (400, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}."),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21609: (400, "Invalid StatusCallback url"),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21612: (400, "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
}
# An injected bare HTTP status answers with Twilio's code for it; others get a proxy's
# plain-text page, as a real outage would.
TWILIO_CODE_FOR_STATUS = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
TWILIO_MAX_BODY = 1600
TWILIO_SENDER = re.compile(r"\+[1-9][0-9]{6,14}|[0-9]{3,8}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
TWILIO_FAILED_RECEIPTS = frozenset({"failed", "undelivered"})
TWILIO_UNKNOWN_ERROR = "30008"


@dataclass(frozen=True)
class ReceivedSms:
    message_id: str  # the id the fake answered: ATXid_... / SM...
    to: str
    sender: str | None  # ``from`` / ``From``; None when left out (or a messaging service)
    text: str  # ``message`` / ``Body``
    status_callback: str | None  # Twilio ``StatusCallback``; always None for Africa's Talking
    fields: dict[str, str]  # the whole form as received


@dataclass(frozen=True)
class ReceivedCallback:
    path: str  # path and query string as requested
    headers: dict[str, str]  # names lower-cased
    form: dict[str, str]
    body: bytes = b""  # the raw body, e.g. a JSON status callback


@dataclass
class _Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class _Failure:
    value: int | str
    times: int | None  # None = until cleared


class _FakeServer:
    """Lifecycle, counters and error injection shared by the fakes."""

    def __init__(self) -> None:
        self.delay: float = 0.0
        self._lock = threading.Lock()
        self._received: list[ReceivedSms] = []
        self._number_failures: dict[str, _Failure] = {}
        self._http_failure: _Failure | None = None
        self._request_count = 0
        self._connection_count = 0
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping on ``delay``
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server origin, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- error injection -------------------------------------------------------------

    def fail_number(self, number: str, code_or_status: int | str | None, times: int | None = None) -> None:
        """Fail the next ``times`` messages to ``number`` (forever if None); None clears."""
        with self._lock:
            if code_or_status is None:
                self._number_failures.pop(number, None)
            else:
                self._number_failures[number] = _Failure(code_or_status, times)

    def fail_http(self, status: int | None, times: int | None = 1) -> None:
        """Answer HTTP ``status`` to the next ``times`` authenticated requests; None clears."""
        with self._lock:
            self._http_failure = None if status is None else _Failure(status, times)

    def throttle(self, times: int | None = 1) -> None:
        """Answer 429 to the next ``times`` authenticated requests."""
        self.fail_http(429, times)

    def _take_number_failure(self, number: str) -> int | str | None:
        with self._lock:
            failure = self._number_failures.get(number)
            if failure is None:
                return None
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._number_failures[number]
            return failure.value

    def _take_http_failure(self) -> int | None:
        with self._lock:
            failure = self._http_failure
            if failure is None:
                return None
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._http_failure = None
            return int(failure.value)

    # -- inspection ------------------------------------------------------------------

    @property
    def received(self) -> list[ReceivedSms]:
        """A snapshot of the messages accepted so far, in arrival order."""
        with self._lock:
            return list(self._received)

    @property
    def request_count(self) -> int:
        """Every HTTP request that reached the server, accepted or not."""
        with self._lock:
            return self._request_count

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._connection_count

    def _record(self, sms: ReceivedSms) -> None:
        with self._lock:
            self._received.append(sms)

    def _find(self, message_id: str) -> ReceivedSms | None:
        with self._lock:
            return next((sms for sms in self._received if sms.message_id == message_id), None)

    # -- called from handler threads -------------------------------------------------

    def _connection_opened(self) -> None:
        with self._lock:
            self._connection_count += 1

    def _dispatch(self, method: str, path: str, headers: Any, body: bytes) -> _Response:
        with self._lock:
            self._request_count += 1
        if self.delay:
            self._stopping.wait(self.delay)
        return self._handle(method, path, headers, body)

    def _handle(self, method: str, path: str, headers: Any, body: bytes) -> _Response:
        raise NotImplementedError


class FakeAfricasTalking(_FakeServer):
    """Africa's Talking bulk SMS API. Point the adapter's ``base_url`` at ``url``.

    ``sender_ids``: when set, a ``from`` outside it gets ``InvalidSenderId`` for the whole
    request (``Recipients: []``), as for an unregistered sender ID.
    ``fail_number(number, status)`` takes a recipient ``statusCode`` (403) or its name
    ("InvalidPhoneNumber").
    """

    def __init__(self, *, username: str = "softafrik", api_key: str | None = None) -> None:
        super().__init__()
        self.username = username
        self.api_key = api_key or f"atsk_{uuid.uuid4().hex}{uuid.uuid4().hex}"
        self.sender_ids: set[str] | None = None

    def send_receipt(
        self,
        message_id: str,
        status: str,
        url: str,
        *,
        failure_reason: str | None = None,
        network_code: str = "63902",
        retry_count: int = 0,
    ) -> int:
        """POST a delivery report for ``message_id`` to ``url``; return the HTTP status.

        ``status``: Sent, Submitted, Buffered, Rejected, Success, Failed, AbsentSubscriber,
        Expired. Failed and Rejected carry a ``failureReason`` (default DeliveryFailure).
        """
        sms = self._find(message_id)
        form = {"id": message_id, "status": status, "phoneNumber": sms.to if sms else "", "networkCode": network_code}
        if failure_reason is None and status in AT_FAILED_RECEIPTS:
            failure_reason = "DeliveryFailure"
        if failure_reason is not None:
            form["failureReason"] = failure_reason
        form["retryCount"] = str(retry_count)
        return requests.post(url, data=form, timeout=CALLBACK_TIMEOUT).status_code

    def _handle(self, method: str, path: str, headers: Any, body: bytes) -> _Response:
        if urlsplit(path).path != AT_MESSAGING_PATH:
            return _text(404, "Not Found")
        if method != "POST":
            return _text(405, "Method Not Allowed")
        form = _form(headers, body)
        if headers.get("apiKey") != self.api_key or form.get("username") != self.username:
            return _text(401, "The supplied authentication is invalid")
        injected = self._take_http_failure()
        if injected is not None:
            response = _text(injected, "Too Many Requests" if injected == 429 else "injected failure")
            if injected == 429:
                response.headers["Retry-After"] = "1"
            return response
        for name in ("to", "message"):
            if not form.get(name):
                return _text(400, f"Request is missing required form field '{name}'")

        sender = form.get("from") or None
        wants_json = "application/json" in headers.get("Accept", "")
        if self.sender_ids is not None and sender is not None and sender not in self.sender_ids:
            return _at_answer("InvalidSenderId", [], wants_json)
        numbers = [number.strip() for number in form["to"].split(",") if number.strip()]
        recipients = []
        for number in numbers:
            injected_status = self._take_number_failure(number)
            if injected_status is None:
                code = 101 if E164.fullmatch(number) else 403
            else:
                code = injected_status if isinstance(injected_status, int) else AT_STATUS_CODES[injected_status]
            entry = {
                "statusCode": code,
                "number": number,
                "status": AT_STATUS_NAMES[code],
                "cost": "0",
                "messageId": "None",
            }
            if code in AT_ACCEPTED:
                entry["messageId"] = f"ATXid_{uuid.uuid4().hex}"
                entry["cost"] = f"KES {AT_COST}"
                self._record(ReceivedSms(entry["messageId"], number, sender, form["message"], None, form))
            recipients.append(entry)
        sent = sum(1 for entry in recipients if entry["statusCode"] in AT_ACCEPTED)
        summary = f"Sent to {sent}/{len(numbers)} Total Cost: KES {sent * float(AT_COST):.4f}"
        return _at_answer(summary, recipients, wants_json)


class FakeTwilio(_FakeServer):
    """Twilio's Messages API. Point the adapter's ``base_url`` at ``url``.

    ``fail_number(number, code)`` takes a Twilio error code (21610) or a bare HTTP status
    (503). A request whose Basic auth user is not the SID in the path gets 20003, like bad
    credentials.
    """

    def __init__(self, *, account_sid: str | None = None, auth_token: str | None = None) -> None:
        super().__init__()
        self.account_sid = account_sid or f"AC{uuid.uuid4().hex}"
        self.auth_token = auth_token or uuid.uuid4().hex

    def send_receipt(self, message_id: str, status: str, url: str, *, error_code: str | int | None = None) -> int:
        """POST a status callback for ``message_id`` to ``url``, signed; return the HTTP status.

        ``status``: queued, sending, sent, delivered, undelivered, failed (and read,
        canceled...). undelivered/failed carry ``ErrorCode`` (default 30008, unknown error).
        """
        sms = self._find(message_id)
        form = {
            "SmsSid": message_id,
            "SmsStatus": status,
            "MessageStatus": status,
            "To": sms.to if sms else "",
            "MessageSid": message_id,
            "AccountSid": self.account_sid,
            "From": (sms.sender or "") if sms else "",
            "ApiVersion": TWILIO_API_VERSION,
        }
        if error_code is None and status in TWILIO_FAILED_RECEIPTS:
            error_code = TWILIO_UNKNOWN_ERROR
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, url, form), "User-Agent": "TwilioProxy/1.1"}
        return requests.post(url, data=form, headers=headers, timeout=CALLBACK_TIMEOUT).status_code

    def _handle(self, method: str, path: str, headers: Any, body: bytes) -> _Response:
        path = urlsplit(path).path
        match = TWILIO_MESSAGES_PATH.fullmatch(path)
        if match is None:
            return _twilio_error(20404, path=path)
        if not self._authenticated(headers.get("Authorization", ""), match.group(1)):
            response = _twilio_error(20003)
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return response
        if method != "POST":
            return _twilio_error(20004)
        injected = self._take_http_failure()
        if injected is not None:
            return _twilio_injected(injected, to="", sender="")

        form = _form(headers, body)
        to = form.get("To", "")
        sender = form.get("From") or None
        service = form.get("MessagingServiceSid") or None
        text = form.get("Body", "")
        callback = form.get("StatusCallback") or None
        if not to:
            return _twilio_error(21604)
        if sender is None and service is None:
            return _twilio_error(21603)
        if not text:
            return _twilio_error(21602)
        if not E164.fullmatch(to):
            return _twilio_error(21211, to=to)
        if sender is not None and not TWILIO_SENDER.fullmatch(sender):
            return _twilio_error(21212, sender=sender)
        if len(text) > TWILIO_MAX_BODY:
            return _twilio_error(21617)
        if callback is not None and urlsplit(callback).scheme not in ("http", "https"):
            return _twilio_error(21609)
        injected = self._take_number_failure(to)
        if injected is not None:
            return _twilio_injected(int(injected), to=to, sender=sender or "")

        sid = f"SM{uuid.uuid4().hex}"
        self._record(ReceivedSms(sid, to, sender, text, callback, form))
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        base = f"/{TWILIO_API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        resource = {
            "account_sid": self.account_sid,
            "api_version": TWILIO_API_VERSION,
            "body": text,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(split(text).part_count),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": to,
            "uri": f"{base}.json",
        }
        return _json(201, resource)

    def _authenticated(self, header: str, path_sid: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            hmac.compare_digest(user, self.account_sid)
            and hmac.compare_digest(password, self.auth_token)
            and path_sid == self.account_sid
        )


class CallbackRecorder(_FakeServer):
    """Our side of delivery callbacks: records every POST and answers ``status``."""

    def __init__(self, *, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self._callbacks: list[ReceivedCallback] = []

    @property
    def callbacks(self) -> list[ReceivedCallback]:
        with self._lock:
            return list(self._callbacks)

    def _handle(self, method: str, path: str, headers: Any, body: bytes) -> _Response:
        callback = ReceivedCallback(
            path=path,
            headers={name.lower(): value for name, value in headers.items()},
            form=_form(headers, body),
            body=body,
        )
        with self._lock:
            self._callbacks.append(callback)
        return _Response(self.status)


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL then each name+value, names sorted."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # A batch opens up to 16 connections at once; the default backlog of 5 would drop SYNs
    # and cost a 1 s retransmit.
    request_queue_size = 128


class _Handler(http.server.BaseHTTPRequestHandler):
    fake: _FakeServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    disable_nagle_algorithm = True  # headers and body are separate writes
    timeout = 30  # close idle keep-alive connections eventually

    def setup(self) -> None:
        super().setup()
        self.fake._connection_opened()

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.fake._dispatch(method, self.path, self.headers, body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per message would drown test output


def _form(headers: Any, body: bytes) -> dict[str, str]:
    if not headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def _text(status: int, message: str) -> _Response:
    return _Response(status, {"Content-Type": "text/plain"}, message.encode())


def _json(status: int, payload: Any) -> _Response:
    return _Response(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())


def _at_answer(summary: str, recipients: list[dict[str, Any]], wants_json: bool) -> _Response:
    if wants_json:
        return _json(201, {"SMSMessageData": {"Message": summary, "Recipients": recipients}})
    root = ElementTree.Element("AfricasTalkingResponse")
    data = ElementTree.SubElement(root, "SMSMessageData")
    ElementTree.SubElement(data, "Message").text = summary
    listing = ElementTree.SubElement(data, "Recipients")
    for entry in recipients:
        recipient = ElementTree.SubElement(listing, "Recipient")
        for name, value in entry.items():
            ElementTree.SubElement(recipient, name).text = str(value)
    body = b'<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(root)
    return _Response(201, {"Content-Type": "application/xml"}, body)


def _twilio_error(code: int, **values: str) -> _Response:
    status, message = TWILIO_ERRORS[code]
    payload = {
        "code": code,
        "message": message.format(**{"to": "", "sender": "", "path": ""} | values),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return _json(status, payload)


def _twilio_injected(code_or_status: int, *, to: str, sender: str) -> _Response:
    if code_or_status in TWILIO_ERRORS:
        return _twilio_error(code_or_status, to=to, sender=sender)
    if code_or_status >= 600:  # a Twilio code this fake has no message for
        payload = {
            "code": code_or_status,
            "message": "injected error",
            "more_info": f"https://www.twilio.com/docs/errors/{code_or_status}",
            "status": 400,
        }
        return _json(400, payload)
    code = TWILIO_CODE_FOR_STATUS.get(code_or_status)
    if code is not None:
        return _twilio_error(code)
    return _Response(code_or_status, {"Content-Type": "text/html"}, b"<html><body>Bad Gateway</body></html>")
