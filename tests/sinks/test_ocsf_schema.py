"""The ocsf format validated against the official OCSF schema of the version its records declare.

The schema is the OCSF project's own export of that version (``/export/schema``), shipped by the
``ocsf-json-schema`` package, which also turns a class plus profiles into a JSON schema (draft
2020-12, ``additionalProperties: false``): an attribute the declared version does not define, a
missing required one or a value outside an enum fails here.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema, get_packaged_versions

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats import get_encoder
from mimecast_siem.sinks.formats.ocsf import OCSF_VERSION
from tests.sinks.builders import make_event, record
from tests.sinks.test_json_formats_golden import CASES


@functools.cache
def _schema() -> OcsfJsonSchemaEmbedded:
    return OcsfJsonSchemaEmbedded(get_ocsf_schema(version=OCSF_VERSION))


@functools.cache
def _validator(class_uid: int, profiles: tuple[str, ...]) -> Draft202012Validator:
    schema = _schema()
    return Draft202012Validator(schema.get_class_schema(schema.lookup_class_name_from_uid(class_uid), list(profiles)))


def schema_problems(record: dict[str, Any]) -> list[str]:
    """Every way ``record`` breaks the official schema of the version it declares."""
    assert record["metadata"]["version"] == OCSF_VERSION
    validator = _validator(record["class_uid"], tuple(record["metadata"].get("profiles", ())))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(record)]


def _variants() -> dict[str, Event]:
    cases = dict(CASES)
    for action in ("allow", "block", "warn", "hold", "bounce"):
        cases[f"ttp-url-{action}"] = make_event("ttp-url", record("ttp-url", action=action))
    cases["ttp-attachment-clean"] = make_event("ttp-attachment", record("ttp-attachment", result="safe"))
    cases["ttp-impersonation-bounce"] = make_event(
        "ttp-impersonation", record("ttp-impersonation", action="bounce", taggedMalicious=False)
    )
    return cases


VARIANTS = _variants()


def test_the_declared_version_is_one_the_schema_package_ships() -> None:
    assert OCSF_VERSION in get_packaged_versions()


@pytest.mark.parametrize("case", sorted(VARIANTS))
def test_every_record_is_valid_under_the_declared_version(case: str) -> None:
    records = get_encoder("ocsf").encode(VARIANTS[case])
    assert records
    for rec in records:
        assert isinstance(rec, dict)
        assert schema_problems(rec) == [], (case, rec["class_uid"])


def test_the_checker_catches_an_attribute_the_version_lacks() -> None:
    rec = get_encoder("ocsf").encode(VARIANTS["ttp-url"])[0]
    assert isinstance(rec, dict)
    assert any("not_an_ocsf_attribute" in p for p in schema_problems({**rec, "not_an_ocsf_attribute": 1}))
    assert any("activity_id" in p for p in schema_problems({k: v for k, v in rec.items() if k != "activity_id"}))
