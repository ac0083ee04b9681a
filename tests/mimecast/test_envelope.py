"""Envelope encoding and decoding as values: format errors are typed and never quote the body."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.errors import ResponseFormatError, TransientError
from mimecast_siem.mimecast.envelope import (
    decode_json,
    encode_envelope,
    envelope_response,
    is_json_content_type,
    next_page_token,
    page_records,
    paged_meta,
    rest_response,
    try_decode_json,
)

EP = "/api/ttp/url/get-logs"


def test_encode_envelope_omits_empty_meta() -> None:
    assert orjson.loads(encode_envelope([{"a": 1}], None)) == {"data": [{"a": 1}]}
    assert orjson.loads(encode_envelope(None, {})) == {"data": []}


def test_encode_envelope_with_pagination() -> None:
    body = orjson.loads(encode_envelope([{"from": "x"}], paged_meta(100, "tok")))
    assert body == {"meta": {"pagination": {"pageSize": 100, "pageToken": "tok"}}, "data": [{"from": "x"}]}


def test_first_page_meta_has_no_token() -> None:
    assert paged_meta(500, None) == {"pagination": {"pageSize": 500}}


def test_paged_meta_keeps_extra_keys_but_owns_pagination() -> None:
    meta = paged_meta(10, "t", {"accountCode": "C1", "pagination": {"pageToken": "stale"}})
    assert meta == {"accountCode": "C1", "pagination": {"pageSize": 10, "pageToken": "t"}}


def test_encode_refuses_non_json_values() -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"):
        encode_envelope([{"when": object()}], None)


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"pagination": {"next": "abc"}}, "abc"),
        ({"pagination": {"next": ""}}, None),
        ({"pagination": {"next": None}}, None),
        ({"pagination": {}}, None),
        ({}, None),
        ({"pagination": "x"}, None),
        ({"pagination": {"next": 5}}, None),
    ],
)
def test_next_page_token(meta: dict[str, object], expected: str | None) -> None:
    assert next_page_token(meta) == expected


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/problem+json", True),
        ("text/html", False),
        ("text/plain; charset=utf-8", False),
        (None, False),
        ("", False),
    ],
)
def test_json_content_types(content_type: str | None, ok: bool) -> None:
    assert is_json_content_type(content_type) is ok


def test_empty_body_is_a_format_error_naming_endpoint_and_status() -> None:
    with pytest.raises(ResponseFormatError) as info:
        decode_json(EP, 200, "application/json", b"")
    assert isinstance(info.value, TransientError)
    assert info.value.endpoint == EP
    assert info.value.status == 200
    assert EP in str(info.value)
    assert "empty" in str(info.value)


def test_wrong_content_type_is_a_format_error_without_the_body() -> None:
    body = b"<html>secret-looking maintenance page</html>"
    with pytest.raises(ResponseFormatError) as info:
        decode_json(EP, 200, "text/html; charset=utf-8", body)
    assert "text/html" in str(info.value)
    assert "maintenance" not in str(info.value)


def test_truncated_json_is_a_format_error_without_the_body() -> None:
    body = b'{"meta": {"status": 200}, "data": [{"clickLogs": [{"url": "https://private.example/'
    with pytest.raises(ResponseFormatError) as info:
        decode_json(EP, 200, "application/json", body)
    assert "not valid JSON" in str(info.value)
    assert "private.example" not in str(info.value)


@pytest.mark.parametrize(
    "document",
    [[], "text", 5, {"data": {}}, {"meta": []}, {"fail": {}}],
)
def test_envelope_shape_errors(document: object) -> None:
    with pytest.raises(ResponseFormatError):
        envelope_response(EP, 200, document)


def test_envelope_defaults_and_fail_parsing() -> None:
    response = envelope_response(EP, 200, {"fail": [{"errors": [{"code": "err_validation_null", "message": "m"}]}]})
    assert response.meta == {}
    assert response.data == []
    assert [f.code for f in response.fail] == ["err_validation_null"]


def test_envelope_null_fields_are_empty() -> None:
    response = envelope_response(EP, 200, {"meta": None, "data": None, "fail": None})
    assert (response.meta, response.data, response.fail) == ({}, [], [])


def test_records_nested_under_record_key_across_data_items() -> None:
    response = envelope_response(EP, 200, {"data": [{"clickLogs": [{"a": 1}, {"a": 2}]}, {"clickLogs": [{"a": 3}]}]})
    assert page_records(EP, response, "clickLogs") == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_missing_record_key_means_no_records() -> None:
    response = envelope_response(EP, 200, {"data": [{"resultCount": 0}]})
    assert page_records(EP, response, "impersonationLogs") == []


def test_flat_records() -> None:
    response = envelope_response(EP, 200, {"data": [{"id": "1"}, {"id": "2"}]})
    assert page_records(EP, response, None) == [{"id": "1"}, {"id": "2"}]


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ({"data": [{"clickLogs": {"a": 1}}]}, "clickLogs"),
        ({"data": ["x"]}, "clickLogs"),
    ],
)
def test_record_shape_errors(document: dict[str, object], key: str | None) -> None:
    with pytest.raises(ResponseFormatError):
        page_records(EP, envelope_response(EP, 200, document), key)


@pytest.mark.parametrize(
    ("document", "key"),
    [({"data": [{"clickLogs": ["x", None]}]}, "clickLogs"), ({"data": [1, {"id": "2"}]}, None)],
)
def test_records_that_are_not_objects_are_kept_wrapped(document: dict[str, object], key: str | None) -> None:
    records = page_records(EP, envelope_response(EP, 200, document), key)
    assert records[0] == {"value": "x" if key else 1}
    assert records[1] == ({"value": None} if key else {"id": "2"})


def test_try_decode_json_tolerates_non_json() -> None:
    assert try_decode_json("text/html", b"<html>") is None
    assert try_decode_json("application/json", b"{bad") is None
    assert try_decode_json(None, b"") is None
    assert try_decode_json("text/plain", b'{"error": "invalid_client"}') == {"error": "invalid_client"}


@pytest.mark.parametrize(
    ("document", "data"),
    [
        (None, []),
        ([1, 2], [1, 2]),
        ({"value": [{"url": "u"}], "@nextPage": "n"}, [{"url": "u"}]),
        ({"data": [{"x": 1}], "meta": {"a": 1}}, [{"x": 1}]),
        ({"id": "p1"}, [{"id": "p1"}]),
    ],
)
def test_rest_response_shapes(document: object, data: list[object]) -> None:
    response = rest_response(200, document)
    assert response.data == data
    assert response.body == document


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(st.binary(max_size=200))
def test_decode_json_only_raises_format_errors(body: bytes) -> None:
    caught: list[ResponseFormatError] = []
    try:
        decode_json(EP, 200, "application/json", body)
    except ResponseFormatError as exc:
        caught.append(exc)
    assert all(exc.endpoint == EP for exc in caught)
