"""The one place an SMS send is priced and charged.

Today a credit is one part to one recipient (what Primotexto's ``creditsUsed`` counts),
recorded on the send. Prepaid/postpaid billing plugs in here: ``sms_charge`` runs inside
the transaction that accepts the send, so debiting a balance (and raising
InsufficientBalance to refuse the send) needs no change anywhere else.
"""

from __future__ import annotations

from accounts.models import Tenant
from sms.models import SmsMessage


def sms_price(*, tenant: Tenant, parts: int, recipients: int) -> int:
    """Credits for ``recipients`` numbers of ``parts`` parts each."""
    return parts * recipients


def sms_charge(*, tenant: Tenant, message: SmsMessage, credits: int) -> None:
    """Charge ``credits`` for ``message``; call inside the accepting transaction."""
    message.credits = credits
