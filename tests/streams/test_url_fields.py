"""``url.*`` fields: the one-regex fast path gives exactly what ``urllib.parse.urlsplit`` gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mimecast_siem.streams import normalise
from mimecast_siem.streams.normalise import _split_url_parts, url_fields

#: Characters that steer urlsplit (separators, brackets, user info, ports, escapes, controls), plus
#: ordinary ones and a non-ASCII letter, so the generated text hits every branch of both paths.
_URL_CHARS = st.sampled_from(list("ab.Z09:/?#@[]%+-_=& \t\r\n\x00\x7fé\\"))
_url_text = st.text(_URL_CHARS, max_size=30)
_urls = st.one_of(
    _url_text,
    st.builds(
        lambda scheme, rest: f"{scheme}://{rest}",
        st.sampled_from(["http", "HTTPS", "ftp", "a+b.c-d", "1http", "", "ht tp"]),
        _url_text,
    ),
    st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
        st.sampled_from(["http", "https", "HTTP"]),
        st.sampled_from(["Example.COM", "", "a.b", "user@host", "[::1]", "h%41", "host:"]),
        st.sampled_from(["", ":80", ":0", ":65535", ":65536", ":99999", ":123456", ":", ":8a", ":080"]),
        _url_text,
    ),
)


@settings(max_examples=2000, deadline=None)
@given(url=_urls)
@example(url="https://portal.example.net/download/setup.exe?id=1#top")
@example(url="http://h/a#b?c")
@example(url="http://h/a?b?c#d#e")
@example(url="http://h:/x")
@example(url="http://h?q")
@example(url="mailto:user@example.com")
def test_fast_path_matches_urlsplit(url: str) -> None:
    """Whatever the text, the ``url.*`` fields are the ones the ``urlsplit`` path gives."""
    normalise._url_parts.cache_clear()
    assert normalise._url_parts(url) == _split_url_parts(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTPS://Portal.Example.NET:8443/a/B?x=1&y=2#Frag",
            {
                "original": "HTTPS://Portal.Example.NET:8443/a/B?x=1&y=2#Frag",
                "scheme": "https",
                "domain": "portal.example.net",
                "port": 8443,
                "path": "/a/B",
                "query": "x=1&y=2",
                "fragment": "Frag",
            },
        ),
        ("http://h:99999/", {"original": "http://h:99999/"}),
        ("not a url", {"original": "not a url", "path": "not a url"}),
        ("  ", {}),
    ],
)
def test_url_fields(url: str, expected: dict[str, Any]) -> None:
    """Typical, out-of-range and non-URL values."""
    assert url_fields(url) == expected


def test_common_urls_skip_urlsplit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual logged URL is split by the regex alone (the fast path is really taken)."""

    def refuse(url: str) -> None:
        raise AssertionError(f"urlsplit called for {url!r}")

    monkeypatch.setattr(normalise, "urlsplit", refuse)
    normalise._url_parts.cache_clear()
    assert url_fields("https://a.example:8080/p?q#f")["port"] == 8080
    assert url_fields("http://b.example")["domain"] == "b.example"
