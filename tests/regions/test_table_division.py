"""A user's table division (`divisions.load_division("table")`) through the regional inputs and the
internal-migration data of `division_inputs`: the counties with Vestland split in two, on Norway's data,
against the county inputs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stochpop.data.container import CountryData
from stochpop.data.regional import read_locations
from stochpop.regions.division_inputs import (
    division_inputs,
    division_internal_data,
    region_counties,
    share_split,
)
from stochpop.regions.divisions import LOCATIONS_FILE, load_division
from stochpop.regions.internal_model import county_internal_data
from stochpop.regions.norway_counties import county_inputs

YEARS = np.arange(2008, 2013)
"""Event years holding the 2010 national moves (the schedule's centre) and the 2008 and 2011 components."""
SPLIT = "46"
"""Vestland: its municipalities below 4620 form region 46a, the rest 46b."""


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """The CSV: every municipality in its county's region, Vestland's in two; codes of Oslo's county
    without their leading zero (as spreadsheets save them)."""
    locations = read_locations(shared_data / "norway" / "regional" / LOCATIONS_FILE)
    county = locations["county"]
    region = county.where(county != SPLIT, np.where(locations.index < "4620", "46a", "46b"))
    rows = pd.DataFrame({"municipality": locations.index.str.lstrip("0"), "region": region.to_numpy()})
    path = tmp_path_factory.mktemp("table") / "regions.csv"
    rows.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def inputs(norway: CountryData, shared_data: Path, table: Path):
    folder = shared_data / "norway" / "regional"
    division = load_division("table", folder, table)
    ours = division_inputs(norway, folder, division, YEARS)
    counties = county_inputs(norway, folder, YEARS)
    return folder, division, ours, counties


def test_table_regions_keep_the_county_inputs(inputs) -> None:
    """16 regions; the two Vestland regions' populations and expected events sum to Vestland's, the other
    regions' are their counties'; the international shares split Vestland's by persons."""
    folder, division, ours, counties = inputs
    regions = list(ours.population["region"].values)
    assert len(regions) == 16 and {"46a", "46b"} <= set(regions)
    merged = ours.population.sel(region=["46a", "46b"]).sum("region")
    np.testing.assert_array_equal(merged.values, counties.population.sel(region=SPLIT).values)
    others = [r for r in regions if r not in ("46a", "46b")]
    np.testing.assert_array_equal(ours.population.sel(region=others), counties.population.sel(region=others))
    for kind in ("births", "deaths"):
        np.testing.assert_allclose(
            ours.expected[kind].sum("region"), counties.expected[kind].sum("region"), rtol=1e-10
        )
    weights = region_counties(division, folder)
    split = share_split(weights)
    vestland = list(weights["county"].values).index(SPLIT)
    persons = weights["population"].sel(region=["46a", "46b"]).values
    np.testing.assert_allclose(
        split[[regions.index("46a"), regions.index("46b")], vestland], persons / persons.sum()
    )
    assert split[regions.index("03"), list(weights["county"].values).index("03")] == 1.0


def test_table_regions_internal_data(inputs) -> None:
    """The net sums to zero over regions each year; the two Vestland regions' stocks at risk sum to
    Vestland's; every absolute county count survives (no county joined), so each year's counts sum to the
    counties'; the Vestland regions are one county (proximity, groups), no other pair is."""
    folder, division, ours, counties = inputs
    data = division_internal_data(ours, folder, division)
    theirs = county_internal_data(counties, folder)
    regions = list(data.regions)
    a, b = regions.index("46a"), regions.index("46b")
    np.testing.assert_allclose(data.net.sum(1), 0.0, atol=1e-6)
    county_index = list(theirs.regions).index(SPLIT)
    np.testing.assert_allclose(data.aged[:, a] + data.aged[:, b], theirs.aged[:, county_index], rtol=1e-9)
    for year in np.unique(theirs.gross.year):
        mine, county = (~d.gross.relative & (d.gross.year == year) for d in (data, theirs))
        assert data.gross.moves[mine].sum() == pytest.approx(theirs.gross.moves[county].sum())
    assert data.proximity is not None and data.groups is not None
    same_county = np.zeros((16, 16))
    same_county[a, b] = same_county[b, a] = 1.0
    np.testing.assert_array_equal(data.proximity[1], same_county)
    assert data.groups[a] == data.groups[b] == SPLIT
    assert len(set(data.groups)) == 15
