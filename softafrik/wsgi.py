import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from softafrik.heap import heap_settle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "softafrik.settings")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 - imports every view now, so heap_settle freezes them too
heap_settle()
