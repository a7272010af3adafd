import pytest

from common.contracts.deltas import Delta
from common.serde.avro import AvroCodec, SerdeError
from common.serde.peek import delta_doc_id, first_string
from jobs.action_streaming.records import encode_delta


def test_doc_id_of_a_state_delta_without_decoding_it():
    for collection, doc_id in (("users", "acme:u-1"), ("devices", "acme:" + "d" * 300)):
        _, value = encode_delta(AvroCodec(), "acme", "m1", Delta(collection, doc_id, 3, set={"version": 3}))
        assert delta_doc_id(value) == doc_id and first_string(value) == "acme"


def test_truncated_or_foreign_bytes_are_a_serde_error():
    _, value = encode_delta(AvroCodec(), "acme", "m1", Delta("users", "acme:u-1", 1))
    with pytest.raises(SerdeError, match="truncated"):
        delta_doc_id(value[:14])
    with pytest.raises(SerdeError, match="C3 01"):
        delta_doc_id(b'{"json": 1}')
