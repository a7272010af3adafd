"""What MongoDB does with a state delta, in plain Python: the reference for delta streams.

Version-gated like reaction-streaming: a delta not newer than the document is ignored, so applying a
stream twice, or an old delta after a new one, changes nothing.
"""

from __future__ import annotations

import copy


def apply_delta(doc: dict | None, delta: dict) -> dict | None:
    """`delta` as decoded from `state_delta` (set/unset/add_to_set/pull/delete/version)."""
    if delta["delete"]:
        return None
    doc = {} if doc is None else copy.deepcopy(doc)
    if doc.get("version", 0) >= delta["version"]:
        return doc
    for path, value in delta["set"].items():
        head, _, tail = path.partition(".")
        if tail:
            doc.setdefault(head, {})[tail] = value
        else:
            doc[head] = value
    for path in delta["unset"]:
        head, _, tail = path.partition(".")
        if tail:
            (doc.get(head) or {}).pop(tail, None)
        else:
            doc.pop(head, None)
    for path, values in delta["add_to_set"].items():
        doc[path] = doc.get(path, []) + [v for v in values if v not in doc.get(path, [])]
    for path, values in delta["pull"].items():
        doc[path] = [v for v in doc.get(path, []) if v not in values]
    return doc


def fold(deltas: list[dict]) -> dict[tuple[str, str], dict]:
    """Documents by (collection, _id) after applying `deltas` in order."""
    docs: dict[tuple[str, str], dict] = {}
    for delta in deltas:
        key = (delta["collection"], delta["doc_id"])
        doc = apply_delta(docs.get(key), delta)
        if doc is None:
            docs.pop(key, None)
        else:
            docs[key] = doc
    return docs
