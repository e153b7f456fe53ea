"""The registered group data of the shared Norway folder, read once (skips where the data are absent)."""

from pathlib import Path

import pytest

from stochpop.groups.registered import RegisteredGroups, load_registered


@pytest.fixture(scope="session")
def registered(shared_data: Path) -> RegisteredGroups:
    """Norway's registered immigrant-group data (`stochpop.groups.registered`)."""
    return load_registered(shared_data / "norway")
