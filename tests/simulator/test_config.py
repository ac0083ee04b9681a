"""Settings validation names the key, the bad value and what is allowed; quota arithmetic."""

from __future__ import annotations

from datetime import datetime

import pytest

from mimecast_siem.simulator import (
    FaultSettings,
    HeldQueueSettings,
    LateArrivals,
    RequestQuota,
    ScriptedFault,
    SimulatorConfig,
)
from mimecast_siem.simulator.faults import FaultState, QuotaBucket, QuotaWindow, new_quota


def test_defaults_are_valid() -> None:
    config = SimulatorConfig()
    assert config.host == "127.0.0.1"
    assert config.max_page_size == 500
    assert config.token_lifetime == 1800


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"port": 70000}, "port=70000"),
        ({"apps": []}, "apps=[]"),
        ({"apps": [("a", "1"), ("a", "2")]}, "unique client ids"),
        ({"apps": [("a", "")]}, "non-empty strings"),
        ({"token_lifetime": 0}, "token_lifetime=0"),
        ({"rates": {"phishing": 1.0}}, "rates='phishing'"),
        ({"rates": {"ttp-url": -1}}, "rates[ttp-url]=-1"),
        ({"history": 100 * 86400}, "history="),
        ({"late": LateArrivals(fraction=1.5)}, "late.fraction=1.5"),
        ({"late": LateArrivals(min_delay=10, max_delay=5)}, "late.max_delay=5"),
        ({"holds": HeldQueueSettings(min_hold=100, max_hold=50)}, "holds.max_hold=50"),
        ({"holds": HeldQueueSettings(release_share=0.8, reject_share=0.5)}, "holds.reject_share"),
        ({"email_queue_shape": "csv"}, "email_queue_shape='csv'"),
        ({"default_page_size": 600}, "default_page_size=600"),
        ({"max_page_size": 0}, "max_page_size=0"),
        ({"max_page_size": 1000}, "max_page_size=1000"),
        ({"frozen_at": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"faults": FaultSettings(script=[ScriptedFault(path="/x", kind="explode")])}, "faults.script.kind"),  # type: ignore[arg-type]
        ({"cache_records": 5}, "cache_records=5"),
    ],
)
def test_bad_settings_name_the_key(changes: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match="allowed") as info:
        SimulatorConfig(**changes)  # type: ignore[arg-type]
    assert needle in str(info.value)


def test_quota_bucket_refills_one_request_per_interval() -> None:
    bucket = QuotaBucket(RequestQuota(limit=4, period=2.0), now=100.0)
    assert [bucket.charge(100.0).allowed for _ in range(5)] == [True, True, True, True, False]
    refused = bucket.charge(100.1)
    assert (refused.limit, refused.remaining, refused.reset_ms) == (4, 0, 400)
    assert bucket.charge(100.5).allowed
    assert not bucket.charge(100.5).allowed
    assert bucket.charge(110.0).remaining == 3  # never more than the limit


def test_quota_window_gives_every_request_back_at_the_end_of_the_window() -> None:
    window = QuotaWindow(RequestQuota(limit=3, period=10.0, shape="window"), now=100.0)
    verdicts = [window.charge(101.0) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]
    assert verdicts[3].reset_ms == 9000  # until the window ends, not one interval
    assert not window.charge(109.9).allowed
    assert window.charge(110.0).remaining == 2  # the whole window came back at once
    assert window.charge(135.0).remaining == 2  # a later window starts full again


def test_quota_settings_name_a_bad_shape() -> None:
    with pytest.raises(ValueError, match=r"faults\.quota\.shape"):
        RequestQuota(limit=3, shape="leaky").validate()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"faults\.quota\.headers"):
        RequestQuota(limit=3, headers="sometimes").validate()  # type: ignore[arg-type]
    assert isinstance(new_quota(RequestQuota(limit=1, shape="window"), 0.0), QuotaWindow)
    assert isinstance(new_quota(RequestQuota(limit=1), 0.0), QuotaBucket)


def test_script_counts_are_consumed_without_touching_the_config() -> None:
    script = [ScriptedFault(path="/a", count=2), ScriptedFault(path="*", count=1, status=500)]
    settings = FaultSettings(script=script)
    state = FaultState(settings, world_seed=1)
    star = state.take_scripted("/b")
    assert star is not None
    assert star.status == 500
    assert state.script_remaining == 2
    assert state.take_scripted("/a") is not None
    assert state.take_scripted("/a") is not None
    assert state.take_scripted("/a") is None
    assert [s.count for s in settings.script] == [2, 1]


def test_fault_settings_json_round_trip() -> None:
    settings = FaultSettings(
        quota=RequestQuota(10, 5.0), error_rates={503: 0.25}, script=[ScriptedFault("/x", 3, 429)], seed=7
    )
    assert FaultSettings.from_dict(settings.as_dict()) == settings
