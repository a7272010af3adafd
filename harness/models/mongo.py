"""What MongoDB does with state deltas and with reaction-streaming's writes, in plain Python.

The reference for delta streams and for coalescing. Version-gated like reaction-streaming: a delta
or write not newer than the document is ignored, so applying a stream twice, or an old delta after a
new one, changes nothing. A delete leaves a tombstone (`{"version": v, "deleted": True}`) rather than
no document, so a stale delta replayed after the delete cannot bring the document back.
"""

from __future__ import annotations

import copy


def is_live(doc: dict | None) -> bool:
    return doc is not None and not doc.get("deleted")


def _newer(doc: dict | None, version: int) -> bool:
    return doc is None or doc.get("version", 0) < version


def _set_path(doc: dict, path: str, value) -> None:
    head, _, tail = path.partition(".")
    if tail:
        doc.setdefault(head, {})[tail] = value
    else:
        doc[head] = value


def _unset_path(doc: dict, path: str) -> None:
    head, _, tail = path.partition(".")
    if tail:
        (doc.get(head) or {}).pop(tail, None)
    else:
        doc.pop(head, None)


def _add_to_set(values: list, more: list) -> list:
    out = list(values)
    for v in more:  # $addToSet $each: each value at most once, duplicates within `more` too
        if v not in out:
            out.append(v)
    return out


def apply_delta(doc: dict | None, delta: dict) -> dict | None:
    """`delta` as decoded from `state_delta` (set/unset/add_to_set/pull/delete/version)."""
    if not _newer(doc, delta["version"]):
        return doc
    if delta["delete"]:
        return {"version": delta["version"], "deleted": True}
    doc = {} if doc is None or doc.get("deleted") else copy.deepcopy(doc)
    for path, value in delta["set"].items():
        _set_path(doc, path, value)
    for path in delta["unset"]:
        _unset_path(doc, path)
    for path, values in delta["add_to_set"].items():
        doc[path] = _add_to_set(doc.get(path, []), values)
    for path, values in delta["pull"].items():
        if path in doc:  # $pull on a missing field leaves it missing
            doc[path] = [v for v in doc[path] if v not in values]
    doc["version"] = delta["version"]
    if delta.get("message_id") is not None:  # reaction-streaming's writes keep it (requests.py)
        doc["last_message_id"] = delta["message_id"]
    return doc


class UpdateConflict(ValueError):
    """MongoDB refuses an update whose operators touch one path twice, or a path and its prefix."""


def apply_update(doc: dict | None, version: int, update: dict | None, replacement: dict | None = None) -> dict | None:
    """A version-gated upsert as MongoDB applies it: `update` ($set/$unset/$addToSet $each/$pullAll)
    or a whole `replacement`, only if the document is older than `version`."""
    if replacement is None:
        paths = [p for op in update.values() for p in op]
        for i, p in enumerate(paths):
            for q in paths[i + 1 :]:
                if p == q or p.startswith(q + ".") or q.startswith(p + "."):
                    raise UpdateConflict(f"Updating the path '{p}' would create a conflict at '{q}'")
    if not _newer(doc, version):
        return doc
    if replacement is not None:
        return copy.deepcopy(replacement)
    doc = {} if doc is None or doc.get("deleted") else copy.deepcopy(doc)
    for path, value in update.get("$set", {}).items():
        _set_path(doc, path, value)
    for path in update.get("$unset", {}):
        _unset_path(doc, path)
    for path, spec in update.get("$addToSet", {}).items():
        doc[path] = _add_to_set(doc.get(path, []), spec["$each"])
    for path, values in update.get("$pullAll", {}).items():
        if path in doc:
            doc[path] = [v for v in doc[path] if v not in values]
    return doc


class Folding:
    """Documents as deltas are applied, a few at a time: a test that polls a growing topic applies
    each delta once, not the whole topic on every poll."""

    def __init__(self):
        self.docs: dict[tuple[str, str], dict] = {}

    def apply(self, deltas) -> None:
        docs = self.docs
        for delta in deltas:
            key = (delta["collection"], delta["doc_id"])
            docs[key] = apply_delta(docs.get(key), delta)

    def documents(self, *, tombstones: bool = False) -> dict[tuple[str, str], dict]:
        return {key: doc for key, doc in self.docs.items() if tombstones or is_live(doc)}


def fold(deltas: list[dict], *, tombstones: bool = False) -> dict[tuple[str, str], dict]:
    """Documents by (collection, _id) after applying `deltas` in order: the live ones, or with
    `tombstones` every document as MongoDB holds it."""
    folding = Folding()
    folding.apply(deltas)
    return folding.documents(tombstones=tombstones)
