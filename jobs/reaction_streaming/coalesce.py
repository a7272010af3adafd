"""Fold one entity's deltas into the fewest MongoDB writes that give the same document.

Pure. Deltas of one document arrive in version order (Kafka keeps one key's records in order); a
batch may also hold duplicates and stale retries. `coalesce` drops those, then folds the rest into
`Write`s, each one update (or one replacement, for a delete) with the version of its last delta:

- a later `set` of a path wins over an earlier one; `unset` after `set` unsets; `set` after `unset` sets;
- `add_to_set` / `pull` after a `set` of the same array compute the new array and stay a `set`;
  `add_to_set` after an `unset` is a `set` of the added values; `pull` after an `unset` is nothing;
- MongoDB refuses two operators on one path, or on a path and its prefix, in one update: when a fold
  would need that (an `add_to_set` then a `pull` of one array), the write is closed and the next
  delta starts a new one. So is a `set` then `unset` of a nested path (`attributes.x`): the `set`
  created the parent object, which stays, empty, and one update cannot say that. Writes of one entity
  are applied one after the other.

Only consecutive versions fold into one write. A batch can hold a stale retry (version 3) beside
newer deltas (6, 7) of a document already at version 5: folding 3 with 6 would apply 3 again on top
of 4 and 5. Kept apart, the write of 3 is simply stale. Every write is version-gated (applied only to
a document older than its version), and a run of consecutive deltas folds into an idempotent write,
so applying it to a document that already has the first of them gives the same document as applying
only the missing ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.contracts.deltas import Delta


@dataclass
class Write(Delta):
    """A delta that carries a run of consecutive deltas of one document (same vocabulary, same fields)."""

    versions: list[int] = field(default_factory=list)  # the deltas it carries (for refusals and the coalescing ratio)
    # The message of its last delta: the document keeps it (`last_message_id`), so a reader can follow a
    # document back to the message that last changed it (`headwater trace`).
    message_id: str | None = None

    def paths(self):
        return [*self.set, *self.unset, *self.add_to_set, *self.pull]


class _Conflict(Exception):
    """The next delta cannot join the open write."""


def coalesce(deltas: list[dict]) -> list[Write]:
    """Deltas of one document (decoded `state_delta` records, any order) -> writes to apply in order."""
    by_version: dict[int, dict] = {}
    for d in deltas:
        by_version.setdefault(d["version"], d)  # a repeated delta has the same version: once is enough
    writes: list[Write] = []
    for version in sorted(by_version):
        d = by_version[version]
        if writes and version == writes[-1].version + 1:  # only consecutive versions fold together
            try:
                writes[-1] = _fold(writes[-1], d)
                continue
            except _Conflict:
                pass
        writes.append(_fold(Write(d["collection"], d["doc_id"], version), d))
    return writes


def _fold(w: Write, d: dict) -> Write:
    """`w` followed by `d` as one write; raises _Conflict if MongoDB could not do it in one update."""
    if d["delete"]:
        return Write(
            w.collection, w.doc_id, d["version"], delete=True, versions=[*w.versions, d["version"]], message_id=None
        )
    if w.delete and w.versions:
        raise _Conflict  # a write after a delete recreates the document: keep them apart
    new = Write(
        w.collection,
        w.doc_id,
        d["version"],
        False,
        dict(w.set),
        list(w.unset),
        {p: list(v) for p, v in w.add_to_set.items()},
        {p: list(v) for p, v in w.pull.items()},
        [*w.versions, d["version"]],
        d.get("message_id"),
    )
    for path, value in d["set"].items():
        _check_prefixes(new, path)
        _forget(new, path)
        new.set[path] = value
    for path in d["unset"]:
        _check_prefixes(new, path)
        if "." in path and path in new.set:
            raise _Conflict  # the set created the parent object, which the unset leaves behind, empty
        _forget(new, path)
        new.unset.append(path)
    for path, values in d["add_to_set"].items():
        _check_prefixes(new, path)
        if path in new.set and isinstance(new.set[path], list):
            new.set[path] = _union(new.set[path], values)
        elif path in new.set:
            raise _Conflict  # $addToSet on a non-array fails in MongoDB; let it fail on its own
        elif path in new.unset:
            new.unset.remove(path)
            new.set[path] = _union([], values)
        elif path in new.pull:
            raise _Conflict
        else:
            new.add_to_set[path] = _union(new.add_to_set.get(path, []), values)
    for path, values in d["pull"].items():
        _check_prefixes(new, path)
        if path in new.set and isinstance(new.set[path], list):
            new.set[path] = [v for v in new.set[path] if v not in values]
        elif path in new.set:
            raise _Conflict
        elif path in new.unset:
            continue  # pulling from a missing field leaves it missing
        elif path in new.add_to_set:
            raise _Conflict
        else:
            new.pull[path] = _union(new.pull.get(path, []), values)
    return new


def _check_prefixes(w: Write, path: str) -> None:
    for other in w.paths():
        if other != path and (other.startswith(path + ".") or path.startswith(other + ".")):
            raise _Conflict


def _forget(w: Write, path: str) -> None:
    w.set.pop(path, None)
    if path in w.unset:
        w.unset.remove(path)
    w.add_to_set.pop(path, None)
    w.pull.pop(path, None)


def _union(values: list, more: list) -> list:
    out = list(values)
    for v in more:
        if v not in out:
            out.append(v)
    return out
