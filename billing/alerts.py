"""Low balance: one alert per crossing below the account's threshold.

``billing.services`` calls ``low_balance_crossed`` in the transaction whose statement
moved the balance below the threshold and set ``low_balance_alerted_at`` (the "once":
a concurrent send waits for that row and then finds it set), and ``low_balance_rearmed``
when money coming in lifted it back above.

An alert is two things, both started by that transaction, so a send rolled back raises
none and a committed crossing raises both:

- the status event ``account.balance_low`` (channel "account"), written in it. The
  webhooks consumer turns it into a delivery for each endpoint that wants it: the same
  signing, retries, address guard and delivery rows as every other event. It has no
  recipient row for the consumer to load, and the account will have moved on by the
  time it is consumed, so the event carries its data: its ``reason`` is the JSON of the
  webhook's data at the crossing (``notifications.webhooks.channels``);
- an e-mail to the tenant's staff through Django's mail settings, queued when the
  transaction commits (``low_balance_email``): a slow or failing mail server never
  delays or breaks the send that crossed. It is retried on a connection error and then
  given up, logged.
"""

from __future__ import annotations

import json
import logging
import random
import smtplib
import uuid
from datetime import datetime
from functools import partial

from celery import shared_task
from django.core.mail import EmailMessage
from django.db import transaction

from accounts.models import User
from billing import money
from billing.models import BillingAccount
from notifications.core.models import Channel, StatusEvent

logger = logging.getLogger(__name__)

BALANCE_LOW = "account.balance_low"
# An account event has no delivery status; the status column says what it reports.
BALANCE_LOW_STATUS = "low"
EMAIL_RETRIES = 5  # connection errors retried this often, then the e-mail is given up (logged)
EMAIL_RETRY_SECONDS = 60.0  # the first retry's delay, doubled at each one: about 30 minutes in all


def low_balance_crossed(
    *, account_id: int, tenant_id: int, balance: int, threshold: int, unit: str, at: datetime
) -> None:
    """Raise the alert, in the caller's transaction: the ``account.balance_low`` status
    event now, the staff e-mail queued on commit. Called once per crossing."""
    account_type = BillingAccount.objects.filter(pk=account_id).values_list("type", flat=True).get()
    data = {
        "balance": money.amount_str(balance, unit=unit),
        "threshold": money.amount_str(threshold, unit=unit),
        "unit": unit,
        "account_type": account_type,
    }
    StatusEvent.objects.create(
        tenant_id=tenant_id,
        channel=Channel.ACCOUNT,
        type=BALANCE_LOW,
        send_id=uuid.uuid4(),  # this alert's id: webhooks name it data.alert_id
        recipient_id=account_id,
        status=BALANCE_LOW_STATUS,
        reason=json.dumps(data, separators=(",", ":")),
        occurred_at=at,
    )
    logger.info(
        "account %s crossed below its low-balance threshold: %s < %s %s",
        account_id,
        data["balance"],
        data["threshold"],
        unit,
    )
    transaction.on_commit(partial(_email_queue, account_id=account_id, balance=balance, threshold=threshold, unit=unit))


def low_balance_rearmed(*, account_id: int) -> None:
    """The balance is back at or above the threshold: the next crossing alerts again
    (``billing.services`` cleared ``low_balance_alerted_at``)."""
    logger.info("account %s is above its low-balance threshold again", account_id)


def _email_queue(*, account_id: int, balance: int, threshold: int, unit: str) -> None:
    try:
        low_balance_email.delay(account_id=account_id, balance=balance, threshold=threshold, unit=unit)
    except Exception:  # the broker is down: the send that crossed is committed, keep it so
        logger.exception("low-balance e-mail of account %s not queued", account_id)


def low_balance_email_send(*, account_id: int, balance: int, threshold: int, unit: str) -> list[str]:
    """E-mail the tenant's staff (its active users with an address), in English and
    French, that the balance fell below the threshold: one message to all of them.
    Returns the addresses (none: nothing sent). Raises what the mail backend raises."""
    account = BillingAccount.objects.select_related("tenant").filter(pk=account_id).first()
    if account is None:
        return []
    to = sorted(
        set(
            User.objects.filter(tenant_id=account.tenant_id, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not to:
        logger.info("low-balance e-mail of account %s: the tenant has no staff address", account_id)
        return []
    shown_balance = f"{money.amount_str(balance, unit=unit)} {unit}"
    shown_threshold = f"{money.amount_str(threshold, unit=unit)} {unit}"
    tenant = account.tenant.name
    subject = f"Low balance / Solde bas: {tenant}, {shown_balance}"
    body = (
        f"The balance of {tenant}'s account is {shown_balance}, below its low-balance threshold of "
        f"{shown_threshold}.\n"
        + (
            "At zero, sends are refused: top up the account to keep sending.\n"
            if account.type == "prepaid"
            else "Sends stop at the account's credit limit.\n"
        )
        + "You will be told again the next time it falls below the threshold after a top-up.\n\n"
        f"Le solde du compte de {tenant} est de {shown_balance}, sous son seuil d'alerte de {shown_threshold}.\n"
        + (
            "À zéro, les envois sont refusés : rechargez le compte pour continuer à envoyer.\n"
            if account.type == "prepaid"
            else "Les envois s'arrêtent à la limite de crédit du compte.\n"
        )
        + "Vous serez de nouveau prévenu la prochaine fois qu'il passera sous le seuil après une recharge.\n"
    )
    EmailMessage(subject=subject, body=body, to=to).send()
    return to


def _permanent(exc: OSError) -> bool:
    """A refusal that sending again would meet again: every recipient refused, or a 5xx."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPNotSupportedError):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


@shared_task(name="billing.alerts.low_balance_email", bind=True, max_retries=EMAIL_RETRIES)
def low_balance_email(self, *, account_id: int, balance: int, threshold: int, unit: str) -> int:
    """Send one alert's e-mail (``low_balance_email_send``); a connection error or a
    temporary refusal is retried with backoff and jitter, up to EMAIL_RETRIES times, then
    given up (logged). Returns how many addresses it went to. A worker killed while
    sending may send it twice: the mail server cannot tell us whether it took it."""
    try:
        return len(low_balance_email_send(account_id=account_id, balance=balance, threshold=threshold, unit=unit))
    except OSError as exc:  # smtplib's errors are OSErrors, as are refused connections and timeouts
        if _permanent(exc) or self.request.retries >= EMAIL_RETRIES:
            logger.error("low-balance e-mail of account %s not sent: %r", account_id, exc)
            return 0
        delay = EMAIL_RETRY_SECONDS * 2**self.request.retries * random.uniform(0.9, 1.1)
        logger.warning("low-balance e-mail of account %s: %r, retried in %.0f s", account_id, exc, delay)
        raise self.retry(exc=exc, countdown=delay) from exc
