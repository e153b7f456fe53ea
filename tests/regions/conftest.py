"""Shared fixture of the regional tests: a writer of synthetic regional folders."""

import gzip
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stochpop.data.regional import OPEN_AGE
from stochpop.regions.divisions import LOCATIONS_FILE, MUNICIPAL_FILE

FolderWriter = Callable[..., Path]


@pytest.fixture
def write_municipal_folder(tmp_path: Path) -> FolderWriter:
    """A writer of a synthetic regional folder into tmp_path (returned): the location hierarchy of
    `counties` (municipality code -> county code, all in Østlandet) with the county names `names`, and the
    municipal file of persons on 1 January by municipality, age 0..OPEN_AGE and sex in each of `years`,
    drawn uniformly in 0..most - 1 (seeded), without the (municipality, year) pairs `missing`."""

    def write(
        counties: Mapping[str, str],
        names: Mapping[str, str],
        years: Collection[int],
        most: int,
        seed: int,
        missing: Collection[tuple[str, int]] = (),
    ) -> Path:
        hierarchy = pd.DataFrame(
            {
                "municip_code": [f"municip_nor{code}" for code in counties],
                "county_code": [f"county_nor{county}" for county in counties.values()],
                "county_name": [names[county] for county in counties.values()],
                "georegion_code": "georegion_nor5",
                "georegion_name": "Østlandet",
            }
        )
        with gzip.open(tmp_path / LOCATIONS_FILE, "wt") as file:
            hierarchy.to_csv(file, index=False)
        rng = np.random.default_rng(seed)
        rows = [
            (f"municip_nor{code}", age, sex, year, int(rng.integers(0, most)))
            for code in counties
            for age in range(OPEN_AGE + 1)
            for sex in ("female", "male")
            for year in years
            if (code, year) not in missing
        ]
        population = pd.DataFrame(rows, columns=["location_code", "age", "sex", "calyear", "pop_jan1_n"])
        with gzip.open(tmp_path / MUNICIPAL_FILE, "wt") as file:
            population.to_csv(file, index=False)
        return tmp_path

    return write
