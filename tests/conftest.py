"""Shared fixtures: the real-data folder (skips when absent) and Norway assembled from it."""

from pathlib import Path

import pytest

from stochpop.data.container import CountryData
from stochpop.data.norway import MISSING_SHARED_DATA, load_country, shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder (see `stochpop.data.norway.shared_data_dir`)."""
    path = shared_data_dir()
    if path is None:
        pytest.skip(MISSING_SHARED_DATA)
    return path


@pytest.fixture(scope="session")
def norway(shared_data: Path) -> CountryData:
    """Norway from HMD (population, deaths, births) and HFD (fertility)."""
    return load_country(shared_data / "norway")
