"""Beat on django-celery-beat's database scheduler: the settings' entries become rows that
a real beat process runs, and only platform superusers see them in the admin."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.models import User
from notifications.models import DeliveryStatus
from sms.models import RouteKind, SenderName, SenderStatus, SmsRecipient, SmsRoute
from sms.services import sms_submit
from softafrik.beat import refuse_sub_second_intervals, sub_second_entries
from softafrik.testing.processes import process_env, wait_for


@pytest.fixture
def worker_env():
    # The settings' own schedule (what beat writes is compared with this process's settings);
    # INFO for celery.beat: its lines show what beat sent.
    return process_env(CELERY_TASK_LOG_LEVEL="INFO")


def scheduled_sms(tenant, *, seconds: float) -> str:
    """A send due in ``seconds``: only beat's sms-tick can dispatch it."""
    SenderName.objects.get_or_create(
        tenant=tenant, name="SoftAfrik", defaults={"status": SenderStatus.APPROVED, "is_default": True}
    )
    SmsRoute.objects.get_or_create(
        name="log", defaults={"kind": RouteKind.LOG, "priority": 1000, "callback_token": secrets.token_urlsafe(16)}
    )
    accepted = sms_submit(
        tenant=tenant,
        dialect="ion",
        sender=None,
        numbers=["+22890123456"],
        text="Rappel",
        scheduled_at=timezone.now() + timedelta(seconds=seconds),
    )
    return str(accepted.message.pk)


OUT = {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}


def sms_statuses(ref: str) -> set[str]:
    return set(SmsRecipient.objects.filter(message_id=ref).values_list("status", flat=True))


def schedule_rows() -> dict[str, tuple[str, int, str, bool]]:
    return {
        row.name: (row.task, row.interval.every, row.interval.period, row.enabled)
        for row in PeriodicTask.objects.select_related("interval").filter(interval__isnull=False)
    }


def expected_rows() -> dict[str, tuple[str, int, str, bool]]:
    return {
        name: (entry["task"], int(entry["schedule"]), IntervalSchedule.SECONDS, True)
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
    }


@pytest.mark.django_db(transaction=True)
def test_beat_writes_the_settings_entries_as_rows_and_runs_them(owner, celery_procs):
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    assert PeriodicTask.objects.count() == 0
    ref = scheduled_sms(owner.tenant, seconds=2)
    celery_procs("worker")
    beat = celery_procs("beat")

    wait_for(lambda: schedule_rows() == expected_rows(), timeout=30, what="a row per CELERY_BEAT_SCHEDULE entry")
    wait_for(lambda: sms_statuses(ref) & OUT, timeout=30, what="the send, dispatched by sms-tick")
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        if entry["schedule"] <= 2:  # the sweepers; the hourly purges are not due within a test
            line = f"Sending due task {name} ({entry['task']})"
            wait_for(lambda line=line: line in beat.output(), timeout=15, what=line)


@pytest.mark.django_db(transaction=True)
def test_an_entry_an_operator_disabled_stays_disabled_after_beat_restarts(owner, celery_procs):
    celery_procs("worker")
    first = celery_procs("beat")
    wait_for(lambda: schedule_rows() == expected_rows(), timeout=30, what="the rows")
    first.stop()
    PeriodicTask.objects.filter(name="sms-tick").update(enabled=False)  # as the admin's "enabled" box does

    # Due after any sms-tick the first beat left in the queue has run.
    ref = scheduled_sms(owner.tenant, seconds=3)
    second = celery_procs("beat")
    wait_for(lambda: "Sending due task push-deliveries-due" in second.output(), timeout=30, what="beat running")
    wait_for(lambda: second.output().count("Sending due task push-deliveries-due") >= 3, timeout=15, what="3 ticks")
    assert "Sending due task sms-tick" not in second.output()
    assert sms_statuses(ref) == {DeliveryStatus.PENDING}
    assert PeriodicTask.objects.get(name="sms-tick").enabled is False


def test_sub_second_intervals_are_refused(settings):
    settings.CELERY_BEAT_SCHEDULE = {
        "fast": {"task": "sms.tasks.sms_tick", "schedule": 0.5},
        "fine": {"task": "sms.tasks.sms_tick", "schedule": 2.0},
        "odd": {"task": "sms.tasks.sms_tick", "schedule": timedelta(seconds=1.5)},
    }
    assert sub_second_entries() == [
        "CELERY_BEAT_SCHEDULE['fast'] every 0.5 s",
        "CELERY_BEAT_SCHEDULE['odd'] every 1.5 s",
    ]
    with pytest.raises(SystemExit, match="whole seconds"):
        refuse_sub_second_intervals()


def test_the_settings_schedule_is_in_whole_seconds():
    assert sub_second_entries() == []


# --- Admin --------------------------------------------------------------------------------


@pytest.fixture
def sweeper(db):
    every_2s = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(name="sms-tick", task="sms.tasks.sms_tick", interval=every_2s)


@pytest.fixture
def superuser_client(client, db):
    client.force_login(User.objects.create_superuser("root", password="pw-12345-long"))
    return client


@pytest.fixture
def staff_client(client, owner):
    """A tenant's staff, even given every django-celery-beat permission."""
    from django.contrib.auth.models import Permission

    user = User.objects.create_user("ops", password="pw-12345-long", is_staff=True, tenant=owner.tenant)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="django_celery_beat"))
    client.force_login(user)
    return client


def test_platform_superuser_sees_and_changes_the_periodic_tasks(superuser_client, sweeper):
    assert "/admin/django_celery_beat/periodictask/" in superuser_client.get("/admin/").content.decode()
    page = superuser_client.get("/admin/django_celery_beat/periodictask/")
    assert page.status_code == 200
    assert "sms-tick" in page.content.decode()
    assert superuser_client.get(f"/admin/django_celery_beat/periodictask/{sweeper.pk}/change/").status_code == 200
    assert superuser_client.get("/admin/django_celery_beat/intervalschedule/").status_code == 200


def test_tenant_staff_neither_sees_nor_changes_the_periodic_tasks(staff_client, sweeper):
    assert "django_celery_beat" not in staff_client.get("/admin/").content.decode()
    for path in (
        "/admin/django_celery_beat/",
        "/admin/django_celery_beat/periodictask/",
        "/admin/django_celery_beat/periodictask/add/",
        f"/admin/django_celery_beat/periodictask/{sweeper.pk}/change/",
        "/admin/django_celery_beat/intervalschedule/",
        "/admin/django_celery_beat/crontabschedule/",
        "/admin/django_celery_beat/clockedschedule/",
        "/admin/django_celery_beat/solarschedule/",
    ):
        assert staff_client.get(path).status_code in (403, 404), path
    staff_client.post(f"/admin/django_celery_beat/periodictask/{sweeper.pk}/delete/", {"post": "yes"})
    staff_client.post(
        f"/admin/django_celery_beat/periodictask/{sweeper.pk}/change/",
        {"name": "sms-tick", "task": "sms.tasks.sms_tick", "enabled": ""},
    )
    sweeper.refresh_from_db()
    assert sweeper.enabled is True
    assert PeriodicTask.objects.count() == 1
