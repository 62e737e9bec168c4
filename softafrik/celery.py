import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

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
