"""The platform's settings, serving ``bench.urls`` (the floor view as well).

The floor view's path is an API path like the real view's: it skips the browser's
middleware (sessions, CSRF, the admin user, the language) exactly as ``/api/`` does,
so the floor costs what an API call costs without the platform's own work.
"""

from softafrik.settings import *  # noqa: F403
from softafrik.settings import API_PATH_PREFIXES

ROOT_URLCONF = "bench.urls"
API_PATH_PREFIXES = (*API_PATH_PREFIXES, "/bench/")
