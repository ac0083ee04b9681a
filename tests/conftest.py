"""Root conftest: shared fixtures live in tests/fixtures/ and are loaded as plugins.

It also applies the test-lane markers (pyproject.toml declares them; ``--strict-markers`` is on):

* ``e2e`` - every test under ``tests/e2e/`` (whole processes, real receivers);
* ``external`` - every test that needs a binary outside the virtualenv: rsyslog or syslog-ng
  (the receiver fixtures) or helm (``tests/helm/``);
* ``postgres`` - added by ``tests/fixtures/postgres.py`` to every test using the server;
* ``slow`` - set in the test modules themselves (``pytestmark``) for tests over ~10 s, and below
  (:data:`_SLOW_MODULES`, :data:`_SLOW_TESTS`) for the unit tests that took 4 s or more on the
  shared 2-core machine (process-spawning CLI tests, hypothesis property runs, sink contract
  suites), so the fast lane stays within its two minutes.

``bash scripts/test.sh --fast`` runs what carries none of these: the unit and contract tests.

Order: modules run heaviest first (their recorded seconds in ``tests/durations.json``; a module not
recorded yet counts as :data:`_UNRECORDED_E2E_SECONDS` when it is e2e or slow, else
:data:`_UNRECORDED_SECONDS`). ``scripts/test.sh`` passes ``--no-loadscope-reorder`` so that pytest-xdist
keeps this order: by default it sorts modules by their number of tests, which sent the long single-test
e2e modules (three minutes of SIGKILLs) to the end, where one worker ran them alone. Heaviest first is the
classic longest-processing-time schedule. ``MIMECAST_SIEM_RECORD_DURATIONS=tests/durations.json`` on a
full run rewrites the file with that run's seconds per module.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from mimecast_siem.config import use_sink_types
from mimecast_siem.observability.logging import reset_logging
from mimecast_siem.sinks import SINK_TYPES

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.postgres",
    "tests.fixtures.receivers",
]


def pytest_configure(config: pytest.Config) -> None:
    """Wire config to the sink types as the CLI does (tests call config functions in-process)."""
    use_sink_types(SINK_TYPES)


#: Fixtures that start a binary from outside the virtualenv.
_EXTERNAL_FIXTURES = frozenset({"rsyslog_receiver", "syslog_ng_receiver", "syslog_receiver", "helm"})


#: Test modules whose tests are nearly all slow (4 s or more each, measured under load).
_SLOW_MODULES = frozenset(
    {
        "tests/actions/test_serve_process.py",
        "tests/checkpoints/test_hostile_state.py",
        "tests/checkpoints/test_lease_processes.py",
        "tests/checkpoints/test_properties.py",
        "tests/collector/test_backfill_dedupe.py",
        "tests/collector/test_delivery.py",
        "tests/collector/test_snapshot_and_gauges.py",
        "tests/config/test_check_ops.py",
        "tests/config/test_hostile_config.py",
        "tests/sinks/test_format_properties.py",
        "tests/streams/test_normalisers_properties.py",
    }
)

#: Single slow tests (node id without parameters) in otherwise quick modules.
_SLOW_TESTS = frozenset(
    {
        "tests/actions/test_end_to_end.py::test_every_action_through_http",
        "tests/actions/test_fuzz.py::test_no_server_errors",
        "tests/actions/test_hostile_http.py::test_a_flood_of_concurrent_calls_is_answered_without_a_server_error",
        "tests/actions/test_http_behaviour.py::test_release_and_reject_shrink_the_hold_list",
        "tests/actions/test_validation.py::test_http_refuses_before_any_request",
        "tests/checkpoints/test_migrations.py::test_concurrent_opens_by_several_processes_migrate_once",
        "tests/collector/test_backfill_cli.py::test_bad_input_exits_2_before_any_request",
        "tests/collector/test_backfill_cli.py::test_dead_lettered_events_get_their_own_column_and_exit_code",
        "tests/collector/test_backfill_cli.py::test_progress_bars_and_summary_table_when_forced",
        "tests/collector/test_backfill_cli.py::test_run_resume_list_and_cancel",
        "tests/collector/test_backfill_runner.py::test_a_graceful_stop_then_a_rerun_sends_nothing_twice",
        "tests/collector/test_backfill_runner.py::test_backfill_delivers_exactly_the_ground_truth_and_leaves_live_state_alone",
        "tests/collector/test_backfill_scheduling.py::test_windows_are_pulled_lazily_never_more_than_concurrency_ahead",
        "tests/collector/test_faults.py::test_token_expiry_rate_limits_and_server_errors_lose_nothing",
        "tests/collector/test_hostile_records.py::test_a_ten_megabyte_field_is_writable_by_every_format",
        "tests/collector/test_hostile_records.py::test_any_mutation_of_a_real_record_gives_a_writable_event",
        "tests/collector/test_overlap_coverage.py::test_a_busy_live_stream_reads_each_record_about_twice_not_once_per_poll",
        "tests/collector/test_overlap_coverage.py::test_catch_up_re_reads_nothing_live_and_restart_re_read_the_overlap",
        "tests/collector/test_siem_files.py::test_inflation_is_stepwise_and_long_lines_are_skipped",
        "tests/collector/test_snapshots.py::test_every_message_enters_once_per_stay_and_leaves_once",
        "tests/collector/test_windows.py::test_windows_are_contiguous_bounded_and_behind_the_head",
        "tests/config/test_cli.py::test_config_check_ok_prints_a_summary",
        "tests/config/test_cli.py::test_config_check_reports_every_problem_and_exits_2",
        "tests/config/test_cli.py::test_config_check_takes_the_path_and_secrets_from_the_environment",
        "tests/config/test_cli.py::test_config_check_without_any_configuration",
        "tests/config/test_cli.py::test_config_schema_is_valid_json_schema_and_accepts_the_example",
        "tests/config/test_cli.py::test_config_without_subcommand_is_a_usage_error",
        "tests/config/test_robustness.py::test_loading_never_crashes",
        "tests/config/test_secrets.py::test_no_problem_ever_shows_a_secret",
        "tests/config/test_yaml_file.py::test_interpolate_cases",
        "tests/mimecast/test_client_pages.py::test_interleaved_walks_keep_their_own_tokens",
        "tests/mimecast/test_client_ratelimit.py::test_a_429_storm_loses_nothing_and_crashes_no_caller",
        "tests/mimecast/test_error_map.py::test_parse_never_crashes_on_arbitrary_json",
        "tests/mimecast/test_error_map.py::test_parse_never_crashes_on_envelope_like_json",
        "tests/mimecast/test_hostile_responses.py::test_any_structurally_sound_page_gives_records_every_sink_can_write",
        "tests/mimecast/test_hostile_secrets.py::test_the_cli_never_prints_a_state_password_fragment",
        "tests/observability/test_liveness_streams.py::test_a_loop_waiting_for_a_failing_sink_is_not_stuck",
        "tests/observability/test_liveness_streams.py::test_stream_loops_are_registered_per_leased_stream_and_forgotten_on_stop",
        "tests/observability/test_logging_client_cycle.py::test_client_cycle_at_debug_leaks_no_secret",
        "tests/observability/test_logging_redaction.py::test_a_real_process_at_debug_leaks_nothing",
        "tests/observability/test_metrics_catalogue.py::test_metrics_doc_is_current",
        "tests/simulator/test_control.py::test_ground_truth_of_a_huge_range_is_what_exists",
        "tests/simulator/test_determinism.py::test_cache_eviction_does_not_change_records",
        "tests/simulator/test_logstore.py::test_paging_returns_every_matching_record_once_in_order",
        "tests/simulator/test_pagetoken.py::test_round_trip",
        "tests/simulator/test_pagination.py::test_many_records_in_one_second_page_cleanly",
        "tests/simulator/test_pagination.py::test_newest_first_walk_equals_ground_truth",
        "tests/simulator/test_siem.py::test_batch_lists_one_file_per_slot_and_files_hold_every_record",
        "tests/simulator/test_siem.py::test_stream_walk_with_cursor_returns_every_record_once",
        "tests/simulator/test_siem.py::test_urls_expire_and_faults_mark_files",
        "tests/simulator/test_streams.py::test_default_window_is_start_of_day_to_now",
        "tests/simulator/test_streams.py::test_ttp_url_filters",
        "tests/simulator/test_wire.py::test_all_accepted_suffixes_mean_the_same_instant",
        "tests/sinks/test_elastic_profile.py::test_streams_both_have_get_elastic_datasets",
        "tests/sinks/test_elasticsearch_sink.py::TestElasticsearchContract::test_outage_then_recovery",
        "tests/sinks/test_elasticsearch_sink.py::TestElasticsearchContract::test_sigkill_between_send_and_commit_redelivers_bounded",
        "tests/sinks/test_file_sink_crash.py::test_sigkill_never_loses_acknowledged_events_or_corrupts_the_file",
        "tests/sinks/test_kafka_sink.py::TestKafkaContract::test_sigkill_between_send_and_commit_redelivers_bounded",
        "tests/sinks/test_s3_sink.py::TestS3Contract::test_accepted_means_durable",
        "tests/sinks/test_s3_sink.py::TestS3Contract::test_outage_then_recovery",
        "tests/sinks/test_s3_sink.py::TestS3Contract::test_sigkill_between_send_and_commit_redelivers_bounded",
        "tests/sinks/test_s3_sink.py::test_conditional_write_never_overwrites",
        "tests/sinks/test_s3_sink.py::test_layout_gzip_ndjson_checksum_and_retry_without_duplicates",
        "tests/sinks/test_s3_sink.py::test_missing_bucket_is_permanent",
        "tests/sinks/test_s3_sink.py::test_size_rollover",
        "tests/sinks/test_sentinel_sink.py::TestSentinelContract::test_sigkill_between_send_and_commit_redelivers_bounded",
        "tests/sinks/test_syslog_sink.py::test_a_cancelled_send_never_leaves_a_half_frame_on_the_connection",
    }
)


#: Seconds per test module measured on a full run (see the module docstring).
_DURATIONS_FILE = Path(__file__).with_name("durations.json")
_UNRECORDED_E2E_SECONDS = 20.0
_UNRECORDED_SECONDS = 1.0


def _recorded_seconds() -> dict[str, float]:
    try:
        data = json.loads(_DURATIONS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _heaviest_first(items: list[pytest.Item]) -> None:
    """Reorder ``items`` in place: whole modules, heaviest first, collection order otherwise."""
    recorded = _recorded_seconds()
    cost: dict[str, float] = {}
    for item in items:
        module = item.nodeid.partition("::")[0]
        if module in cost:
            continue
        heavy = item.get_closest_marker("e2e") or item.get_closest_marker("slow")
        cost[module] = recorded.get(module, _UNRECORDED_E2E_SECONDS if heavy else _UNRECORDED_SECONDS)
    rank = {module: i for i, module in enumerate(sorted(cost, key=lambda m: -cost[m]))}
    items.sort(key=lambda item: rank[item.nodeid.partition("::")[0]])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by where they live and what they need, then order them (see the module docstring)."""
    for item in items:
        module, _, _ = item.nodeid.partition("::")
        if module in _SLOW_MODULES or item.nodeid.split("[", 1)[0] in _SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
        parts = item.path.parts
        if "e2e" in parts:
            item.add_marker(pytest.mark.e2e)
        if "helm" in parts or _EXTERNAL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.external)
    _heaviest_first(items)


_spent: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up the seconds of each module (setup, call and teardown) for MIMECAST_SIEM_RECORD_DURATIONS."""
    _spent[report.nodeid.partition("::")[0]] += report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the seconds per module when asked to (on the controller only: it sees every report)."""
    target = os.environ.get("MIMECAST_SIEM_RECORD_DURATIONS")
    if not target or hasattr(session.config, "workerinput") or not _spent:
        return
    Path(target).write_text(
        json.dumps({m: round(s, 1) for m, s in sorted(_spent.items())}, indent=1) + "\n", encoding="utf-8"
    )


@pytest.fixture(autouse=True)
def _independent_logging() -> Iterator[None]:
    """A command run in-process installs our log handler and root level; undo both after each test."""
    root = logging.getLogger()
    level = root.level
    yield
    reset_logging()
    root.setLevel(level)
