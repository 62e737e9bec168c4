"""Serializer fields shared by the API dialects."""

from __future__ import annotations

import json

from rest_framework import serializers

MAX_JSON_OBJECT_BYTES = 8192  # push data and user meta: FCM and APNs take 4 KB payloads anyway


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class JsonObjectField(serializers.DictField):
    """A JSON object of bounded size with no NUL character anywhere (PostgreSQL's jsonb
    cannot store \\u0000, so letting one through would fail at the database)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if _has_nul(value):
            raise serializers.ValidationError("Must not contain NUL characters.")
        if len(json.dumps(value, separators=(",", ":"))) > MAX_JSON_OBJECT_BYTES:
            raise serializers.ValidationError(f"Must be at most {MAX_JSON_OBJECT_BYTES} bytes of JSON.")
        return value
