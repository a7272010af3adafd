"""`headwater profile get`: one user's document from MongoDB, found by any of its identifiers.

The documents are what reaction-streaming wrote (docs/reaction-streaming.md): a user's `users`
document, and the `devices` documents of the devices it holds. Times are printed in ISO 8601.
"""

from __future__ import annotations

from common.config import Settings
from common.contracts.deltas import doc_id
from common.contracts.rejections import Refusal
from common.contracts.tenants import load_registry
from common.errors import HeadwaterError
from jobs.action_streaming.device_state import device_doc_id
from jobs.api_unification.identifiers import normalize_email, normalize_phone
from jobs.api_unification.timestamps import iso

TIME_FIELDS = ("first_seen", "last_seen")


class ProfileNotFound(HeadwaterError):
    pass


def lookups(tenant: str, identifier: str, phone_region: str | None) -> list[dict]:
    """Every way `identifier` can name a user of `tenant`: its user id, customer id, an email or a phone
    (normalised as api-unification stores them), an anonymous id, a device."""
    found = [{"_id": doc_id(tenant, identifier)}, {"customer_id": identifier}, {"anonymous_ids": identifier}]
    found.append({"devices": identifier})
    for field, normalize in (("emails", normalize_email), ("phones", lambda v: normalize_phone(v, phone_region))):
        try:
            found.append({field: normalize(identifier)})
        except Refusal:
            pass  # not an email (or a phone): it cannot name one
    return found


def readable(document: dict) -> dict:
    """The document with its times in ISO 8601 (a device's `last_seen` too)."""
    return {k: iso(v) if k in TIME_FIELDS and isinstance(v, int) else v for k, v in document.items()}


def get(settings: Settings, tenant: str, identifier: str) -> list[dict]:
    """The live users of `tenant` that `identifier` names (one, unless the data says otherwise), each
    with its devices' documents under `devices_documents`."""
    from pymongo import MongoClient

    policy = load_registry().get(tenant)
    query = {
        "tenant": tenant,
        "deleted": {"$ne": True},
        "$or": lookups(tenant, identifier, policy and policy.default_phone_region),
    }
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        db = client[settings.mongo_database]
        users = list(db["users"].find(query))
        for user in users:
            ids = [device_doc_id(tenant, d) for d in user.get("devices", [])]
            devices = db["devices"].find({"_id": {"$in": ids}, "deleted": {"$ne": True}}) if ids else []
            user["devices_documents"] = [readable(d) for d in devices]
    if not users:
        raise ProfileNotFound(
            f"no user of tenant {tenant} holds {identifier!r} (as user id, customer id, email, phone, anonymous id "
            f"or device) in {settings.mongo_database}.users"
        )
    return [readable(u) for u in users]
