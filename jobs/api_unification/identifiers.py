"""Identifier formats: emails validated and lower-cased, phones normalised to E.164."""

from __future__ import annotations

import re

import phonenumbers

from common.contracts.rejections import Reason, Refusal

MAX_ID_LENGTH = 256
# Deliberately plain: one @, a dotted domain, no spaces. Deliverability is not our job; typos are.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def normalize_email(value: object) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value.strip()) or len(value) > MAX_ID_LENGTH:
        raise Refusal(Reason.INVALID_EMAIL, f"not a valid email address: {str(value)[:80]!r}")
    return value.strip().lower()


def normalize_phone(value: object, default_region: str | None) -> str:
    """E.164 (`+14155550123`). Numbers without a country code need the tenant's default region."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > 64:
        raise Refusal(Reason.INVALID_PHONE, f"not a phone number: {str(value)[:80]!r}")
    try:
        parsed = phonenumbers.parse(value, None if value.strip().startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        hint = (
            ""
            if default_region or value.strip().startswith("+")
            else " (no country code, and the tenant has no default_phone_region)"
        )
        raise Refusal(Reason.INVALID_PHONE, f"cannot parse phone number {value[:80]!r}{hint}: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise Refusal(Reason.INVALID_PHONE, f"not a valid phone number: {value[:80]!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def plain_id(value: object, name: str) -> str:
    """customer_id, anonymous_id, device_id: non-empty strings (numbers are accepted and stringified)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Refusal(Reason.INVALID_FIELD, f"{name} must be a string, got {type(value).__name__}", name)
    text = str(value).strip()
    if not text:
        raise Refusal(Reason.MISSING_IDENTIFIER, f"{name} is empty", name)
    if len(text) > MAX_ID_LENGTH:
        raise Refusal(Reason.LIMIT_EXCEEDED, f"{name} longer than {MAX_ID_LENGTH} characters", name)
    return text
