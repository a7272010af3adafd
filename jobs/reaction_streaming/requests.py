"""A coalesced `Write` as two statements of an ordered MongoDB `update` command.

1. upsert `{_id}` with `$setOnInsert: {version: 0}`: a missing document becomes an empty one, older
   than any delta (versions start at 1); an existing one is left alone.
2. update `{_id, version < v}` with the write's operators (a replacement by a tombstone for a delete),
   no upsert: changes the document only if it is older than the write.

So an older or missing document gets the write, and a document already at `v` or newer is left alone,
**without an error**. (A single version-gated upsert would answer a stale write with duplicate key,
and FerretDB 1.x stops a command at its first error: a replay would cost a command per write. And
FerretDB's `$setOnInsert` drops null values, so the write itself cannot be the insert.) Applied =
documents modified by the second statements; the other writes were stale. Every Headwater document
carries `version` (each delta sets it).

A delete replaces the document by a tombstone `{version, deleted: true}`: a stale delta replayed
later is older than the tombstone and cannot bring the document back. Readers skip tombstones.

Every other write also sets `last_message_id`, the message of its newest delta: from a document, `headwater
trace --message-id` finds what changed it last.
"""

from __future__ import annotations

from jobs.reaction_streaming.coalesce import Write

# The message whose delta last changed the document (not kept on a tombstone: a deleted user leaves none).
LAST_MESSAGE = "last_message_id"


def version_filter(write: Write) -> dict:
    return {"_id": write.doc_id, "version": {"$lt": write.version}}


def update_document(write: Write) -> dict:
    update: dict[str, dict] = {"$set": {**write.set, "version": write.version}}
    if write.message_id is not None:
        update["$set"][LAST_MESSAGE] = write.message_id
    if write.unset:
        update["$unset"] = {path: "" for path in write.unset}
    if write.add_to_set:
        update["$addToSet"] = {path: {"$each": values} for path, values in write.add_to_set.items()}
    if write.pull:  # $pullAll, not $pull {$in}: FerretDB 1.x ignores the $in condition (docs/stack.md)
        update["$pullAll"] = {path: values for path, values in write.pull.items()}
    return update


def tombstone(write: Write) -> dict:
    return {"version": write.version, "deleted": True}


def statements(write: Write) -> list[dict]:
    """The write's two statements, in order (see the module docstring)."""
    change = tombstone(write) if write.delete else update_document(write)
    return [
        {"q": {"_id": write.doc_id}, "u": {"$setOnInsert": {"version": 0}}, "upsert": True},
        {"q": version_filter(write), "u": change, "upsert": False},
    ]
