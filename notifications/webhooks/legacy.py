"""The tenant's status callback (``Tenant.status_callback_url``), as a webhook endpoint.

It is an endpoint of its own (kind "legacy"): created on first use for a tenant that
set a URL, fed from the SMS status events (sent, failed, delivered) and delivered
through the same retrying, signed pipeline as the tenant's other endpoints. Its
receivers keep getting what they always got: the body below, and ``X-SoftAfrik-Signature:
sha256=<hex HMAC-SHA256(callback_secret, body)>``, now beside the Standard Webhooks headers.
"""

from __future__ import annotations

from datetime import datetime


def callback_body(*, ref: str, number: str, status: str, reason: str, at: datetime) -> dict:
    """The status callback's body, as it has always been."""
    return {"ref": ref, "number": number, "status": status, "reason": reason, "at": at.isoformat()}
