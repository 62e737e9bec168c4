"""Encryption at rest for provider credentials (FCM service accounts, APNs keys, VAPID
private keys, SMS route passwords).

``EncryptedTextField`` stores Fernet tokens (AES-128-CBC + HMAC-SHA256). Keys come from
``FIELD_ENCRYPTION_KEYS`` (newest first, so keys can be rotated: old ones still decrypt);
without it one key is derived from SECRET_KEY, which is fine for a dev install only.
"""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@functools.cache
def _fernet() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        derived = hashlib.sha256(b"softafrik-field-encryption:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt a stored credential: wrong FIELD_ENCRYPTION_KEYS?") from exc


class EncryptedTextField(models.TextField):
    """A text column whose value is encrypted before it reaches the database.

    Empty strings stay empty (so "not configured" is visible without decrypting).
    """

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)
