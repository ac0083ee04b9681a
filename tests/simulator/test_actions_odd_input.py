"""The simulator's action endpoints answer odd input with a 4xx or a ``fail[]`` entry, never a 500
(issue 17, item 5: create-managed-url with ``a]b`` used to be a 500)."""

from __future__ import annotations

from typing import Any

import pytest

from mimecast_siem.simulator import RunningSimulator
from mimecast_siem.simulator.app import load_extensions
from mimecast_siem.simulator.registry import ENDPOINTS
from tests.simulator.helpers import Caller

load_extensions()
ACTION_PATHS = sorted(
    ep.path
    for ep in ENDPOINTS
    if "{" not in ep.path and ep.handler.__module__.startswith("mimecast_siem.simulator.actions_")
)

ODD_ITEMS: list[Any] = [
    None, 5, "x", [], {}, {"id": 5}, {"id": None}, {"id": ["a"]}, {"id": {"a": 1}}, {"url": "a]b"},
    {"url": "http://[::1"}, {"url": "http://x:99999", "action": "block"}, {"url": 5}, {"start": "nope", "end": 7},
    {"ids": "x"}, {"ids": [None]}, {"policy": "x"}, {"policy": {"from": "x", "to": 5}},
    {"policy": {"description": "x", "from": {"type": 5}, "to": {"type": "everyone"}}}, {"searchBy": "x"},
    {"filterBy": "x"}, {"filterBy": [5]}, {"hashes": "x"}, {"hashes": [5]}, {"emailAddress": 5, "id": "x"},
    {"messageId": 5}, {"query": 5, "searchField": 5}, {"fieldName": 5}, {"view": 5}, {"folderId": 5},
    {"addressAlterations": 5}, {"option": 5}, {"description": 5}, {"admin": "x", "start": 5},
]  # fmt: skip
ODD_BODIES: list[Any] = [{"data": [item]} for item in ODD_ITEMS] + [
    {"data": "x"},
    {"data": [{}] * 30},
    {"meta": {"pagination": {"pageSize": "x"}}, "data": [{}]},
    {"meta": {"pagination": {"pageToken": 5}}, "data": [{}]},
    {"meta": {"pagination": {"pageToken": "garbage"}}, "data": [{}]},
    {"meta": {"pagination": {"pageSize": -1}}, "data": []},
]


def test_the_action_endpoints_are_found() -> None:
    assert len(ACTION_PATHS) >= 40
    assert "/api/ttp/url/create-managed-url" in ACTION_PATHS


@pytest.mark.parametrize("path", ACTION_PATHS)
async def test_odd_input_never_gets_a_500(path: str, api: Caller, simulator: RunningSimulator) -> None:
    for body in ODD_BODIES:
        reply = await api.post(path, body=body)
        assert reply.status < 500, (path, body, reply.body)
