import pytest

from common.serde.frames import FrameError, pack, unpack


def test_round_trip_keeps_order_outputs_and_empty_values():
    records = [(0, b"k1", b"v1"), (2, b"", b"x" * 70_000), (1, b"key", b""), (255, b"\x00\xff", b"\x01")]
    assert list(unpack(pack(records))) == records


def test_empty_frame_is_no_records():
    assert pack([]) == b"" and list(unpack(b"")) == []


def test_output_index_must_fit_a_byte():
    with pytest.raises(FrameError, match="outside 0..255"):
        pack([(256, b"k", b"v")])


@pytest.mark.parametrize("cut", [1, 4, 7, 9, 12])
def test_truncated_frame_is_an_error_not_a_short_read(cut):
    frame = pack([(0, b"key", b"value")])
    with pytest.raises(FrameError, match="truncated"):
        list(unpack(frame[:-cut]))


def test_a_null_value_is_a_tombstone_not_an_empty_value():
    records = [(0, b"k", None), (0, b"k", b""), (1, b"j", b"v")]
    assert list(unpack(pack(records))) == records
