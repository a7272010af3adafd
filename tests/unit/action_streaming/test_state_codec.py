import pickle

from jobs.action_streaming.device_state import DeviceState
from jobs.action_streaming.identity import UserIdentity
from jobs.action_streaming.state_codec import pack_device, pack_user, unpack_device, unpack_user
from jobs.action_streaming.user_state import UserState


def _user() -> UserState:
    identity = UserIdentity(
        "u-1", 10, "c1", ["a@x.io"], ["+4915112345678"], ["anon-1"], ["d1"], {"customer_id:c1": 10, "email:a@x.io": 12}
    )
    return UserState(
        identity,
        {"plan": "pro", "tags": ["a", "b"], "score": 1.5, "gone": None},
        99,
        {"app_opened": 3},
        7,
        {"plan": (99, "m-9")},
    )


def test_user_and_device_round_trip_through_pickle_with_every_field():
    user, device = _user(), DeviceState("d1", "u-1", "ios", "1.2", "17", "tok", 99, 4)
    assert unpack_user(pickle.loads(pickle.dumps(pack_user(user)))) == user
    assert unpack_device(pickle.loads(pickle.dumps(pack_device(device)))) == device


def test_stored_values_are_much_smaller_than_pickled_objects():
    user = _user()
    assert len(pickle.dumps(pack_user(user))) < 0.7 * len(pickle.dumps(user))


def test_a_value_stored_before_a_field_was_added_restores_with_the_default():
    stored = pack_user(_user())
    older = (stored[0][:-1], *stored[1:-1])  # as if first_seen_ids and attribute_stamps did not exist yet
    user = unpack_user(older)
    assert user.identity.first_seen_ids == {} and user.attribute_stamps == {}
    assert user.identity.devices == ["d1"] and user.version == 7
