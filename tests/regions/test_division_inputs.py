"""Inputs for divisions whose regions are not counties: weights and majority counties by hand on a synthetic
folder, the joining rule, Eurostat's units on regions, international shares split within counties; on the
shared data the county division against `county_inputs` and SSB's BA regions against the counties' totals."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stochpop.data.container import CountryData
from stochpop.data.regional import NUTS_UNITS
from stochpop.regions.division_inputs import (
    REFERENCE_YEAR,
    TELEMARK_CHANGES_FILE,
    division_inputs,
    division_internal_data,
    gross_on_regions,
    joined_counties,
    region_counties,
    region_shares,
)
from stochpop.regions.divisions import (
    MUNICIPAL_FILE,
    Division,
    load_division,
    regional_population,
)
from stochpop.regions.internal_model import (
    LANDSDEL_COUNTIES,
    GrossObservations,
    county_gross_observations,
    county_internal_data,
)
from stochpop.regions.norway_counties import CountyInputs, county_inputs, nuts_units

COUNTY_OF = {"0301": "03", "3101": "31", "3103": "31", "3201": "32", "3203": "32"}
REGION_OF = {"0301": "A", "3201": "A", "3101": "B", "3103": "B", "3203": "C"}


@pytest.fixture
def folder(write_municipal_folder) -> Path:
    """Five municipalities in three counties, persons on 1 January of the reference year and the one
    before; a table division whose region A spans Oslo and Akershus."""
    names = {county: f"County {county}" for county in COUNTY_OF.values()}
    tmp_path = write_municipal_folder(COUNTY_OF, names, (REFERENCE_YEAR - 1, REFERENCE_YEAR), 30, 5)
    table = "municipality,region\n" + "".join(f"{m},{r}\n" for m, r in REGION_OF.items())
    (tmp_path / "regions.csv").write_text(table)
    return tmp_path


def test_region_counties_by_hand(folder: Path) -> None:
    """Each region's persons in each county, summed here row by row from the municipal file."""
    division = load_division("table", folder, folder / "regions.csv")
    weights = region_counties(division, folder)
    rows = pd.read_csv(folder / MUNICIPAL_FILE, dtype={"location_code": str})
    rows = rows[rows["calyear"] == REFERENCE_YEAR]
    persons = {(r, c): 0.0 for r in "ABC" for c in ("03", "31", "32")}
    for code, count in zip(rows["location_code"], rows["pop_jan1_n"], strict=True):
        municipality = code.removeprefix("municip_nor")
        persons[REGION_OF[municipality], COUNTY_OF[municipality]] += count
    for region in "ABC":
        total = sum(persons[region, c] for c in ("03", "31", "32"))
        assert float(weights.sel(region=region)["population"]) == total
        for county in ("03", "31", "32"):
            assert float(weights.sel(region=region, county=county)) == pytest.approx(
                persons[region, county] / total
            )
    np.testing.assert_allclose(weights.sum("county"), 1.0)
    oslo, akershus = persons["A", "03"], persons["A", "32"]
    assert weights.sel(region="A")["majority"].item() == ("03" if oslo >= akershus else "32")
    assert weights["majority"].sel(region=["B", "C"]).values.tolist() == ["31", "32"]


def _weights(persons: dict[str, dict[str, float]]) -> xr.DataArray:
    """`region_counties`' weights from persons {region: {county: persons}}."""
    table = pd.DataFrame(persons).T.fillna(0.0).sort_index().sort_index(axis=1)
    totals = table.sum(axis=1)
    return xr.DataArray(
        table.to_numpy() / totals.to_numpy()[:, None],
        dims=("region", "county"),
        coords={
            "region": list(table.index),
            "county": list(table.columns),
            "population": ("region", totals.to_numpy()),
            "majority": ("region", list(table.idxmax(axis=1))),
        },
    )


def test_joined_counties_where_the_majority_county_fails() -> None:
    """As Oslo/Bærum: a region of 1 300 persons, 700 in Oslo and 600 in Akershus, leaves Akershus's own
    region 100 of its 700 persons (capture 0.14): Oslo and Akershus are joined. Regions nested in
    counties, or crossing a border by a little, join nothing."""
    straddling = {
        "city": {"03": 700.0, "32": 600.0},
        "north": {"32": 100.0},
        "east": {"31": 300.0},
        "west": {"31": 20.0, "33": 400.0},
    }
    assert joined_counties(_weights(straddling)) == (("03", "32"),)
    nested = {"city": {"03": 700.0}, "north": {"32": 700.0}, "east": {"31": 300.0}, "west": {"33": 400.0}}
    assert joined_counties(_weights(nested)) == ()
    nothing = {"city": {"03": 700.0, "32": 20.0}, "north": {"32": 680.0}}
    assert joined_counties(_weights(nothing)) == ()


def test_region_shares_split_each_county_by_its_persons() -> None:
    """Two regions splitting one county share its immigrants 3:1 as its persons; a region spanning two
    counties takes its part of each; the shares sum to 1; the counties' own weights are the identity."""
    weights = _weights(
        {"a": {"31": 300.0}, "b": {"31": 100.0, "32": 50.0}, "c": {"32": 150.0}, "d": {"03": 500.0}}
    )
    rng = np.random.default_rng(2)
    county = rng.dirichlet(np.ones(3), size=(4, 6))  # (year, draw, county: 03, 31, 32)
    shares = region_shares(county, weights)
    assert shares.shape == (4, 6, 4)
    np.testing.assert_allclose(shares.sum(-1), 1.0)
    np.testing.assert_allclose(shares[..., 0], 0.75 * county[..., 1])
    np.testing.assert_allclose(shares[..., 1], 0.25 * county[..., 1] + 0.25 * county[..., 2])
    np.testing.assert_allclose(shares[..., 2], 0.75 * county[..., 2])
    np.testing.assert_allclose(shares[..., 3], county[..., 0])
    own = _weights({code: {code: 10.0 * (i + 1)} for i, code in enumerate(("03", "31", "32"))})
    np.testing.assert_array_equal(region_shares(county, own), county)
    with pytest.raises(ValueError, match="4 counties"):
        region_shares(rng.dirichlet(np.ones(4), size=2), weights)


def test_nuts_units_join_and_cover_every_region_once() -> None:
    """Regions by majority county (two per county, Oslo's one): Oslo and Akershus joined put NO011 and
    NO012 in one unit every year to 2019, and NO081 (Oslo) with NO082 (Viken, which holds Akershus) in
    2020-2022; every region in exactly one unit a year; a county that is no region's majority is refused."""
    counties = sorted({c for _, covered, _ in NUTS_UNITS for c in covered})
    county_of = {f"{c}-{i}": c for c in counties for i in range(1 if c == "03" else 2)}
    years = np.arange(2006, 2023)
    units = nuts_units(county_of, years, joined=(("03", "32"),))
    for year in years:
        this = [unit for unit in units if unit[2] == (year, year)]
        covered = [region for _, regions, _ in this for region in regions]
        assert sorted(covered) == sorted(county_of)
        codes = [set(codes) for codes, _, _ in this]
        assert ({"NO011", "NO012"} in codes) if year < 2020 else ({"NO081", "NO082"} in codes)
    merged = nuts_units(county_of, np.array([2012]), merged=((2012, ("03", "32")),))
    assert {county_of[region] for region in merged[0][1]} == {"03", "32"}
    assert len(merged) == len(nuts_units(county_of, np.array([2011]))) - 1
    without_akershus = {region: county for region, county in county_of.items() if county != "32"}
    with pytest.raises(ValueError, match="NO012"):
        nuts_units(without_akershus, np.array([2012]))


YEARS = np.arange(2009, 2022)
"""Event years of the real-data tests: the national moves by age (2010), a births merge (2014), the skipped
deaths (2015), the 2020 units, Telemark's county moves (2021)."""


@pytest.fixture(scope="module")
def counties(norway: CountryData, shared_data: Path) -> CountyInputs:
    return county_inputs(norway, shared_data / "norway" / "regional", YEARS)


@pytest.fixture(scope="module")
def county_division(norway: CountryData, shared_data: Path) -> tuple[Division, CountyInputs]:
    division = load_division("county", shared_data / "norway" / "regional")
    return division, division_inputs(norway, shared_data / "norway" / "regional", division, YEARS)


def test_county_division_gives_the_county_inputs(
    shared_data: Path, counties: CountyInputs, county_division: tuple[Division, CountyInputs]
) -> None:
    folder = shared_data / "norway" / "regional"
    division, inputs = county_division
    weights = region_counties(division, folder)
    np.testing.assert_array_equal(weights.values, np.eye(15))
    rng = np.random.default_rng(0)
    shares = rng.dirichlet(np.ones(15), size=(3, 5))
    np.testing.assert_array_equal(region_shares(shares, weights), shares)
    assert joined_counties(weights) == ()
    np.testing.assert_array_equal(inputs.population.values, counties.population.values)
    xr.testing.assert_allclose(inputs.expected.drop_vars("region_name"), counties.expected, rtol=1e-12)
    for kind in ("births", "deaths"):
        for ours, theirs in zip(getattr(inputs, kind), getattr(counties, kind), strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_county_division_gives_the_county_internal_data(
    shared_data: Path, counties: CountyInputs, county_division: tuple[Division, CountyInputs]
) -> None:
    """Everything `county_internal_data` gives but the distance feature of its proximity."""
    folder = shared_data / "norway" / "regional"
    division, inputs = county_division
    ours = division_internal_data(inputs, folder, division)
    theirs = county_internal_data(counties, folder)
    for name in ("years", "regions", "ages"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
    for name in ("aged", "net", "international", "share"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-9, atol=1e-6)
    assert ours.proximity is not None and theirs.proximity is not None
    np.testing.assert_array_equal(ours.proximity[0], theirs.proximity[0])
    for a, b in zip(ours.gross, theirs.gross, strict=True):
        np.testing.assert_array_equal(a, b)
    assert ours.crude_rate == pytest.approx(theirs.crude_rate, rel=1e-12)


@pytest.fixture(scope="module")
def ba(norway: CountryData, shared_data: Path) -> tuple[Division, Path, CountyInputs]:
    folder = shared_data / "norway" / "regional"
    division = load_division("ba", folder)
    return division, folder, division_inputs(norway, folder, division, YEARS)


def test_ba_weights_against_the_regions_populations(ba: tuple[Division, Path, CountyInputs]) -> None:
    division, folder, _ = ba
    weights = region_counties(division, folder)
    population = regional_population(division, folder).sel(year=REFERENCE_YEAR).sum(["sex", "age"])
    np.testing.assert_array_equal(weights["population"].values, population.values)
    np.testing.assert_allclose(weights.sum("county"), 1.0)
    assert weights.sizes == {"region": 159, "county": 15}
    assert int(((weights > 0).sum("county") > 1).sum()) == 9
    assert weights.sel(region="005")["majority"].item() == "03"
    assert joined_counties(weights) == (("03", "32"),)


def test_ba_inputs_keep_the_counties_totals_and_cover_each_region_once(
    ba: tuple[Division, Path, CountyInputs], counties: CountyInputs
) -> None:
    """The units' registered totals of a year are the counties' (the same Eurostat codes), expected events
    at national rates sum to the counties' (the same nation), each region is in one unit a year, and the
    border ratios stay near 1 (by majority county alone Akershus's would be 8)."""
    _, _, inputs = ba
    assert inputs.population.sizes["region"] == 159
    for kind in ("births", "deaths"):
        ours, theirs = getattr(inputs, kind), getattr(counties, kind)
        np.testing.assert_array_equal(
            np.bincount(ours.year, ours.total, YEARS.size), np.bincount(theirs.year, theirs.total, YEARS.size)
        )
        for year in np.unique(ours.year):
            np.testing.assert_array_equal(ours.member[ours.year == year].sum(0), np.ones(159))
        assert 0.9 < ours.ratio.min() and ours.ratio.max() < 1.15
        np.testing.assert_allclose(
            inputs.expected[kind].sum("region"), counties.expected[kind].sum("region"), rtol=1e-10
        )
    assert (inputs.expected["births"] > 0).all() and (inputs.population >= 0).all()


def _county_rows(flows: np.ndarray, cells: np.ndarray) -> GrossObservations:
    """Counts on four counties (03, 31, 32, 33) of `flows` (C, C): every single pair but 33 -> 32 in year
    0, each county's out-total in year 1, and one relative row of all pairs (counted twice)."""
    rows = []
    for a in range(4):
        for b in range(4):
            if a != b and (a, b) != (3, 2):
                pair = np.zeros((4, 4))
                pair[a, b] = 1.0
                rows.append((flows[a, b], 0, pair, cells, False))
    for a in range(4):
        out = np.zeros((4, 4))
        out[a] = 1.0
        out[a, a] = 0.0
        rows.append((flows[a].sum() - flows[a, a], 1, out, cells, False))
    every = 1.0 - np.eye(4)
    rows.append((2.0 * (flows * every).sum(), 1, every, cells, True))
    count, year, pairs, cell, relative = zip(*rows, strict=True)
    return GrossObservations(
        np.array(count), np.array(year), np.stack(pairs), np.stack(cell), np.array(relative)
    )


def test_gross_on_regions_sums_the_region_flows_of_each_county_count() -> None:
    """Random flows between five regions (city spans Oslo and Akershus, majority Oslo), their sums over
    majority counties as the county counts: each count on the regions equals the sum of the region flows
    over its pairs; with Oslo and Akershus joined, Oslo's and Akershus's single pairs to a county count as
    one, their pairs with each other and their out-totals drop out, and the out-totals of the others stay."""
    weights = _weights(
        {
            "city": {"03": 700.0, "32": 600.0},
            "north": {"32": 100.0},
            "east": {"31": 300.0},
            "west": {"33": 400.0},
            "hills": {"33": 50.0, "31": 10.0},
        }
    )
    regions = list(weights["region"].values)  # city, east, hills, north, west
    rng = np.random.default_rng(11)
    flows = rng.uniform(10.0, 100.0, (5, 5)) * (1.0 - np.eye(5))
    majority = (weights["majority"].values[:, None] == weights["county"].values).astype(float)
    cells = np.ones((2, 3))
    county = _county_rows(majority.T @ flows @ majority, cells)

    plain = gross_on_regions(county, weights)
    assert len(plain.moves) == len(county.moves)
    absolute = ~plain.relative
    np.testing.assert_allclose(plain.moves[absolute], (plain.pairs * flows).sum((1, 2))[absolute])
    assert plain.pairs[:, np.eye(5, dtype=bool)].sum() == 0.0

    joined = gross_on_regions(county, weights, (("03", "32"),))
    absolute = ~joined.relative
    np.testing.assert_allclose(joined.moves[absolute], (joined.pairs * flows).sum((1, 2))[absolute])
    city, north = regions.index("city"), regions.index("north")
    out_totals = joined.pairs[absolute & (joined.year == 1)]
    assert len(out_totals) == 2  # 31's and 33's; 03's and 32's hold their moves with each other
    assert out_totals[:, [city, north]][:, :, [city, north]].sum() == 0.0
    single = absolute & (joined.year == 0)
    assert single.sum() == 5  # 31 <-> 33; Oslo + Akershus <-> 31, -> 33 (33 -> Oslo lacks 33 -> Akershus)
    assert joined.pairs[single][:, city, north].sum() == 0.0
    assert joined.relative.sum() == 1 and joined.moves[joined.relative][0] == county.moves[county.relative][0]
    identity = _weights({c: {c: 1.0} for c in ("03", "31", "32", "33")})
    own = gross_on_regions(county, identity)
    for ours, theirs in zip(own, county, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_ba_internal_data_keeps_the_county_counts_between_groups(
    ba: tuple[Division, Path, CountyInputs],
) -> None:
    """The BA regions' net sums to zero; each year's absolute counts but the Telemark regions' (the next
    test) sum to the counties' less those of Oslo and Akershus with each other (their out- and in-totals
    with them); the relative counts are the
    counties'; two regions are near where their majority counties share a landsdel."""
    division, folder, inputs = ba
    data = division_internal_data(inputs, folder, division)
    np.testing.assert_allclose(data.net.sum(1), 0.0, atol=1e-6)
    weights = region_counties(division, folder)
    counties = list(weights["county"].values)
    county = county_gross_observations(folder, np.array(counties), data.years, data.ages)
    oslo, akershus = counties.index("03"), counties.index("32")
    inside = county.pairs[:, oslo, akershus] + county.pairs[:, akershus, oslo] > 0
    kept = ~county.relative & ~inside
    telemark = 2 * len(TELEMARK_SINGLE) * data.years.size  # the last rows (the next test)
    ours = ~data.gross.relative & (np.arange(data.gross.moves.size) < data.gross.moves.size - telemark)
    for year in np.unique(county.year[kept]):
        assert data.gross.moves[ours & (data.gross.year == year)].sum() == pytest.approx(
            county.moves[kept & (county.year == year)].sum()
        )
    np.testing.assert_array_equal(data.gross.moves[data.gross.relative], county.moves[county.relative])
    assert data.proximity is not None and data.proximity.shape == (3, 159, 159)
    assert np.isfinite(data.proximity).all()
    landsdel = {c: name for name, members in LANDSDEL_COUNTIES.items() for c in members}
    near = [
        landsdel[a] == landsdel[b] for a in weights["majority"].values for b in weights["majority"].values
    ]
    np.testing.assert_array_equal(data.proximity[0], np.reshape(near, (159, 159)) & ~np.eye(159, dtype=bool))


TELEMARK_SINGLE = {"033": "Kragerø", "034": "Tinn", "036": "Nissedal", "037": "Fyresdal"}
"""The BA regions of one municipality of Telemark (baregioner_2024.xlsx)."""


def test_ba_telemark_regions_of_one_municipality_carry_their_registered_moves(
    ba: tuple[Division, Path, CountyInputs],
) -> None:
    """The last rows of the BA gross counts: each fitted year's domestic out- and in-migration of the BA
    regions that are one Telemark municipality, as SSB 01222 has them (read here by pandas), on the moves
    from the region to every other and from every other into it, all ages and both sexes."""
    division, folder, inputs = ba
    data = division_internal_data(inputs, folder, division)
    table = pd.read_csv(folder / TELEMARK_CHANGES_FILE).set_index(["kommune", "year"])
    regions = list(data.regions)
    expected = {
        (regions.index(region), year, flow): float(table.loc[(name, year), f"{flow}_migration_domestic"])
        for region, name in TELEMARK_SINGLE.items()
        for year in data.years
        for flow in ("out", "in")
    }
    rows = slice(data.gross.moves.size - len(expected), None)
    found = {}
    for moves, year, pairs, cells in zip(
        data.gross.moves[rows],
        data.gross.year[rows],
        data.gross.pairs[rows],
        data.gross.cells[rows],
        strict=True,
    ):
        assert cells.all() and np.trace(pairs) == 0 and pairs.sum() == len(regions) - 1
        origins, destinations = np.nonzero(pairs)
        flow, region = ("out", origins[0]) if np.all(origins == origins[0]) else ("in", destinations[0])
        found[(int(region), int(data.years[year]), flow)] = float(moves)
    assert found == expected
