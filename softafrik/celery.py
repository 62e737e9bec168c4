import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "softafrik.settings")

app = Celery("softafrik")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_connections_as_for_a_request(**kwargs) -> None:
    """What Django does around a web request: close a connection that errored or
    outlived CONN_MAX_AGE, keep the others (see CELERY_DB_REUSE_MAX in settings)."""
    from django.db import close_old_connections

    close_old_connections()


@worker_init.connect
@worker_process_init.connect
def _heap_settle(**kwargs) -> None:
    """Once the worker has started, and again in each forked child: see softafrik.heap."""
    from softafrik.heap import heap_settle

    heap_settle()
