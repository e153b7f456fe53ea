"""Norway's regional readers: synthetic files for validation, the shared data checked against independent
sources (HMD births, the county immigration table of 2008, the county population file)."""

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stochpop.data.errors import DataError
from stochpop.data.hmd import read_hmd_births
from stochpop.data.regional import (
    OPEN_AGE,
    group_regions,
    read_county_moves,
    read_locations,
    read_municipality_names,
    read_nuts_events,
    read_regional_population,
    read_telemark_changes,
)

REGIONAL = Path("norway") / "regional"


def _population_rows(regions: list[str], years: list[int]) -> pd.DataFrame:
    rows = [
        (f"municip_nor{region}", age, sex, year, 1000 * i + 10 * age + (sex == "male") + year - 2000)
        for i, region in enumerate(regions)
        for age in range(OPEN_AGE + 1)
        for sex in ("female", "male")
        for year in years
    ]
    return pd.DataFrame(rows, columns=["location_code", "age", "sex", "calyear", "pop_jan1_n"])


def _write(table: pd.DataFrame, path: Path) -> Path:
    with gzip.open(path, "wt") as file:
        table.to_csv(file, index=False)
    return path


def test_population_reader_puts_every_row_in_its_cell(tmp_path: Path) -> None:
    table = _population_rows(["0301", "1101"], [2005, 2006])
    population = read_regional_population(_write(table, tmp_path / "pop.csv.gz"))
    assert population.dims == ("year", "region", "sex", "age")
    row = table.iloc[777]
    cell = population.sel(
        year=row["calyear"], region=row["location_code"][-4:], sex=row["sex"], age=row["age"]
    )
    assert float(cell) == row["pop_jan1_n"]
    assert float(population.sum()) == table["pop_jan1_n"].sum()


def test_population_reader_refuses_a_partly_missing_region_year(tmp_path: Path) -> None:
    table = _population_rows(["0301", "1101"], [2005, 2006]).drop(index=5)
    with pytest.raises(DataError, match="rows: region 0301 in 2006 has some cells but not all"):
        read_regional_population(_write(table, tmp_path / "pop.csv.gz"), None)
    whole = _population_rows(["0301", "1101"], [2005, 2006])
    absent = (whole["location_code"] == "municip_nor1101") & (whole["calyear"] == 2005)
    population = read_regional_population(_write(whole[~absent], tmp_path / "gap.csv.gz"))
    assert population.attrs["missing"] == ["1101:2005"]
    assert bool(population.sel(region="1101", year=2005).isnull().all())


def test_population_reader_refuses_negative_counts(tmp_path: Path) -> None:
    table = _population_rows(["0301"], [2005])
    table.loc[3, "pop_jan1_n"] = -4
    with pytest.raises(DataError, match="pop_jan1_n: '-4'"):
        read_regional_population(_write(table, tmp_path / "pop.csv.gz"))


def test_municipality_names_reader_keeps_municipalities_and_refuses_a_code_twice(tmp_path: Path) -> None:
    rows = [
        "location_code,location_name,granularity_geo",
        "county_nor56,Finnmark-Finnmárku,county",
        "municip_nor5628,Deatnu-Tana,municip",
        "municip_nor1515,Herøy,municip",
    ]
    path = tmp_path / "names.csv"
    path.write_text("\n".join(rows) + "\n")
    assert read_municipality_names(path).to_dict() == {"5628": "Deatnu-Tana", "1515": "Herøy"}
    path.write_text("\n".join([*rows, "municip_nor1515,Herøy,municip"]) + "\n")
    with pytest.raises(DataError, match="location_code: '1515' named twice"):
        read_municipality_names(path)


def test_group_regions_sums_municipalities_and_names_the_ungrouped() -> None:
    population = xr.DataArray(
        np.arange(12.0).reshape(3, 4), dims=("region", "age"), coords={"region": ["a", "b", "c"]}
    )
    grouped = group_regions(population, {"a": "X", "b": "Y", "c": "X"})
    np.testing.assert_array_equal(
        grouped.sel(region="X"), population.sel(region="a") + population.sel(region="c")
    )
    with pytest.raises(DataError, match=r"\['c'\] have no group"):
        group_regions(population, {"a": "X", "b": "Y"}, source="table.csv")


@pytest.fixture(scope="module")
def regional(shared_data: Path) -> Path:
    return shared_data / REGIONAL


def test_municipalities_grouped_by_county_are_the_county_file(
    regional: Path, municipal_population: xr.DataArray
) -> None:
    counties = read_regional_population(
        regional / "DERIVED_csdata_pop_by_age_sex_b2024_nation_county_georegion_to2024.csv.gz", "county"
    )
    municipalities = municipal_population
    locations = read_locations(regional / "DERIVED_csdata_locations_hierarchy_b2024.csv.gz")
    grouped = group_regions(municipalities.fillna(0.0), locations["county"].to_dict())
    xr.testing.assert_equal(grouped.transpose(*counties.dims), counties)
    assert municipalities.attrs["missing"] == ["1160:2005", "1576:2005"]


def test_nuts_births_sum_to_hmd_births(regional: Path, shared_data: Path) -> None:
    """Eurostat's national births are HMD's but in 2013-2015 (117-243 fewer: SSB's later revision)."""
    events = read_nuts_events(regional / "DERIVED_datacommons_eurostat_demo_r_gind3_norway_nuts.csv")
    hmd = read_hmd_births(shared_data / "norway" / "hmd" / "Births.txt").sum("sex")
    years = np.arange(2007, 2023)
    np.testing.assert_allclose(events["births"].sel(nuts="NOR", year=years), hmd.sel(year=years), rtol=0.005)
    unrevised = years[(years < 2013) | (years > 2015)]
    np.testing.assert_array_equal(events["births"].sel(nuts="NOR", year=unrevised), hmd.sel(year=unrevised))
    parts = events["births"].sel(nuts=["NO011", "NO012"], year=np.arange(2007, 2020)).sum("nuts")
    np.testing.assert_array_equal(parts, events["births"].sel(nuts="NO01", year=np.arange(2007, 2020)))


def test_county_matrix_immigration_is_the_county_immigration_table(regional: Path) -> None:
    moves = read_county_moves(
        regional / "DERIVED_ssb_web_od_matrix_fylke_partial_to_counties01-10_2004-2011.csv"
    )
    table = pd.read_csv(regional / "DERIVED_ssb_web_immigration_emigration_by_county_and_child_age_2008.csv")
    immigration = table.set_index("region")["immigration_all_ages"]
    from_abroad = moves["moves"].sel(year=2008, origin="Utlandet")
    for county in from_abroad["destination"].values:
        assert float(from_abroad.sel(destination=county)) == immigration[county]
    assert float(moves["out_total"].sel(year=2008, origin="02 Akershus")) == 30974  # PROVENANCE-2 cross-check


def test_telemark_series_adds_up_and_matches_the_county(regional: Path) -> None:
    changes = read_telemark_changes(
        regional / "DERIVED_evensrii_Telemark_befolkningsendringer_01222_telemark_kommuner_1997-2025.csv"
    )
    np.testing.assert_array_equal(
        changes["population_jan1"] + changes["population_growth"], changes["population_end_of_year"]
    )
    county = read_regional_population(
        regional / "DERIVED_csdata_pop_by_age_sex_b2024_nation_county_georegion_to2024.csv.gz", "county"
    )
    assert float(changes["population_jan1"].sel(year=2024).sum()) == float(
        county.sel(region="40", year=2024).sum()
    )
