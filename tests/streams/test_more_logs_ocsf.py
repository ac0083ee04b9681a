"""The OCSF records of the DLP, release, rejection, archive and threat-intel streams pass the official schema."""

from __future__ import annotations

import pytest

from mimecast_siem.sinks.formats import get_encoder
from tests.sinks.test_ocsf_schema import schema_problems
from tests.streams.cases import load_inputs, normalise_case

STREAMS = (
    "dlp", "message-release", "rejections", "archive-search", "archive-view", "search",
    "threat-intel-customer", "threat-intel-grid",
)  # fmt: skip
EXPECTED_CLASS = {"dlp": 4009, "message-release": 4009, "rejections": 4009}


@pytest.mark.parametrize("stream", STREAMS)
def test_every_golden_input_gives_schema_valid_ocsf(stream: str) -> None:
    for case in load_inputs(stream):
        records = get_encoder("ocsf").encode(normalise_case(stream, case))
        assert records
        for record in records:
            assert isinstance(record, dict)
            assert schema_problems(record) == [], (stream, record["class_uid"])
            assert record["class_uid"] == EXPECTED_CLASS.get(stream, 0)
