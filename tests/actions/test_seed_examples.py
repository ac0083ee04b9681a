"""Every example request of the action catalogue, accepted exactly as written (issue 17, item 4).

The examples are parsed from the catalogue page itself (``seed_examples.py``), not copied by hand:
each one runs with ``--dry-run`` through the CLI (accepted, nothing sent) and for real against the
simulator over HTTP (never refused as invalid; the seed's ids do not exist in the simulator, so
Mimecast's own refusal of an unknown id is an accepted answer, a 5xx or a validation error is not).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.spec import ResultKind
from tests.actions.conftest import ActionEnv, CliRunner, bearer
from tests.actions.seed_examples import SEED_COPY, SHARED_SEEDS, SeedExample, parse_examples, seed_examples

EXAMPLES = seed_examples()
IDS = [f"{e.action}@{e.line}" for e in EXAMPLES]


def test_the_copy_of_the_catalogue_page_is_current() -> None:
    for shared in SHARED_SEEDS:
        if shared.exists():
            assert shared.read_bytes() == SEED_COPY.read_bytes(), f"{SEED_COPY} differs from {shared}"


def test_every_example_names_a_catalogue_action() -> None:
    assert len(EXAMPLES) >= 36
    assert {e.action for e in EXAMPLES} <= set(CATALOGUE)


def test_the_parser_reads_nested_json_and_strings_with_brackets() -> None:
    text = 'Action: Decode URL\n\nExample Request\n\n[\n  {\n    "encoded_urls": [{"url": "https://a/[x]{"}]\n  }\n]\nAction: X'
    (example,) = parse_examples(text)
    assert example.action == "decode-url"
    assert example.params == {"encoded_urls": [{"url": "https://a/[x]{"}]}


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
async def test_seed_example_dry_run(example: SeedExample, action_env: ActionEnv, run_cli: CliRunner) -> None:
    before = action_env.requests_seen()
    run = await run_cli("action", "run", example.action, "--params", json.dumps(example.params), "--dry-run")
    assert run.code == 0, (example.params, run.out, run.err)
    assert run.out["dry_run"] is True
    assert run.out["requests"]
    assert action_env.requests_seen() == before


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
async def test_seed_example_against_the_simulator(example: SeedExample, http: Any) -> None:
    resp = await http.post(f"/v1/actions/{example.action}", json={"params": example.params}, headers=bearer("ops"))
    body = await resp.read()
    assert resp.status < 500, body[:500]
    assert resp.status not in (400, 404), body[:500]  # accepted as written
    if resp.status == 422:  # Mimecast (the simulator) refused, e.g. an id that does not exist there
        doc = json.loads(body)
        assert doc["type"].endswith(":refused"), doc
    elif CATALOGUE[example.action].kind is not ResultKind.BINARY:
        assert json.loads(body)["action"] == example.action
