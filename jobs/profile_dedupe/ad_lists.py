"""What an ad-list destination (kind `ads_list`) receives: hashed identifiers only.

Ad platforms match audiences on identifiers the advertiser hashes before upload: Google's Customer
Match and Meta's Custom Audiences take the SHA-256 (hex) of a normalised email or phone, and neither
needs the raw value. So profile-dedupe never sends one to them: every identifier of a delivery to an
ad list is normalised, hashed, and sent as `<type>_sha256` (docs/profile-dedupe.md):
- email: trimmed and lower-cased (both platforms' rule);
- phone: E.164, `+` and digits (Customer Match's rule; Custom Audiences wants the same digits without
  the `+`, which its uploader must drop before hashing its own copy, or match on ours as they are);
  a value that is not a valid number is hashed trimmed, as it is, rather than sent;
- any other id (customer_id, anonymous_id, device): trimmed, case kept (they are case-sensitive).
"""

from __future__ import annotations

import hashlib

import phonenumbers

from jobs.profile_dedupe.deliveries import Delivery

ADS_LIST = "ads_list"
HASHED_SUFFIX = "_sha256"


def normalised(id_type: str, value: str) -> str:
    """An identifier as the ad platforms hash it."""
    value = value.strip()
    if id_type == "email":
        return value.lower()
    if id_type == "phone":
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return value
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return value


def hashed(delivery: Delivery) -> Delivery:
    """The delivery with every identifier normalised and hashed: (`<type>_sha256`, hex digest)."""
    ids = {
        (f"{id_type}{HASHED_SUFFIX}", hashlib.sha256(normalised(id_type, value).encode()).hexdigest())
        for id_type, value in delivery.ids
    }
    return Delivery(delivery.destination_id, tuple(sorted(ids)))
