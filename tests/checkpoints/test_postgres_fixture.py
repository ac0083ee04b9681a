"""The shared PostgreSQL fixture: a real server on loopback, fresh databases, loud failure without binaries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.postgres import PostgresServer, find_postgres_bin


def test_missing_binaries_fail_loudly_instead_of_skipping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIMECAST_SIEM_TEST_PG_BIN", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y postgresql"):
        find_postgres_bin()


def test_the_server_is_real_and_listens_on_loopback_only(postgres_server: PostgresServer) -> None:
    with postgres_server.connect() as conn:
        version = conn.execute("SELECT version()").fetchone()
        listen = conn.execute("SHOW listen_addresses").fetchone()
        sockets = conn.execute("SHOW unix_socket_directories").fetchone()
    assert version is not None
    assert str(version[0]).startswith("PostgreSQL ")
    assert listen == ("127.0.0.1",)
    assert sockets == (str(postgres_server.socket_dir),)
    if os.geteuid() == 0:  # initdb refuses root: the server runs as an unprivileged account
        assert postgres_server.data_dir.stat().st_uid != 0


def test_each_test_gets_a_fresh_empty_database(postgres_server: PostgresServer, postgres_url: str) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    with postgres_server.connect(name) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables == (0,)
    assert postgres_server.password in postgres_url
