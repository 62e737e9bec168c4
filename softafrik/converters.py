"""URL path converters for ids in paths: like Django's ``str`` and ``path``, without NUL.

A NUL character cannot be stored in, nor compared with, a PostgreSQL text column: a
lookup by a path value holding one fails in the database. A path with one matches no
route, so it reaches its dialect's catch-all: that dialect's 404, never a 500.
"""

from __future__ import annotations

from django.urls import register_converter


class Key:
    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class KeyPath(Key):
    regex = "[^\x00]+"


register_converter(Key, "key")
register_converter(KeyPath, "keypath")
