"""The OCSF mapping tools against their definitions: the URL object (from the normaliser's parse, not
urlsplit again), the memoised security-control answer and ``text_of``'s string fast path."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.streams.ocsf_map import (
    ALLOWED,
    DENIED,
    OBS_EMAIL,
    OBSERVABLE_TYPES,
    OBSERVED,
    QUARANTINED,
    address,
    control_for,
    email_object,
    email_observables,
    lower,
    observable,
    text_of,
    unmapped_observable,
    url_object,
)


def _url_object_by_urlsplit(url: str, categories: list[str] | None = None) -> dict[str, Any]:
    """The definition: urlsplit's parts (none when it refuses the URL or its port)."""
    obj: dict[str, Any] = {"url_string": url}
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is not None:
        if parts.scheme:
            obj["scheme"] = parts.scheme
        if parts.hostname:
            obj["hostname"] = parts.hostname
        if parts.path:
            obj["path"] = parts.path
        if parts.query:
            obj["query_string"] = parts.query
        if port is not None:
            obj["port"] = port
    if categories:
        obj["categories"] = categories
    return obj


_PIECE = st.sampled_from(
    ["http", "HTTPS", "ftp", "://", ":", "/", "//", "?", "#", "@", "[", "]", "::1", "%", "%41", ".", "-", "+",
     "a", "Ex.COM", "xn--bcher-kva", "80", "0", "65535", "65536", "99999", "00080", " ", "\t", "\n", "\x00",
     "é", "\u3002", "user:pw", "&", "=", "..", "127.0.0.1", "[2001:db8::1]"]
)  # fmt: skip
_URLS = st.one_of(
    st.lists(_PIECE, max_size=12).map("".join),
    st.text(max_size=60),
    st.builds(
        "{}://{}{}{}{}".format,
        st.sampled_from(["http", "https", "HTTP", "h2-x.y+z"]),
        st.from_regex(r"[A-Za-z0-9.-]{0,20}", fullmatch=True),
        st.sampled_from(["", ":0", ":443", ":8080", ":70000", ":x"]),
        st.from_regex(r"(/[A-Za-z0-9._~%-]{0,10}){0,3}", fullmatch=True),
        st.sampled_from(["", "?", "?a=1&b=2", "?q=%%", "#frag", "?a#b"]),
    ),
)


@settings(max_examples=3000, deadline=None)
@given(url=_URLS, categories=st.one_of(st.none(), st.just([]), st.just(["Phishing"])))
def test_url_object_is_the_urlsplit_definition(url: str, categories: list[str] | None) -> None:
    assert url_object(url, categories) == _url_object_by_urlsplit(url, categories)
    # Key order is part of the output (the records are serialised as they are).
    assert list(url_object(url, categories)) == list(_url_object_by_urlsplit(url, categories))


def test_url_object_examples() -> None:
    assert url_object("HTTPS://Ex.COM:8443/a/b?x=1#f", ["Phishing"]) == {
        "url_string": "HTTPS://Ex.COM:8443/a/b?x=1#f",
        "scheme": "https",
        "hostname": "ex.com",
        "path": "/a/b",
        "query_string": "x=1",
        "port": 8443,
        "categories": ["Phishing"],
    }
    assert url_object("http://[::1") == {"url_string": "http://[::1"}  # urlsplit refuses it
    assert url_object("") == {"url_string": ""}


def _control_by_definition(action: Any) -> tuple[int, str, int, str] | None:
    word = (text_of(action) or "").lower()
    if not word or word in ("n/a", "none"):
        return None
    if word in ("allow", "allowed", "permit", "release", "released"):
        return ALLOWED
    if word in ("hold", "held", "quarantine", "quarantined"):
        return QUARANTINED
    if any(w in word for w in ("block", "bounce", "reject", "delete", "deny")):
        return DENIED
    if "warn" in word:
        return (3, "Observed", 99, "Warned")
    return OBSERVED


_ACTIONS = st.one_of(
    st.sampled_from(["Block", " allow ", "HOLD", "warn", "Warn-and-block", "n/a", "None", "", "bounce", "x"]),
    st.text(max_size=12),
    st.none(),
    st.integers(),
    st.lists(st.text(max_size=3), max_size=2),
)


@settings(max_examples=1000, deadline=None)
@given(action=_ACTIONS)
def test_control_for_is_its_definition(action: Any) -> None:
    assert control_for(action) == _control_by_definition(action)
    assert control_for(action) == _control_by_definition(action)  # memoised the second time


class _Text(str):
    """A str subclass: takes text_of's general path."""


@settings(max_examples=1000, deadline=None)
@given(value=st.one_of(st.text(max_size=8), st.builds(_Text, st.text(max_size=8)), st.none(), st.integers(),
                       st.floats(), st.booleans(), st.lists(st.integers(), max_size=1)))  # fmt: skip
def test_text_of_strings_as_before(value: Any) -> None:
    expected = None if value is None or isinstance(value, dict | list) else (str(value).strip() or None)
    assert text_of(value) == expected
    assert type(text_of(value)) in (str, type(None))


def _unmapped_observable_by_definition(field: str, type_id: int, raw: dict[str, Any]) -> dict[str, Any] | None:
    value = raw.get(field)
    name = f"unmapped.{field}"
    if isinstance(value, dict):
        value, name = value.get("emailAddress"), f"{name}.emailAddress"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value)
    if not text.strip():
        return None
    return {"name": name, "type_id": type_id, "type": OBSERVABLE_TYPES[type_id], "value": text}


_SCALARS = st.one_of(st.text(max_size=6), st.builds(_Text, st.text(max_size=6)), st.none(), st.integers(),
                     st.floats(), st.booleans(), st.just(" \t"), st.lists(st.integers(), max_size=1))  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(value=st.one_of(_SCALARS, st.dictionaries(st.sampled_from(["emailAddress", "x"]), _SCALARS, max_size=2)))
def test_unmapped_observable_is_its_definition(value: Any) -> None:
    raw = {"senderAddress": value}
    expected = _unmapped_observable_by_definition("senderAddress", OBS_EMAIL, raw)
    assert unmapped_observable("senderAddress", OBS_EMAIL, raw) == expected
    assert unmapped_observable("missing", OBS_EMAIL, raw) is None


def _address_by_definition(value: Any) -> str | None:
    if isinstance(value, dict):
        return text_of(value.get("emailAddress"))
    text = text_of(value)
    if text and text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip() or None
    return text


def _observable_by_definition(name: str, type_id: int, value: Any) -> dict[str, Any] | None:
    text = text_of(value)
    if text is None:
        return None
    return {"name": name, "type_id": type_id, "type": OBSERVABLE_TYPES[type_id], "value": text}


_ADDRESSY = st.one_of(
    _SCALARS,
    st.text(st.sampled_from(list("<> a@b.c\t")), max_size=8),
    st.dictionaries(st.sampled_from(["emailAddress", "displayableName"]), _SCALARS, max_size=2),
)


@settings(max_examples=1500, deadline=None)
@given(value=_ADDRESSY)
def test_address_lower_and_observable_are_their_definitions(value: Any) -> None:
    assert address(value) == _address_by_definition(value)
    assert lower(value) == (text_of(value) or "").lower()
    assert observable("email.from", OBS_EMAIL, value) == _observable_by_definition("email.from", OBS_EMAIL, value)


@settings(max_examples=1000, deadline=None)
@given(
    raw=st.fixed_dictionaries({}, optional={"id": _SCALARS, "messageId": _SCALARS, "subject": _SCALARS}),
    sender=_ADDRESSY,
    recipient=_ADDRESSY,
    ip=st.one_of(st.none(), st.just(""), st.just(" "), st.just("192.0.2.1")),
)
def test_email_object_and_its_observables_are_their_definitions(
    raw: dict[str, Any], sender: Any, recipient: Any, ip: str | None
) -> None:
    expected: dict[str, Any] = {}
    for key, value in (
        ("uid", text_of(raw.get("id"))),
        ("message_uid", text_of(raw.get("messageId"))),
        ("subject", text_of(raw.get("subject"))),
        ("from", _address_by_definition(sender)),
    ):
        if value is not None:
            expected[key] = value
    to = _address_by_definition(recipient)
    if to:
        expected["to"] = [to]
    email = email_object(raw, uid_key="id", sender=sender, recipient=recipient)
    assert email == expected
    assert list(email) == list(expected)
    assert email_observables(email, ip) == [
        o
        for o in (
            _observable_by_definition("email.from", OBS_EMAIL, email.get("from")),
            _observable_by_definition("email.to", OBS_EMAIL, (email.get("to") or [None])[0]),
            _observable_by_definition("src_endpoint.ip", 2, ip),
        )
        if o is not None
    ]
