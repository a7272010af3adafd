import pytest

from common.serde.frames import FrameError, pack, unpack, unpack_stamped


def test_round_trip_keeps_order_outputs_and_empty_values():
    records = [(0, b"k1", b"v1"), (2, b"", b"x" * 70_000), (1, b"key", b""), (127, b"\x00\xff", b"\x01")]
    assert list(unpack(pack(records))) == records


def test_empty_frame_is_no_records():
    assert pack([]) == b"" and list(unpack(b"")) == []


def test_output_index_must_fit_seven_bits():
    with pytest.raises(FrameError, match="outside 0..127"):
        pack([(128, b"k", b"v")])


@pytest.mark.parametrize("cut", [1, 4, 7, 9, 12])
def test_truncated_frame_is_an_error_not_a_short_read(cut):
    frame = pack([(0, b"key", b"value")])
    with pytest.raises(FrameError, match="truncated"):
        list(unpack(frame[:-cut]))


def test_a_null_value_is_a_tombstone_not_an_empty_value():
    records = [(0, b"k", None), (0, b"k", b""), (1, b"j", b"v")]
    assert list(unpack(pack(records))) == records


def test_timestamps_travel_with_their_records_and_a_record_may_have_none():
    records = [(0, b"k", b"v", 1_796_000_000_123), (3, b"j", None, None), (1, b"", b"w", 0), (2, b"x", b"", -5)]
    assert list(unpack_stamped(pack(records))) == records
    assert list(unpack(pack(records))) == [r[:3] for r in records]


@pytest.mark.parametrize("cut", [1, 5, 9, 14, 17])
def test_a_truncated_stamped_record_is_an_error(cut):
    frame = pack([(1, b"key", b"value", 42)])
    with pytest.raises(FrameError, match="truncated"):
        list(unpack_stamped(frame[:-cut]))
