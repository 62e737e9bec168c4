"""Idempotent sends: the ``Idempotency-Key`` header of every sending request, in every
dialect (the IETF draft httpapi-idempotency-key-header, as Stripe does it).

A view method decorated with ``@idempotent(...)``, called with the header:

* claims the key for the tenant, one ``INSERT ... ON CONFLICT DO NOTHING`` committed
  before the view runs, so a concurrent request with the key sees the claim (409);
* runs the view and writes its answer (status, Content-Type, body) in one transaction
  with the view's own writes, and only while the claim is still its own: the send and
  its stored answer commit together or not at all. A process killed before the commit
  sent nothing; its claim is taken over once older than ``IDEMPOTENCY_LEASE_SECONDS``.
  An answer of 500 or more (or an exception) is not stored: the claim is deleted, so
  the client may retry;
* answers a later request with the same key and the same request (method, path with its
  query string, body as parsed JSON) with the stored answer and ``Idempotent-Replayed:
  true``, sending and charging nothing; another request with the key is a 422.

Records older than ``IDEMPOTENCY_RETENTION_HOURS`` are treated as absent (the key may be
used again) and purged hourly by beat (``accounts.tasks.idempotency_purge``). Errors are
DomainErrors, so each dialect's exception handler gives them its own body.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.settings import api_settings

from accounts.models import IdempotentRequest
from softafrik.errors import DomainError

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = IdempotentRequest._meta.get_field("key").max_length  # 255
CONTENT_TYPE_MAX_LENGTH = IdempotentRequest._meta.get_field("content_type").max_length
# The draft's key is a Structured Field string: printable ASCII, optionally quoted.
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
_ESCAPED = re.compile(r'\\(["\\])')
# A claim taken by another request at the same moment (or released meanwhile) is read
# again; after this many rounds the key is in use.
CLAIM_ROUNDS = 3
PURGE_BATCH = 5000  # rows per DELETE: bounds the statement's locks and its WAL burst
PURGE_MAX_BATCHES = 200  # per run: an hourly run catches up over a few hours at worst


class IdempotencyKeyInvalid(DomainError):
    """The header is empty, too long or not printable ASCII (400)."""

    code = "invalid"

    def __init__(self, reason: str):
        super().__init__(f"{HEADER}: {reason}", field=HEADER)


class IdempotencyKeyInUse(DomainError):
    """The first request with this key is still being processed (409)."""

    status_code = 409
    code = "idempotency_key_in_use"

    def __init__(self):
        super().__init__(f"A request with this {HEADER} is still being processed; retry later.")


class IdempotencyKeyReused(DomainError):
    """The key was used for another request (another body, method or path) (422)."""

    status_code = 422
    code = "idempotency_key_reused"

    def __init__(self):
        super().__init__(
            f"This {HEADER} was used for another request (body, method or path): use a new key.", field=HEADER
        )


# --- Reading the request ------------------------------------------------------------------


def request_key(request) -> str | None:
    """The request's key (None: no header). Raises IdempotencyKeyInvalid.

    ``"abc"`` (the draft's quoted form) and ``abc`` are the same key."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip(" \t")
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = _ESCAPED.sub(r"\1", key[1:-1])
    if not key:
        raise IdempotencyKeyInvalid("must not be empty.")
    if len(key) > KEY_MAX_LENGTH:
        raise IdempotencyKeyInvalid(f"at most {KEY_MAX_LENGTH} characters ({len(key)} given).")
    if not _PRINTABLE.match(key):
        raise IdempotencyKeyInvalid("printable ASCII characters only.")
    return key


def request_fingerprint(request) -> str:
    """SHA-256 (hex) of the method, the path with its query string, and the body as the
    view reads it (parsed JSON, keys sorted: the same object however it is spaced or
    ordered). Reading the body may raise the dialect's 400 (bad JSON) or 415."""
    body = json.dumps(request.data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    text = f"{request.method}\n{request.get_full_path()}\n{body}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- Claims and answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A key this request holds: its row, and the claim's time (which a takeover changes,
    so it also tells whether the claim is still this request's)."""

    pk: int
    created_at: datetime


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    content_type: str
    body: bytes


# The claim: one statement, the same on PostgreSQL and SQLite (3.35+ for RETURNING).
_CLAIM_SQL = (
    'INSERT INTO accounts_idempotentrequest (tenant_id, "key", fingerprint, status_code, content_type, body,'
    " created_at) VALUES (%s, %s, %s, NULL, '', %s, %s) ON CONFLICT (tenant_id, \"key\") DO NOTHING RETURNING id"
)


def idempotency_claim(*, tenant_id: int, key: str, fingerprint: str) -> Claim | StoredAnswer:
    """Claim ``key`` for this request, or find the answer it already got.

    Returns a Claim (the request runs; the row is committed unless the caller holds a
    transaction) or the StoredAnswer of the same request. Raises IdempotencyKeyReused
    when the key's live record is another request's, IdempotencyKeyInUse while it is
    being processed. A record past the retention, or a claim past its lease (a crashed
    process), is taken over by one conditional UPDATE: of two requests, one wins."""
    retention = timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS)
    lease = timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)
    for _ in range(CLAIM_ROUNDS):
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                _CLAIM_SQL, [tenant_id, key, fingerprint, b"", connection.ops.adapt_datetimefield_value(now)]
            )
            row = cursor.fetchone()
        if row is not None:
            return Claim(pk=row[0], created_at=now)
        found = (
            IdempotentRequest.objects.filter(tenant_id=tenant_id, key=key)
            .values_list("pk", "fingerprint", "status_code", "content_type", "body", "created_at")
            .first()
        )
        if found is None:  # released or purged since the INSERT: try again
            continue
        pk, their_fingerprint, status_code, content_type, body, created_at = found
        if created_at > now - retention:
            if their_fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            if status_code is not None:
                return StoredAnswer(status_code=status_code, content_type=content_type, body=bytes(body))
            if created_at > now - lease:
                raise IdempotencyKeyInUse()
        # Past the retention (absent), or a claim past its lease: take it over, if it is
        # still what was read (an answer stored meanwhile is not overwritten).
        as_read = {"status_code__isnull": True} if status_code is None else {"status_code": status_code}
        taken = IdempotentRequest.objects.filter(pk=pk, created_at=created_at, **as_read)
        if taken.update(fingerprint=fingerprint, status_code=None, content_type="", body=b"", created_at=now):
            if status_code is None:
                logger.warning("Idempotency-Key %r of tenant %s: a claim past its lease taken over", key, tenant_id)
            return Claim(pk=pk, created_at=now)
    raise IdempotencyKeyInUse()


def _held(claim: Claim):
    return IdempotentRequest.objects.filter(pk=claim.pk, created_at=claim.created_at, status_code__isnull=True)


def idempotency_store(*, claim: Claim, status_code: int, content_type: str, body: bytes) -> bool:
    """Keep the answer of the claimed request, in the caller's transaction (the view's).
    False: the claim is no longer this request's (taken over past its lease, or purged)
    and nothing was written; the caller must then roll its work back."""
    return bool(
        _held(claim).update(status_code=status_code, content_type=content_type[:CONTENT_TYPE_MAX_LENGTH], body=body)
    )


def idempotency_release(*, claim: Claim) -> None:
    """Give the key up (the request failed: the client may retry with it). Never raises:
    a claim that cannot be deleted (the database is down) expires with its lease."""
    try:
        _held(claim).delete()
    except DatabaseError:
        logger.warning("Idempotency claim %s not released; its lease will expire", claim.pk, exc_info=True)


def idempotency_purge(*, older_than: timedelta, batch: int = PURGE_BATCH, max_batches: int = PURGE_MAX_BATCHES) -> int:
    """Delete records older than ``older_than`` (already ignored by claims), in batches
    of ``batch``, oldest first. Returns how many."""
    old = IdempotentRequest.objects.filter(created_at__lt=timezone.now() - older_than)
    total = 0
    for _ in range(max_batches):
        ids = list(old.order_by("created_at").values_list("pk", flat=True)[:batch])
        if not ids:
            break
        total += IdempotentRequest.objects.filter(pk__in=ids, created_at__lt=timezone.now() - older_than).delete()[0]
        if len(ids) < batch:
            break
    return total


# --- The view decorator ---------------------------------------------------------------------


def key_parameter() -> OpenApiParameter:
    """The header, as the OpenAPI schema documents it on every idempotent operation."""
    return OpenApiParameter(
        HEADER,
        {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH, "pattern": "^[ -~]+$"},
        OpenApiParameter.HEADER,
        required=False,
        description=(
            "Makes the request safe to retry: the same key with the same request within "
            f"{settings.IDEMPOTENCY_RETENTION_HOURS:g} h answers the first answer again, with "
            f"`{REPLAYED_HEADER}: true`, sending and charging nothing. The key with another request: 422; "
            f"while the first is still being processed: 409. At most {KEY_MAX_LENGTH} printable ASCII "
            "characters; scoped to your account."
        ),
    )


class _Discarded(Exception):
    """The view answered 500 or more: its work is rolled back and its answer not kept."""

    def __init__(self, response):
        self.response = response


class _ClaimLost(Exception):
    """The claim was taken over while the view ran: its work is rolled back."""


def _respond(view, method, request, args, kwargs):
    """The view's answer as the client gets it: errors shaped by the dialect's handler,
    rendered."""
    try:
        response = method(view, request, *args, **kwargs)
    except Exception as exc:
        response = view.handle_exception(exc)  # re-raises what no handler answers
    response = view.finalize_response(request, response, *args, **kwargs)
    if hasattr(response, "render"):
        response.render()
    return response


def _replay(answer: StoredAnswer) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status_code, content_type=answer.content_type or None)
    response[REPLAYED_HEADER] = "true"
    return response


def _call_once(view, method, request, args, kwargs):
    key = request_key(request)
    if key is None:
        return method(view, request, *args, **kwargs)
    tenant_id = request.user.tenant.pk
    claimed = idempotency_claim(tenant_id=tenant_id, key=key, fingerprint=request_fingerprint(request))
    if isinstance(claimed, StoredAnswer):
        return _replay(claimed)
    try:
        with transaction.atomic():
            response = _respond(view, method, request, args, kwargs)
            if response.status_code >= 500:
                raise _Discarded(response)
            stored = idempotency_store(
                claim=claimed,
                status_code=response.status_code,
                content_type=response.get("Content-Type", ""),
                body=response.content,
            )
            if not stored:
                raise _ClaimLost()
    except _Discarded as discarded:
        idempotency_release(claim=claimed)
        return discarded.response
    except _ClaimLost:
        logger.warning("Idempotency-Key %r of tenant %s: claim lost while processing, rolled back", key, tenant_id)
        raise IdempotencyKeyInUse() from None
    except BaseException:
        idempotency_release(claim=claimed)
        raise
    return response


def idempotent(*, errors=None):
    """Decorate a sending view method (``post``) so it takes an ``Idempotency-Key``
    (see the module docstring). ``errors``: the dialect's error serializer, documented
    for 409, 422 and (unless the view documents it) 400. Put it above ``@extend_schema``:
    it adds the header and those responses to the operation's schema."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(view, request, *args, **kwargs):
            return _call_once(view, method, request, args, kwargs)

        kwargs = dict(getattr(method, "kwargs", {}))
        kwargs["schema"] = _schema_with_key(kwargs.get("schema") or api_settings.DEFAULT_SCHEMA_CLASS, errors)
        wrapper.kwargs = kwargs
        return wrapper

    return decorate


def _schema_with_key(base, errors):
    if not isinstance(base, type):
        base = type(base)

    class IdempotentSchema(base):
        def get_override_parameters(self):
            return [*super().get_override_parameters(), key_parameter()]

        def get_response_serializers(self):
            responses = super().get_response_serializers()
            if errors is None or not isinstance(responses, dict):
                return responses
            bad_key = {} if 400 in responses or "400" in responses else {400: errors}
            return {**responses, **bad_key, 409: errors, 422: errors}

    return IdempotentSchema
