"""A scripted profile-dedupe scenario for tests, the demo and the benchmark: destinations, profiles and
computation messages (duplicates, merges, new ids, exits), reproducible from a seed, and the outbound
events the rules give for it, computed by the pure engine over dicts.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from cli.produce import producer  # the CLI's producer: idempotent, acks=all
from common.config import Settings
from common.contracts.compute import ComputeMessage, Trigger, message_record
from common.contracts.destinations import Destination, destination_record
from common.contracts.profiles import ExternalId, ProfileIds
from common.contracts.rollout import Rollout, rollout_record
from common.kafka.produce import send
from common.serde.avro import AvroCodec
from common.topics import topic
from jobs.profile_dedupe.engine import DedupeEngine, DestinationIndex, DictStore
from jobs.profile_dedupe.process import OUTBOUND, MessageOutcome

DEFAULT_ROLLOUT = Rollout()
AUDIENCES = ("aud-1", "aud-2")
TRAIT = "trait-1"


def tenant_destinations(tenant: str, per_message: int = 3) -> list[Destination]:
    """`per_message` destinations on every computation: a mix with and without dedupes_on."""
    kinds = [("email", "email"), ("webhook", None), ("sms", "phone"), ("ads_list", None), ("push", "device")]
    computations = (*AUDIENCES, TRAIT)
    out = [
        Destination(tenant, f"{kind}-{i}", kind, computations, dedupes_on)
        for i, (kind, dedupes_on) in enumerate((kinds * per_message)[:per_message])
    ]
    out.append(Destination(tenant, "email-off", "email", computations, "email", enabled=False))
    return out


@dataclass
class Scenario:
    destinations: list[Destination]
    profiles: list[tuple[str, str, ProfileIds]]  # tenant, profile id, ids
    messages: list[ComputeMessage] = field(default_factory=list)  # in send order, duplicates included


def _profile_ids(rng: random.Random, tenant: str, n: int) -> ProfileIds:
    ids = [ExternalId("customer_id", f"{tenant}-c{n}", 1_000 + n)]
    if rng.random() < 0.7:
        ids.append(ExternalId("email", f"u{n}@{tenant}.example", 2_000 + n))
        if rng.random() < 0.2:
            ids.append(ExternalId("email", f"u{n}.alt@{tenant}.example", 3_000 + n))
    if rng.random() < 0.5:
        ids.append(ExternalId("phone", f"+1555{n:07d}", 2_500 + n))
    if rng.random() < 0.3:
        ids.append(ExternalId("device", f"dev-{tenant}-{n}", 2_700 + n))
    return ProfileIds(tuple(sorted(ids)))


def generate(
    seed: int,
    messages: int,
    tenants=("acme", "globex"),
    profiles_per_tenant: int = 500,
    destinations_per_message: int = 3,
) -> Scenario:
    rng = random.Random(seed)
    scenario = Scenario(
        destinations=[d for t in tenants for d in tenant_destinations(t, destinations_per_message)], profiles=[]
    )
    live: dict[str, list[str]] = {}
    member: dict[tuple[str, str, str], bool] = defaultdict(bool)
    for tenant in tenants:
        live[tenant] = []
        for n in range(profiles_per_tenant):
            profile_id = f"u-{n}"
            scenario.profiles.append((tenant, profile_id, _profile_ids(rng, tenant, n)))
            live[tenant].append(profile_id)
    clock, sent = 1_700_000_000_000, scenario.messages
    while len(sent) < messages:
        clock += rng.randint(1, 50)
        tenant = rng.choice(tenants)
        profile_id = rng.choice(live[tenant])
        common = {"tenant": tenant, "message_id": f"{tenant}-m{len(sent)}", "event_time_ms": clock}
        roll = rng.random()
        if roll < 0.08 and sent:  # the compute pipeline sends a message again
            sent.append(rng.choice(sent))
            continue
        if roll < 0.15 and len(live[tenant]) > 2:  # merge another profile into this one
            merged_away = rng.choice([p for p in live[tenant] if p != profile_id])
            computation = rng.choice(AUDIENCES)
            live[tenant].remove(merged_away)
            member[(tenant, profile_id, computation)] = True
            sent.append(
                ComputeMessage(
                    **common,
                    computation_id=computation,
                    computation_kind="audience",
                    profile_id=profile_id,
                    value_json='"entered"',
                    trigger=Trigger.PROFILE_MERGE,
                    merged_profile_ids=(merged_away, profile_id),
                )
            )
            continue
        if roll < 0.30:  # a new external id on a profile that is in an audience
            joined = [c for c in AUDIENCES if member[(tenant, profile_id, c)]]
            if not joined:
                continue
            id_type = rng.choice(("email", "phone", "device"))
            new_id = ExternalId(id_type, f"{id_type}-{len(sent)}@{tenant}", clock)
            sent.append(
                ComputeMessage(
                    **common,
                    computation_id=rng.choice(joined),
                    computation_kind="audience",
                    profile_id=profile_id,
                    value_json='"entered"',
                    trigger=Trigger.NEW_EXTERNAL_ID,
                    external_id=new_id,
                )
            )
            continue
        if roll < 0.45:  # a computed trait's value changes (null: no value any more)
            value = rng.choice(("null", '"gold"', '"silver"', "3", "7"))
            sent.append(
                ComputeMessage(
                    **common,
                    computation_id=TRAIT,
                    computation_kind="computed_trait",
                    profile_id=profile_id,
                    value_json=value,
                    trigger=Trigger.VALUE_CHANGED,
                )
            )
            continue
        computation = rng.choice(AUDIENCES)  # enters or exits an audience (sometimes "enters" again)
        entered = rng.random() < (0.35 if member[(tenant, profile_id, computation)] else 0.8)
        member[(tenant, profile_id, computation)] = entered
        sent.append(
            ComputeMessage(
                **common,
                computation_id=computation,
                computation_kind="audience",
                profile_id=profile_id,
                value_json='"entered"' if entered else '"exited"',
                trigger=Trigger.VALUE_CHANGED,
            )
        )
    return scenario


def expected_outbound(
    scenario: Scenario, rollout: Rollout = DEFAULT_ROLLOUT, messages: list[ComputeMessage] | None = None
) -> list[dict]:
    """The outbound_event records the rules give: profiles first, then messages in send order (one
    tenant's messages share one partition, so the job sees them in this order too)."""
    engine = DedupeEngine()
    index = DestinationIndex({d.key: d for d in scenario.destinations})
    stores: dict[str, DictStore] = defaultdict(DictStore)
    for tenant, profile_id, ids in scenario.profiles:
        engine.on_profile(stores[tenant], profile_id, ids)
    out = []
    for message in scenario.messages if messages is None else messages:
        out += [
            record
            for kind, record in engine.on_message(stores[message.tenant], message, index, rollout, MessageOutcome())
            if kind == OUTBOUND
        ]
    return out


def produce_config(settings: Settings, destinations: list[Destination], rollout: Rollout | None = None) -> None:
    codec, p = AvroCodec(), producer(settings)
    for d in destinations:
        send(
            p,
            topic(settings.topic_prefix, "destinations.config"),
            codec.encode("destination", destination_record(d)),
            key=d.key.encode(),
        )
    if rollout is not None:
        send(
            p,
            topic(settings.topic_prefix, "dedupe.rollout"),
            codec.encode("dedupe_rollout", rollout_record(rollout)),
            key=b"rollout",
        )
    assert p.flush(60) == 0


def profile_value(codec: AvroCodec, tenant: str, profile_id: str, ids: ProfileIds) -> bytes:
    """An hw.identity.profiles value, as action-streaming writes it."""
    record = {
        "tenant": tenant,
        "user_id": profile_id,
        "merged_into": ids.merged_into,
        "deleted": ids.deleted,
        "external_ids": [{"type": i.type, "value": i.value, "first_seen_ms": i.first_seen_ms} for i in ids.ids],
    }
    return codec.encode("identity_profile", record)


def produce_profiles(settings: Settings, profiles: list[tuple[str, str, ProfileIds]]) -> None:
    """As action-streaming writes them to hw.identity.profiles."""
    codec, p = AvroCodec(), producer(settings)
    for tenant, profile_id, ids in profiles:
        send(
            p,
            topic(settings.topic_prefix, "identity.profiles"),
            profile_value(codec, tenant, profile_id, ids),
            key=f"{tenant}:{profile_id}".encode(),
        )
    assert p.flush(60) == 0


def produce_messages(settings: Settings, messages: list[ComputeMessage]) -> None:
    """As `headwater produce --source compute` does: Avro, keyed by tenant."""
    codec, p = AvroCodec(), producer(settings)
    for message in messages:
        send(
            p,
            topic(settings.topic_prefix, "compute.output"),
            codec.encode("compute_message", message_record(message)),
            key=message.tenant.encode(),
        )
    assert p.flush(120) == 0
