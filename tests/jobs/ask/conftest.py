"""The tiny lakehouse, its catalogue and a DuckDB connection, built once per test module."""

from __future__ import annotations

import pytest

from tests.jobs.ask.tiny_lake import write_tiny_lake


@pytest.fixture(scope="module")
def con():
    from orchestration.platform.bi import connect

    connection = connect(extensions=("delta",))
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory, con):
    from jobs.ask import open_catalogue

    return open_catalogue(write_tiny_lake(tmp_path_factory.mktemp("lake")), con)
