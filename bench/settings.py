"""The platform's settings, serving ``bench.urls`` (the floor view as well)."""

from softafrik.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
