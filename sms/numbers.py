"""Destination numbers and sender ids, without Django.

Destinations are stored and routed as E.164 ("+22890123456"). Validity is checked against
libphonenumber's per-country numbering plans (``is_valid_number``), not just the length
(``is_possible_number``): an unassigned prefix of the right length is refused here rather
than paid for and failed by the operator.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code",
    NumberParseException.NOT_A_NUMBER: "not a number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}

# phonenumbers reads letters as keypad digits ("1-800-FLOWERS") and "ext." as an extension;
# neither makes sense for an SMS destination, so any letter is refused up front.
_HAS_LETTER = re.compile(r"[^\W\d_]")

ALPHANUMERIC_SENDER_MIN = 3
ALPHANUMERIC_SENDER_MAX = 11  # 11 septets: the TP-OA limit for an alphanumeric originator
# What operators pass through unchanged: ASCII letters and digits, space and - _ . &, all
# in the GSM 7-bit basic set (one septet each, so 11 characters fit TP-OA).
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 _.&-]+")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
# A short code or a number: optional "+", then 3..15 digits (E.164 has at most 15).
_NUMERIC_SENDER = re.compile(r"\+?[0-9]+")
NUMERIC_SENDER_MIN = 3
NUMERIC_SENDER_MAX = 15


class InvalidNumber(ValueError):
    """``str(exc)`` is a reason fit to show a user ("not a valid number for region TG")."""


class InvalidSender(ValueError):
    """``str(exc)`` is a reason fit to show a user."""


def _parse(raw: str, region: str | None) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(raw, region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and not raw.startswith("+"):
            raise InvalidNumber("no country code and no default region") from None
        raise InvalidNumber(_PARSE_REASONS.get(exc.error_type, "not a number")) from None


def _where(number: phonenumbers.PhoneNumber) -> str:
    regions = phonenumbers.region_codes_for_country_code(number.country_code)
    if len(regions) == 1 and regions[0] != phonenumbers.UNKNOWN_REGION:
        return f"region {regions[0]}"
    return f"country code +{number.country_code}"


def normalize_msisdn(raw: str, *, default_region: str | None) -> str:
    """E.164 form of ``raw`` ("+22890123456").

    Accepts "+228 90 12 34 56", "00228 90 12 34 56" (whatever the default region's own
    international prefix) and national formats ("90 12 34 56") when ``default_region`` is
    given. Raises InvalidNumber with a human reason.
    """
    text = raw.strip()
    if not text or _HAS_LETTER.search(text):
        raise InvalidNumber("not a number")
    if text.startswith("00"):
        # "00" is the international prefix almost everywhere, and no national number starts
        # with it; phonenumbers only knows it when the default region uses "00".
        text = "+" + text[2:]
    number = _parse(text, default_region)
    if number.extension:
        raise InvalidNumber("extensions are not allowed")
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(f"not a valid number for {_where(number)}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_e164(e164: str) -> phonenumbers.PhoneNumber:
    if not e164.startswith("+"):
        raise InvalidNumber("not in E.164 form")
    return _parse(e164, None)


def country_of(e164: str) -> str:
    """Region code of an E.164 number ("TG"), for route selection.

    Shared calling codes resolve to the precise region (+1 416... is "CA"); non-geographic
    numbers (+800, +882...) give "001". Raises InvalidNumber when no region matches.
    """
    digits = e164[1:]
    if e164.startswith("+") and digits.isdigit() and len(digits) <= 15:
        # Calling codes are prefix-free: the first 1-3 digits that are one name it. A code of
        # a single region needs no parse (most of Africa); shared ones do (+1, +7, +44...).
        for size in (1, 2, 3):
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]))
            if regions is not None:
                if len(regions) == 1 and regions[0] != phonenumbers.UNKNOWN_REGION:
                    return regions[0]
                break
    region = phonenumbers.region_code_for_number(_parse_e164(e164))
    if region is None:
        raise InvalidNumber(f"no region for {e164}")
    return region


def country_or_blank(e164: str) -> str:
    """``country_of`` for reports and invoices: "" for a number that has no country (one
    that does not parse, or a non-geographic "001")."""
    try:
        region = country_of(e164)
    except InvalidNumber:
        return ""
    return region if len(region) == 2 else ""


def calling_code(e164: str) -> str:
    """Country calling code of an E.164 number, without "+" ("228")."""
    return str(_parse_e164(e164).country_code)


def validate_sender(sender: str) -> str:
    """The sender id, if usable as an SMS originator; raises InvalidSender otherwise.

    Either numeric, an optional "+" and 3 to 15 digits (a short code or a phone number), or
    alphanumeric: 3 to 11 characters of ASCII letters, digits, spaces and ``- _ . &``, with
    at least one letter and no space at either end. Length is checked first, so a sender
    that is too long is told the limit whatever its characters. Returned unchanged.
    """
    if not sender:
        raise InvalidSender("sender is empty")

    if _NUMERIC_SENDER.fullmatch(sender):
        digits = len(sender.lstrip("+"))
        if digits < NUMERIC_SENDER_MIN:
            raise InvalidSender(f"numeric sender too short (min {NUMERIC_SENDER_MIN} digits)")
        if digits > NUMERIC_SENDER_MAX:
            raise InvalidSender(f"numeric sender too long (max {NUMERIC_SENDER_MAX} digits)")
        if sender.startswith("+0"):
            raise InvalidSender("no country calling code starts with 0")
        return sender

    if len(sender) > ALPHANUMERIC_SENDER_MAX:
        raise InvalidSender(f"sender too long (max {ALPHANUMERIC_SENDER_MAX} characters)")
    if len(sender) < ALPHANUMERIC_SENDER_MIN:
        raise InvalidSender(f"sender too short (min {ALPHANUMERIC_SENDER_MIN} characters)")
    if not _ALPHANUMERIC_SENDER.fullmatch(sender):
        raise InvalidSender("only letters A-Z, a-z, digits 0-9, spaces and - _ . & are allowed")
    if sender != sender.strip(" "):
        # Invisible on a handset: "Bank " would pass for "Bank", another tenant's sender.
        raise InvalidSender("sender starts or ends with a space")
    if not _ASCII_LETTER.search(sender):
        raise InvalidSender("an alphanumeric sender needs at least one letter")
    return sender
