"""The ``airflow`` marker: tests that build Airflow 3 in its own venv and run ``airflow dags test``.

They are left out of every run that does not ask for them by marker
(``pytest -m airflow tests/orchestration``), since they install Airflow from
PyPI and run a pipeline end to end.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers",
                            "airflow: builds an Airflow 3 venv and runs `airflow dags test` (opt-in: -m airflow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "airflow" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="Airflow end-to-end test: run it with -m airflow")
    for item in items:
        if item.get_closest_marker("airflow"):
            item.add_marker(skip)
