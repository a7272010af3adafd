"""Per-tenant schema management: the first observed type of a property or attribute wins.

A later value of another type is handled by the tenant's policy: `drop` removes that property (and
counts it in the action's `dropped` list), `reject` refuses the event or the attribute update with
TYPE_CONFLICT. New event names and attributes count against the tenant's distinct-name limits.

Messages are checked on every subtask, but each decision has one author (docs/api-unification.md,
"One schema, many subtasks"): the arbiter, keyed by tenant, `decide`s the *facts* a message brings
(its event names, property types and attribute types) in the order proposals reach it, and never
changes a decision; every subtask keeps a read-only view of the decisions (`learn`) and checks a
message against it (`check`): a message whose facts are all decided is `admit`ted with the same rules
as one keyed operator would apply; one that brings an undecided fact waits for the decision.

This module holds the rules, so they are tested without Flink, and how a schema is stored
(`pack_schema`): plain tuples, dicts and strings, so a savepoint names no Python class
(tests/unit/test_state_layouts.py pins the layout). Savepoints written before 0.2 hold a pickled
TenantSchema instead: `unpack_schema` reads both, which is why the class keeps its name and module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from common.contracts.actions import Action, AttributeOp, Event
from common.contracts.rejections import Reason, Rejection
from common.contracts.tenants import ConflictPolicy, TenantPolicy
from jobs.api_unification.values import type_of

# A fact, as it travels between operators (JSON lists): ["e", event name], ["p", event, property, type],
# ["a", attribute, type]. A decision is a fact with the decided type, or ["E", n] / ["A", n]: the tenant
# holds n event names / attributes and takes no more (so a name not decided by then is refused).
EVENT, PROPERTY, ATTRIBUTE, EVENTS_FULL, ATTRIBUTES_FULL = "e", "p", "a", "E", "A"


class Check(Enum):
    PASS = "every fact decided, none refused: the message goes out as it is"
    ADMIT = "every fact decided, some refused or of another type: admit() changes the message"
    WAIT = "a fact is not decided yet"


def facts(action: Action) -> list[list[str]]:
    """What `action` asks of its tenant's schema, in the order admit() would learn it."""
    found: list[list[str]] = []
    for event in action.events:
        found.append([EVENT, event.name])
        for prop, value in event.properties.items():
            kind = type_of(value)
            if kind != "null":
                found.append([PROPERTY, event.name, prop, kind])
    for op in action.attributes:
        if op.op != "unset":
            found.append([ATTRIBUTE, op.name, "array" if op.op in ("add_to_set", "pull") else type_of(op.value)])
    return found


def _groups(asked: list[list[str]]):
    """(event name, its property facts) per event, then (None, [attribute fact]) per attribute."""
    i = 0
    while i < len(asked):
        fact = asked[i]
        if fact[0] == EVENT:
            j = i + 1
            while j < len(asked) and asked[j][0] == PROPERTY:
                j += 1
            yield fact[1], asked[i + 1 : j]
            i = j
        else:
            yield None, [fact]
            i += 1


def new_groups(asked: list[list[str]], seen: set) -> list[list[str]]:
    """The groups of `asked` (see _groups) not in `seen`, whole; adds them to `seen`. What a subtask
    proposes to the arbiter. The unit is the group, not the fact: the arbiter decides per group (an
    event refused for a conflicting type teaches it nothing), and its answer to a group stays valid."""
    out: list[list[str]] = []
    for name, properties in _groups(asked):
        group = properties if name is None else [[EVENT, name], *properties]
        key = tuple(tuple(fact) for fact in group)
        if key not in seen:
            seen.add(key)
            out.extend(group)
    return out


@dataclass
class TenantSchema:
    event_names: set[str] = field(default_factory=set)
    property_types: dict[str, str] = field(default_factory=dict)  # "<event>\x1f<property>" -> type
    attribute_types: dict[str, str] = field(default_factory=dict)
    # In a subtask's view only: the arbiter said the tenant was full at this many names.
    events_full_at: int = 0
    attributes_full_at: int = 0

    def _event_count(self) -> int:
        return max(len(self.event_names), self.events_full_at)

    def _attribute_count(self) -> int:
        return max(len(self.attribute_types), self.attributes_full_at)

    # -- the arbiter: one author per tenant -------------------------------------------------------

    def decide(self, proposed: list[list[str]], policy: TenantPolicy) -> tuple[list[list[str]], bool]:
        """The arbiter's answer to proposed facts (whole groups: an event name and its properties, or
        one attribute), learning exactly what admit() would learn from them in this order: the first
        proposal wins. Every fact a subtask may wait for gets its decision or a "full" answer.
        Returns (decisions, schema changed)."""
        decisions: list[list[str]] = []
        changed = False
        for name, properties in _groups(proposed):
            if name is None:
                changed |= self._decide_attribute(properties[0], policy, decisions)
            else:
                changed |= self._decide_event(name, properties, policy, decisions)
        return decisions, changed

    def _decide_event(self, name: str, properties: list[list[str]], policy: TenantPolicy, out: list) -> bool:
        if name not in self.event_names and len(self.event_names) >= policy.limits.max_distinct_event_names:
            out.append([EVENTS_FULL, len(self.event_names)])  # refused: its properties are never waited for
            return False
        known = {p[2]: self.property_types.get(f"{name}\x1f{p[2]}") for p in properties}
        conflicts = [p for p in properties if known[p[2]] not in (None, p[3])]
        if conflicts and policy.type_conflict_policy is ConflictPolicy.REJECT:
            # admit() refuses this event and learns nothing from it; the subtask needs only the types
            # that make it refuse (it may not have them yet: restored from an older savepoint).
            out.extend([PROPERTY, name, p[2], known[p[2]]] for p in conflicts)
            return False
        changed = name not in self.event_names
        self.event_names.add(name)
        out.append([EVENT, name])
        for p in properties:
            decided = known[p[2]]
            if decided is None:
                decided = self.property_types[f"{name}\x1f{p[2]}"] = p[3]
                known[p[2]] = decided
                changed = True
            out.append([PROPERTY, name, p[2], decided])
        return changed

    def _decide_attribute(self, fact: list[str], policy: TenantPolicy, out: list) -> bool:
        _, name, proposed_type = fact
        decided = self.attribute_types.get(name)
        if decided is not None:
            out.append([ATTRIBUTE, name, decided])
            return False
        if len(self.attribute_types) >= policy.limits.max_distinct_attributes:
            out.append([ATTRIBUTES_FULL, len(self.attribute_types)])
            return False
        self.attribute_types[name] = proposed_type
        out.append(fact)
        return True

    # -- a subtask's view of the decisions --------------------------------------------------------

    def learn(self, decisions: list[list[str]]) -> None:
        """Take the arbiter's decisions into this view (idempotent: a decision repeated changes nothing)."""
        for decision in decisions:
            kind = decision[0]
            if kind == EVENT:
                self.event_names.add(decision[1])
            elif kind == PROPERTY:
                self.property_types.setdefault(f"{decision[1]}\x1f{decision[2]}", decision[3])
            elif kind == ATTRIBUTE:
                self.attribute_types.setdefault(decision[1], decision[2])
            elif kind == EVENTS_FULL:
                self.events_full_at = max(self.events_full_at, decision[1])
            elif kind == ATTRIBUTES_FULL:
                self.attributes_full_at = max(self.attributes_full_at, decision[1])

    def check(self, asked: list[list[str]], policy: TenantPolicy) -> Check:
        """Whether this view decides a message with these facts as the arbiter would, and whether
        admit() changes the message. WAIT while any fact it depends on is undecided here."""
        result = Check.PASS
        reject_conflicts = policy.type_conflict_policy is ConflictPolicy.REJECT
        for name, properties in _groups(asked):
            if name is None:
                fact = properties[0]
                known = self.attribute_types.get(fact[1])
                if known is None:
                    if self._attribute_count() < policy.limits.max_distinct_attributes:
                        return Check.WAIT
                    result = Check.ADMIT
                elif known != fact[2]:
                    result = Check.ADMIT
                continue
            if name not in self.event_names:
                if self._event_count() < policy.limits.max_distinct_event_names:
                    return Check.WAIT
                result = Check.ADMIT  # refused by the limit
                continue
            undecided = conflict = False
            for p in properties:
                known = self.property_types.get(f"{name}\x1f{p[2]}")
                undecided |= known is None
                conflict |= known is not None and known != p[3]
            if conflict and reject_conflicts:
                result = Check.ADMIT  # refused whatever the undecided properties become
            elif undecided:
                return Check.WAIT
            elif conflict:
                result = Check.ADMIT
        return result

    # -- the rules, applied to one message --------------------------------------------------------

    def admit(self, action: Action, policy: TenantPolicy) -> tuple[list[Rejection], bool]:
        """Apply the schema rules to `action` in place. Returns the rejections and whether the schema
        changed (so the caller writes state only then)."""
        rejections: list[Rejection] = []
        changed = False
        kept_events = []
        for event in action.events:
            rejection, learned = self._admit_event(event, action, policy)
            if rejection:
                rejections.append(rejection)
            else:
                kept_events.append(event)
                changed |= learned
        action.events = kept_events
        kept_ops = []
        for op in action.attributes:
            rejection, learned, keep = self._admit_attribute(op, action, policy)
            if rejection:
                rejections.append(rejection)
            if keep:
                kept_ops.append(op)
                changed |= learned
        action.attributes = kept_ops
        return rejections, changed

    def _admit_event(self, event: Event, action: Action, policy: TenantPolicy):
        new_name = event.name not in self.event_names
        if new_name and self._event_count() >= policy.limits.max_distinct_event_names:
            return Rejection(
                Reason.LIMIT_EXCEEDED,
                f"new event name {event.name[:60]!r}: tenant already has "
                f"{len(self.event_names)} distinct event names (limit {policy.limits.max_distinct_event_names})",
                event.path,
            ), False
        new_types, dropped = {}, []
        for prop, value in event.properties.items():
            kind = type_of(value)
            if kind == "null":
                continue
            key = f"{event.name}\x1f{prop}"
            known = self.property_types.get(key, new_types.get(key))
            if known is None:
                new_types[key] = kind
            elif known != kind:
                if policy.type_conflict_policy is ConflictPolicy.REJECT:
                    return Rejection(
                        Reason.TYPE_CONFLICT,
                        f"property {prop!r} of event {event.name[:60]!r} is {kind}, first seen as {known}",
                        f"{event.path}.properties.{prop}",
                    ), False
                dropped.append(prop)
        for prop in dropped:
            del event.properties[prop]
            action.dropped.append(f"{event.path}.properties.{prop}")
        if new_name:
            self.event_names.add(event.name)
        self.property_types.update(new_types)
        return None, bool(new_name or new_types)

    def _admit_attribute(self, op: AttributeOp, action: Action, policy: TenantPolicy):
        """Returns (rejection, schema learned, keep op)."""
        if op.op == "unset":
            return None, False, True
        kind = "array" if op.op in ("add_to_set", "pull") else type_of(op.value)
        known = self.attribute_types.get(op.name)
        if known is None:
            if self._attribute_count() >= policy.limits.max_distinct_attributes:
                return (
                    Rejection(
                        Reason.LIMIT_EXCEEDED,
                        f"new attribute {op.name[:60]!r}: tenant already has "
                        f"{len(self.attribute_types)} attributes (limit {policy.limits.max_distinct_attributes})",
                        f"attributes.{op.name}",
                    ),
                    False,
                    False,
                )
            self.attribute_types[op.name] = kind
            return None, True, True
        if known == kind:
            return None, False, True
        if policy.type_conflict_policy is ConflictPolicy.REJECT:
            return (
                Rejection(
                    Reason.TYPE_CONFLICT,
                    f"attribute {op.name!r} is {kind}, first seen as {known}",
                    f"attributes.{op.name}",
                ),
                False,
                False,
            )
        action.dropped.append(f"attributes.{op.name}")
        return None, False, False


def pack_schema(schema: TenantSchema) -> tuple:
    """The stored form: (sorted event names, property types, attribute types, events full at, attributes
    full at). Add fields at the end."""
    return (
        tuple(sorted(schema.event_names)),
        dict(schema.property_types),
        dict(schema.attribute_types),
        schema.events_full_at,
        schema.attributes_full_at,
    )


def unpack_schema(stored) -> TenantSchema:
    """A stored schema (or None: a tenant seen for the first time) as a TenantSchema."""
    if stored is None:
        return TenantSchema()
    if isinstance(stored, TenantSchema):  # pickled by releases before 0.2
        return stored
    event_names, property_types, attribute_types, *full = stored  # 0.2 stored three fields
    events_full_at, attributes_full_at = full or (0, 0)
    return TenantSchema(
        set(event_names), dict(property_types), dict(attribute_types), events_full_at, attributes_full_at
    )
