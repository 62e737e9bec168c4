"""SMS sends against a prepaid balance: reserved when accepted, settled when the SMSC
takes a number, released when it never leaves; the ledger checked after each one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.consumer import billing_consume
from billing.models import AccountType, BillingAccount, Charge, EntryKind, LedgerEntry, Tariff
from billing.services import InsufficientBalance, account_topup
from billing.tests.conftest import CREDIT, assert_ledger_consistent, funded
from notifications.core.claims import claim_pending_rows
from notifications.core.events import events_record
from notifications.core.status import DeliveryStatus
from sms import campaigns, delivery
from sms.models import BlacklistedNumber, SmsMessage, SmsRecipient, SmsState
from sms.services import CampaignSpec, sms_cancel
from sms.tests.test_delivery import CI, HANDED, TG, TG2, send_all, submit

pytestmark = pytest.mark.django_db(transaction=True)


def books(account: BillingAccount) -> tuple[int, int, int]:
    account.refresh_from_db()
    return account.balance, account.reserved, account.spent


def test_a_send_reserves_then_settles_when_the_smsc_takes_it(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 20)
    message = submit(owner, [TG, CI])
    assert books(account) == (18 * CREDIT, 2 * CREDIT, 0)
    assert (message.amount, message.credits) == (2 * CREDIT, 2)
    send_all(message)
    assert billing_consume() > 0
    assert books(account) == (18 * CREDIT, 0, 2 * CREDIT)
    assert sorted(Charge.objects.values_list("settled", "amount", "country")) == [
        (True, CREDIT, "CI"),
        (True, CREDIT, "TG"),
    ]
    assert_ledger_consistent(account)


def test_a_long_text_costs_one_credit_per_part(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 20)
    message = submit(owner, [TG], text="x" * 300)
    assert message.parts == 2
    assert books(account) == (18 * CREDIT, 2 * CREDIT, 0)
    assert_ledger_consistent(account)


def test_the_longest_prefix_wins_and_the_tenant_overrides_the_platform(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 100)
    Tariff.objects.create(channel="sms", prefix="", price=150)  # the platform's default: 1.50
    Tariff.objects.create(channel="sms", prefix="228", price=50)  # Togo
    Tariff.objects.create(channel="sms", prefix="22890", price=25)  # one operator's range
    Tariff.objects.create(tenant=owner.tenant, channel="sms", prefix="225", price=200)  # this tenant's CI price
    message = submit(owner, [TG, TG2, CI, "+33612345678"])
    prices = dict(SmsRecipient.objects.filter(message=message).values_list("number", "price"))
    assert prices == {TG: 25, TG2: 50, CI: 200, "+33612345678": 150}
    assert message.amount == 425
    assert books(account) == (100 * CREDIT - 425, 425, 0)
    assert_ledger_consistent(account)


def test_a_send_the_balance_cannot_pay_is_refused_whole(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 1)
    entries = LedgerEntry.objects.count()
    with pytest.raises(InsufficientBalance):
        submit(owner, [TG, CI])
    assert SmsMessage.objects.count() == 0
    assert SmsRecipient.objects.count() == 0
    assert books(account) == (CREDIT, 0, 0)
    assert LedgerEntry.objects.count() == entries
    assert smsc.received == []
    assert_ledger_consistent(account)


def test_a_balance_of_exactly_the_price_pays_and_reaches_zero(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 2)
    submit(owner, [TG, CI])
    assert books(account) == (0, 2 * CREDIT, 0)
    with pytest.raises(InsufficientBalance):
        submit(owner, [TG])
    assert_ledger_consistent(account)


def test_a_postpaid_account_goes_below_zero_down_to_its_credit_limit(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 0, type=AccountType.POSTPAID, credit_limit=3 * CREDIT)
    submit(owner, [TG, CI])
    submit(owner, [TG])
    assert books(account) == (-3 * CREDIT, 3 * CREDIT, 0)
    with pytest.raises(InsufficientBalance):
        submit(owner, [TG])
    assert_ledger_consistent(account)


def test_a_postpaid_account_without_a_limit_is_never_refused(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 0, type=AccountType.POSTPAID)
    submit(owner, [f"+2289012{i:04d}" for i in range(50)])
    assert books(account) == (-50 * CREDIT, 50 * CREDIT, 0)
    assert_ledger_consistent(account)


# --- Releases: whatever never left the platform ------------------------------------------


def test_a_cancelled_send_is_released_whole(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 10)
    message = submit(owner, [TG, CI], scheduled_at=timezone.now() + timedelta(hours=1))
    assert books(account) == (8 * CREDIT, 2 * CREDIT, 0)
    assert sms_cancel(message=message) == 2
    billing_consume()
    assert books(account) == (10 * CREDIT, 0, 0)
    assert sorted(Charge.objects.values_list("settled", flat=True)) == [False, False]
    assert_ledger_consistent(account)


def test_a_blacklisted_number_is_never_charged(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 10)
    BlacklistedNumber.objects.create(tenant=owner.tenant, number=CI)
    message = submit(owner, [TG, CI])
    assert message.amount == CREDIT
    send_all(message)
    billing_consume()
    assert books(account) == (9 * CREDIT, 0, CREDIT)
    assert_ledger_consistent(account)


def test_a_number_no_route_serves_is_released(owner, sender, smsc, smpp_route):
    smpp_route.countries = "CI"
    smpp_route.save()
    account = funded(owner.tenant, 10)
    message = submit(owner, [TG, CI])
    send_all(message)
    billing_consume()
    statuses = dict(SmsRecipient.objects.values_list("number", "status"))
    assert statuses[TG] == DeliveryStatus.FAILED
    assert statuses[CI] in HANDED
    assert books(account) == (9 * CREDIT, 0, CREDIT)
    assert_ledger_consistent(account)


def test_a_permanent_refusal_before_the_network_is_released(owner, sender, smsc, smpp_route):
    smsc.reject(TG[1:], 0x0B)
    account = funded(owner.tenant, 10)
    send_all(submit(owner, [TG, CI]))
    billing_consume()
    assert books(account) == (9 * CREDIT, 0, CREDIT)
    assert_ledger_consistent(account)


def test_an_undelivered_receipt_after_the_network_took_it_stays_charged(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 10)
    message = submit(owner, [TG])
    send_all(message)
    billing_consume()
    recipient = SmsRecipient.objects.get()
    # The operator's receipt: undelivered (recorded as the receipt path does, status + event).
    SmsRecipient.objects.filter(pk=recipient.pk).update(status=DeliveryStatus.FAILED, error="UNDELIV")
    events_record(
        channel="sms", changes=[(owner.tenant.pk, message.pk, recipient.pk, DeliveryStatus.FAILED, "UNDELIV")]
    )
    billing_consume()
    assert books(account) == (9 * CREDIT, 0, CREDIT)
    assert list(Charge.objects.values_list("settled", flat=True)) == [True]
    assert_ledger_consistent(account)


def test_a_repeated_sent_event_settles_once(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 10)
    message = submit(owner, [TG])
    send_all(message)
    recipient = SmsRecipient.objects.get()
    # A stale worker records the same number again (its UPDATE matches nothing, its event is written).
    events_record(channel="sms", changes=[(owner.tenant.pk, message.pk, recipient.pk, DeliveryStatus.SENT, "")])
    billing_consume()
    events_record(channel="sms", changes=[(owner.tenant.pk, message.pk, recipient.pk, DeliveryStatus.SENT, "")])
    billing_consume()
    assert books(account) == (9 * CREDIT, 0, CREDIT)
    assert Charge.objects.count() == 1
    assert_ledger_consistent(account)


def test_a_worker_killed_mid_chunk_charges_what_the_network_took(owner, sender, smsc, smpp_route, settings):
    account = funded(owner.tenant, 10)
    message = submit(owner, [TG, CI, TG2])
    ids = list(SmsRecipient.objects.filter(message=message).values_list("pk", flat=True))
    # A worker claims the chunk and dies before recording anything.
    claim, rows = claim_pending_rows(SmsRecipient, ids, delivery.SMS.columns)
    assert claim is not None and len(rows) == 3
    assert delivery.sms_send_chunk(recipient_ids=ids) == {}  # claimed: nobody else sends them
    # Past the lease, the sweeper hands them out again; one is refused this time.
    smsc.reject(TG2[1:], 0x0B)
    SmsRecipient.objects.update(claimed_at=timezone.now() - timedelta(seconds=settings.SMS_SENDING_LEASE_SECONDS + 1))
    for chunk in delivery.recipients_due():
        delivery.sms_send_chunk(recipient_ids=chunk)
    # A number that met a transient error on the way (a loaded machine) is retried by the
    # sweeper, as beat would: run it until nothing waits.
    for _ in range(5):
        waiting = SmsRecipient.objects.filter(status=DeliveryStatus.PENDING)
        if not waiting.exists():
            break
        waiting.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        for chunk in delivery.recipients_due():
            delivery.sms_send_chunk(recipient_ids=chunk)
    billing_consume()
    handed = SmsRecipient.objects.filter(status__in=HANDED).count()
    assert handed == 2, list(SmsRecipient.objects.values_list("number", "status", "error"))
    assert books(account) == (8 * CREDIT, 0, handed * CREDIT)
    assert_ledger_consistent(account)


# --- Spread campaigns (MULDESP): paid batch by batch -------------------------------------


def _campaign(owner, numbers, *, per_day=1000, interval=60, hours=2):
    now = timezone.now()
    return submit(
        owner,
        numbers,
        campaign=CampaignSpec(
            window_start=now, window_end=now + timedelta(hours=hours), per_day=per_day, interval_minutes=interval
        ),
    )


def _due_now(message):
    SmsMessage.objects.filter(pk=message.pk).update(next_batch_at=timezone.now() - timedelta(seconds=1))


def test_a_campaign_reserves_nothing_until_a_batch_goes(owner, sender, log_route):
    account = funded(owner.tenant, 10)
    message = _campaign(owner, [f"+2289012{i:04d}" for i in range(8)], per_day=48, interval=60)
    assert message.amount == 0
    assert books(account) == (10 * CREDIT, 0, 0)
    released = campaigns.campaign_release(message_id=str(message.pk))
    assert len(released) == 2  # 48 a day over 24 hourly batches
    assert books(account)[1] == len(released) * CREDIT
    assert_ledger_consistent(account)


def test_a_campaign_the_balance_cannot_pay_is_suspended_and_resumes_after_a_top_up(owner, sender, log_route):
    account = funded(owner.tenant, 3)
    numbers = [f"+2289012{i:04d}" for i in range(10)]
    message = _campaign(owner, numbers, per_day=240, interval=60)  # batches of 10
    assert campaigns.campaign_release(message_id=str(message.pk)) == []
    message.refresh_from_db()
    assert message.suspended_at is not None
    assert message.state == SmsState.ACTIVE
    assert SmsRecipient.objects.filter(next_attempt_at__isnull=False).count() == 0
    assert books(account) == (3 * CREDIT, 0, 0)
    account_topup(account=account, amount=20 * CREDIT, note="more")
    _due_now(message)
    assert len(campaigns.campaign_release(message_id=str(message.pk))) == 10
    message.refresh_from_db()
    assert message.suspended_at is None
    assert message.amount == 10 * CREDIT
    assert books(account) == (13 * CREDIT, 10 * CREDIT, 0)
    assert_ledger_consistent(account)


def test_numbers_a_suspended_campaign_never_paid_end_failed_uncharged(owner, sender, log_route):
    account = funded(owner.tenant, 1)
    message = _campaign(owner, [TG, TG2], per_day=48, interval=60)
    campaigns.campaign_release(message_id=str(message.pk))
    SmsMessage.objects.filter(pk=message.pk).update(
        window_end=timezone.now() - timedelta(seconds=1), next_batch_at=timezone.now() - timedelta(seconds=1)
    )
    campaigns.campaign_release(message_id=str(message.pk))
    assert set(SmsRecipient.objects.values_list("status", "error")) == {(DeliveryStatus.FAILED, "solde insuffisant")}
    billing_consume()
    assert books(account) == (CREDIT, 0, 0)
    assert_ledger_consistent(account)


def test_numbers_left_when_the_window_closes_are_never_charged(owner, sender, log_route):
    account = funded(owner.tenant, 10)
    message = _campaign(owner, [f"+2289012{i:04d}" for i in range(4)], per_day=48, interval=60)  # batches of 2
    released = campaigns.campaign_release(message_id=str(message.pk))
    for chunk in delivery.recipients_due():
        delivery.sms_send_chunk(recipient_ids=chunk)
    SmsMessage.objects.filter(pk=message.pk).update(
        window_end=timezone.now() - timedelta(seconds=1), next_batch_at=timezone.now() - timedelta(seconds=1)
    )
    campaigns.campaign_release(message_id=str(message.pk))
    billing_consume()
    assert len(released) == 2
    assert books(account) == (8 * CREDIT, 0, 2 * CREDIT)
    assert SmsRecipient.objects.filter(status=DeliveryStatus.FAILED).count() == 2
    assert_ledger_consistent(account)


def test_reservations_and_settlements_reference_the_send(owner, sender, smsc, smpp_route):
    account = funded(owner.tenant, 10)
    message = submit(owner, [TG])
    send_all(message)
    billing_consume()
    kinds = set(LedgerEntry.objects.filter(reference=f"sms:{message.pk}").values_list("kind", "book", "amount"))
    assert kinds == {
        (EntryKind.RESERVE, "available", -CREDIT),
        (EntryKind.RESERVE, "reserved", CREDIT),
        (EntryKind.SETTLE, "reserved", -CREDIT),
        (EntryKind.SETTLE, "spent", CREDIT),
    }
    assert_ledger_consistent(account)
