"""Per-tenant schema management: the first observed type of a property or attribute wins.

A later value of another type is handled by the tenant's policy: `drop` removes that property (and
counts it in the action's `dropped` list), `reject` refuses the event or the attribute update with
TYPE_CONFLICT. New event names and attributes count against the tenant's distinct-name limits.

The schema of a tenant lives in Flink keyed state (keyed by tenant) and is checkpointed; this module
holds the rules, so they are tested without Flink, and how the schema is stored (`pack_schema`): plain
tuples, dicts and strings, so a savepoint names no Python class (tests/unit/test_state_layouts.py pins
the layout). Savepoints written before 0.2 hold a pickled TenantSchema instead: `unpack_schema` reads
both, which is why the class keeps its name and module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.contracts.actions import Action, AttributeOp, Event
from common.contracts.rejections import Reason, Rejection
from common.contracts.tenants import ConflictPolicy, TenantPolicy
from jobs.api_unification.values import type_of


@dataclass
class TenantSchema:
    event_names: set[str] = field(default_factory=set)
    property_types: dict[str, str] = field(default_factory=dict)  # "<event>\x1f<property>" -> type
    attribute_types: dict[str, str] = field(default_factory=dict)

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
        if new_name and len(self.event_names) >= policy.limits.max_distinct_event_names:
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
            if len(self.attribute_types) >= policy.limits.max_distinct_attributes:
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
    """The stored form: (sorted event names, property types, attribute types). Add fields at the end."""
    return (tuple(sorted(schema.event_names)), dict(schema.property_types), dict(schema.attribute_types))


def unpack_schema(stored) -> TenantSchema:
    """A stored schema (or None: a tenant seen for the first time) as a TenantSchema."""
    if stored is None:
        return TenantSchema()
    if isinstance(stored, TenantSchema):  # pickled by releases before 0.2
        return stored
    event_names, property_types, attribute_types = stored
    return TenantSchema(set(event_names), dict(property_types), dict(attribute_types))
