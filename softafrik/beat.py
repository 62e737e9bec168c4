"""Beat's database scheduler (django-celery-beat), as the platform runs it.

Beat runs with ``django_celery_beat.schedulers:DatabaseScheduler``: the periodic tasks are
rows (``PeriodicTask`` and its schedules) that operators see and change in the admin.
``CELERY_BEAT_SCHEDULE`` in the settings stays the source of the default entries: at
every start, beat writes each of them to the row of the same name (its task and
interval; an operator's "enabled" survives). The timers themselves (a delivery's
``next_attempt_at``, a campaign's next batch) stay rows in the tables that own them;
beat only wakes the sweepers that dispatch what is due.

The schedule is platform-wide, so its admin is for platform superusers only: a tenant's
staff neither sees nor changes it, whatever Django permissions it was given.
"""

from __future__ import annotations

from datetime import timedelta

from celery.signals import beat_init
from django.conf import settings
from django.core import checks
from django_celery_beat.apps import BeatConfig


def is_platform_admin(request) -> bool:
    # Imported when asked: softafrik.tenant_admin's base class (the admin theme's) needs the
    # app registry, which is still loading when this app's config is imported.
    from softafrik.tenant_admin import is_platform_admin as platform_admin

    return platform_admin(request)


class PlatformOnlyAdmin:
    """A ModelAdmin mixin: platform superusers only, Django permissions notwithstanding."""

    def has_module_permission(self, request):
        return is_platform_admin(request)

    def has_view_permission(self, request, obj=None):
        return is_platform_admin(request)

    def has_add_permission(self, request, *args):
        return is_platform_admin(request)

    def has_change_permission(self, request, obj=None):
        return is_platform_admin(request)

    def has_delete_permission(self, request, obj=None):
        return is_platform_admin(request)


def _admin_for_platform_only() -> None:
    """Re-register every django-celery-beat admin (the periodic tasks and their interval,
    crontab, solar and clocked schedules) as platform-only, on the admin theme's base class."""
    from django.contrib import admin
    from unfold.admin import ModelAdmin

    for model, model_admin in list(admin.site._registry.items()):
        if model._meta.app_label != BeatConfig.label or isinstance(model_admin, PlatformOnlyAdmin):
            continue
        bases = (PlatformOnlyAdmin, model_admin.__class__, ModelAdmin)
        platform_only = type(model_admin.__class__.__name__, bases, {})
        admin.site.unregister(model)
        admin.site.register(model, platform_only)


def sub_second_entries() -> list[str]:
    """Entries of CELERY_BEAT_SCHEDULE the database scheduler cannot keep: it stores an
    interval in whole seconds (``IntervalSchedule.every`` is an integer), so 0.5 s would
    become 0 and beat would send the task without pause."""
    wrong = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        schedule = entry["schedule"]
        seconds = schedule.total_seconds() if isinstance(schedule, timedelta) else schedule
        if isinstance(seconds, int | float) and (seconds < 1 or seconds != int(seconds)):
            wrong.append(f"CELERY_BEAT_SCHEDULE[{name!r}] every {seconds} s")
    return wrong


def check_whole_second_intervals(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    hint = "Intervals are whole seconds, at least 1 (BEAT_SWEEP_SECONDS and the like)."
    return [checks.Error(entry, hint=hint, id="softafrik.E001") for entry in sub_second_entries()]


def refuse_sub_second_intervals(**kwargs) -> None:
    """Beat runs no Django checks: it exits at start instead of spinning. (SystemExit:
    Celery logs and ignores an Exception raised by a signal handler.)"""
    wrong = sub_second_entries()
    if wrong:
        raise SystemExit(f"{'; '.join(wrong)}: intervals are whole seconds, at least 1.")


class PeriodicTasksConfig(BeatConfig):
    """django-celery-beat's app, its admin for platform superusers only."""

    def ready(self):
        super().ready()
        # The admin app (first in INSTALLED_APPS) has imported every admin module by now.
        _admin_for_platform_only()
        checks.register(check_whole_second_intervals)
        beat_init.connect(refuse_sub_second_intervals, weak=False)
