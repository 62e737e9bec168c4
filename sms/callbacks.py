"""The tenant's status callback now goes through the webhooks pipeline: see
``notifications.webhooks.legacy`` (its body) and ``notifications.webhooks.signing`` (its
``X-SoftAfrik-Signature``). These names stay importable for code written against them."""

from __future__ import annotations

from notifications.webhooks.legacy import callback_body
from notifications.webhooks.signing import SIGNATURE_HEADER
from notifications.webhooks.signing import legacy_signature as callback_signature

__all__ = ["SIGNATURE_HEADER", "callback_body", "callback_signature"]
