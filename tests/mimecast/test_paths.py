"""Paths are relative, stay on the base URL, and label metrics with bounded names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.errors import PermanentError
from mimecast_siem.mimecast import UnsafePathError, checked_path, endpoint_label
from mimecast_siem.mimecast.paths import join_url

BASE = "https://api.services.mimecast.com"


@pytest.mark.parametrize(
    "path",
    [
        "/api/ttp/url/get-logs",
        "/siem/v1/batch/events/cg",
        "/policy-management/cloud-gateway/v1/policies/abc=",
        "/identity/whoami",
        "/api/archive/get-file",
    ],
)
def test_safe_paths_pass(path: str) -> None:
    assert checked_path(path) == path
    assert str(join_url(BASE, path)) == BASE + path


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example/api/x",
        "//evil.example/api/x",
        "api/ttp/url/get-logs",
        "/api/../oauth/token",
        "/api/./x",
        "/api/%2e%2e/x",
        "/api//x",
        "/api/x?pageToken=1",
        "/api/x#frag",
        "/api\\x",
        "/api/x y",
        "/api/x\n",
        "",
        "/",
        "/" + "a" * 600,
    ],
)
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(UnsafePathError) as info:
        checked_path(path)
    assert isinstance(info.value, PermanentError)


def test_join_keeps_a_base_path_prefix() -> None:
    assert str(join_url("http://127.0.0.1:8080/prefix", "/api/x")) == "http://127.0.0.1:8080/prefix/api/x"


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(st.text(max_size=40))
def test_joined_url_never_leaves_the_base(path: str) -> None:
    try:
        url = join_url(BASE, path)
    except UnsafePathError:
        return
    assert url.host == "api.services.mimecast.com"
    assert url.scheme == "https"
    assert not url.query_string


def test_labels() -> None:
    assert endpoint_label("/api/ttp/url/get-logs") == "/api/ttp/url/get-logs"
    assert endpoint_label("/siem/v1/batch/events/cg") == "/siem/v1/batch/events/cg"
    assert (
        endpoint_label("/policy-management/cloud-gateway/v1/policies/eNqrVkouLS7Jz00tSs5P")
        == "/policy-management/cloud-gateway/v1/policies/{id}"
    )
    assert endpoint_label("/threats/v1/items/3F2504E0-4F89-11D3-9A0C-0305E82C3301") == "/threats/v1/items/{id}"
