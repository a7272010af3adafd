"""How users and devices are stored in the operator's RocksDB MapStates: plain tuples, not objects.

Why: a pickled dataclass carries its module, class and field names in every value (562 bytes for a
typical user, 207 for a device). Tuples of the fields in declaration order carry only the values, so
RocksDB writes, compacts and checkpoints about half the bytes, and unpickling makes no attribute dicts.

Compatibility rule: add new fields to UserIdentity, UserState and DeviceState at the end, with a
default. A value stored before the field existed is then a shorter tuple, and the constructor fills
the default, so state in an older savepoint still restores.
"""

from __future__ import annotations

from dataclasses import fields

from jobs.action_streaming.device_state import DeviceState
from jobs.action_streaming.identity import UserIdentity
from jobs.action_streaming.user_state import UserState

_IDENTITY = tuple(f.name for f in fields(UserIdentity))
_USER = tuple(f.name for f in fields(UserState) if f.name != "identity")
_DEVICE = tuple(f.name for f in fields(DeviceState))
assert fields(UserState)[0].name == "identity", "UserState's first field must stay `identity`"


def pack_user(user: UserState) -> tuple:
    identity = user.identity
    return (tuple(getattr(identity, name) for name in _IDENTITY), *(getattr(user, name) for name in _USER))


def unpack_user(stored: tuple) -> UserState:
    return UserState(UserIdentity(*stored[0]), *stored[1:])


def pack_device(device: DeviceState) -> tuple:
    return tuple(getattr(device, name) for name in _DEVICE)


def unpack_device(stored: tuple) -> DeviceState:
    return DeviceState(*stored)
