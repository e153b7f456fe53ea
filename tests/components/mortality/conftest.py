"""Fixtures of the mortality tests: Norway's registered period e0 (HMD life tables)."""

from pathlib import Path

import pytest
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.hmd import read_hmd_lifetable


@pytest.fixture(scope="session")
def hmd_e0(shared_data: Path) -> xr.DataArray:
    """Registered period e0 (year, sex) from the HMD life tables."""
    tables = [read_hmd_lifetable(shared_data / f"norway/hmd/{s[0]}ltper_1x1.txt") for s in SEXES]
    return xr.concat([t["ex"].sel(age=0, drop=True) for t in tables], dim="sex").assign_coords(
        sex=list(SEXES)
    )
