"""The identity level operator (level_operator.py) on a fake runtime: five stages, one per level,
with their frames split and forwards delivered by hand, as the Java side of the job does. What comes
out equals the reference model (harness/models/identity_network.py), and a record it cannot read is
refused with its bytes."""

from common.contracts.routing import LEVELS, level, routed_records
from common.contracts.tenants import load_registry
from common.serde import frames
from common.serde.avro import AvroCodec
from harness.flink_fake import OperatorDriver
from harness.models.identity_network import documents, merge_heavy, reference
from jobs.action_streaming.level_codec import unpack_key_state
from jobs.action_streaming.level_operator import (
    FORGET,
    FORGETS,
    FORWARD_BASE,
    FORWARDED,
    IDENTIFIERS,
    ROUTED,
    LevelStage,
    pack_element,
)
from jobs.action_streaming.records import DELTAS, REJECTED
from jobs.action_streaming.settings import ActionSettings

BUCKET = "b0"


def _stages():
    options = ActionSettings.from_env({})
    registry = load_registry()
    return [OperatorDriver(LevelStage(n, registry, options)) for n in range(len(LEVELS))]


def _run(stages, elements_by_level):
    """Deliver until nothing is left, forgets through their topic back to the device stage, as the
    job does; returns the Kafka records (output, key, value)."""
    out, pending = [], list(elements_by_level)
    while pending:
        stage_level, element = pending.pop(0)
        for frame in stages[stage_level].element(frames.pack([(0, b"", element)]), key=BUCKET):
            for output, key, value, stamp in frames.unpack_stamped(frame):
                if output >= FORWARD_BASE:
                    pending.append((output - FORWARD_BASE, pack_element(FORWARDED, stamp, key.decode(), value)))
                elif output == FORGETS:
                    pending.append((0, pack_element(FORGET, stamp, key.decode(), value)))
                    out.append((output, key, value))
                else:
                    out.append((output, key, value))
    return out


def test_five_stages_give_the_documents_of_the_reference_model():
    codec = AvroCodec()
    actions = merge_heavy(seed=3, messages=400, users=40)
    elements = []
    for action in actions:
        for key, value in routed_records(codec, action, action.time_ms):
            routed_key = key.decode()
            element = pack_element(ROUTED, action.time_ms, routed_key, value)
            elements.append((level(routed_key.partition("|")[2]), element))
    stages = _stages()
    out = _run(stages, elements)
    deltas = [codec.decode(value) for output, _key, value in out if output == DELTAS]
    want = reference(actions, {"acme": load_registry().get("acme").limits.max_identifiers_per_user})
    assert documents(deltas) == want.live()[0]
    # the deletes' forgets went round through their topic and cleared their devices' fields
    forgotten = [key for output, key, _value in out if output == FORGETS]
    assert forgotten
    device_keys = stages[0].state(IDENTIFIERS.name, BUCKET)
    devices = [unpack_key_state(device_keys.get(key.decode())).device for key in forgotten]
    assert any(device.forgotten for device in devices)
    assert all(device.fields == {} for device in devices if device.forgotten)


def test_a_record_it_cannot_read_is_refused_with_its_bytes():
    stages = _stages()
    element = pack_element(ROUTED, 5, "acme|email:a@b.c", b"not avro")
    out = _run(stages, [(3, element)])
    assert [output for output, _k, _v in out] == [REJECTED]
    assert AvroCodec().decode(out[0][2])["original"] == b"not avro"
    out = _run(stages, [(3, pack_element(ROUTED, 5, "no-tenant-bar", b"x"))])
    assert [output for output, _k, _v in out] == [REJECTED]
