"""Ad-list destinations get hashed identifiers only (jobs/profile_dedupe/ad_lists.py): normalised as
the ad platforms normalise before hashing, then SHA-256; no raw email or phone is ever sent."""

import hashlib

from jobs.profile_dedupe.ad_lists import hashed, normalised
from jobs.profile_dedupe.deliveries import Delivery


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_emails_are_trimmed_and_lower_cased_phones_made_e164_other_ids_only_trimmed():
    assert normalised("email", "  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert normalised("phone", " +1 (415) 555-0101 ") == "+14155550101"
    assert normalised("phone", "+4915123456789") == "+4915123456789"
    assert normalised("phone", "not a number") == "not a number"  # hashed as it is, never sent raw
    assert normalised("customer_id", " C-Abc ") == "C-Abc"


def test_every_identifier_goes_hashed_and_typed_as_such():
    delivery = Delivery("ads-1", (("customer_id", "C-1"), ("email", "Jane@Example.com"), ("phone", "+1 415 555 0101")))
    got = hashed(delivery)
    assert got.destination_id == "ads-1"
    assert got.ids == tuple(
        sorted(
            {
                ("customer_id_sha256", _sha("C-1")),
                ("email_sha256", _sha("jane@example.com")),
                ("phone_sha256", _sha("+14155550101")),
            }
        )
    )
    text = repr(got)
    assert "Jane" not in text and "415" not in text and "C-1" not in text
    # two spellings of one email are one id: the same hash
    assert hashed(Delivery("ads-1", (("email", " JANE@example.com"),))).ids == (
        ("email_sha256", _sha("jane@example.com")),
    )
