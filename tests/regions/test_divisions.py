"""Divisions of Norway's municipalities into regions: a synthetic folder (a location hierarchy and a municipal
population file) for the user table's errors and the regional sums, a synthetic workbook for the BA reader,
and the shared data: the county division against the county file, the BA regions against the workbook's
own second sheet."""

from pathlib import Path

import numpy as np
import openpyxl
import pytest
import xarray as xr

from stochpop.data.errors import DataError
from stochpop.data.regional import read_ba_regions, read_regional_population
from stochpop.regions.divisions import (
    BA_FILE,
    MUNICIPAL_FILE,
    load_division,
    regional_population,
)

COUNTIES = {"0301": "03", "3101": "31", "3103": "31", "3105": "31", "3201": "32"}
COUNTY_NAMES = {"03": "Oslo", "31": "Østfold", "32": "Akershus"}


@pytest.fixture
def folder(write_municipal_folder) -> Path:
    """Five municipalities in three counties, 2005-2007; 3105 is missing in 2005."""
    return write_municipal_folder(COUNTIES, COUNTY_NAMES, (2005, 2006, 2007), 50, 0, {("3105", 2005)})


def _table(folder: Path, text: str) -> Path:
    path = folder / "regions.csv"
    path.write_text(text)
    return path


def test_county_division_and_its_sums(folder: Path) -> None:
    division = load_division("county", folder)
    assert division.region_of.to_dict() == COUNTIES
    assert division.names == COUNTY_NAMES
    assert division.municipalities("31") == ["3101", "3103", "3105"]
    population = regional_population(division, folder)
    municipal = read_regional_population(folder / MUNICIPAL_FILE)
    for region, members in (("03", ["0301"]), ("31", ["3101", "3103", "3105"]), ("32", ["3201"])):
        expected = municipal.sel(region=members).sum("region", skipna=False)
        np.testing.assert_array_equal(population.sel(region=region).values, expected.values)
    assert population.attrs["missing"] == ["31:2005"]
    assert bool(population.sel(region="31", year=2005).isnull().all())
    assert population.sel(region="31")["region_name"].item() == "Østfold"


def test_table_division_reads_codes_without_their_zero_and_names(folder: Path) -> None:
    path = _table(
        folder, "municipality,region,name\n301,A,City\n3101,B,Rest\n3103,B,\n3105,B,Rest\n3201,A,\n"
    )
    division = load_division("table", folder, path)
    assert division.region_of.to_dict() == {"0301": "A", "3101": "B", "3103": "B", "3105": "B", "3201": "A"}
    assert division.names == {"A": "City", "B": "Rest"}
    population = regional_population(division, folder)
    municipal = read_regional_population(folder / MUNICIPAL_FILE)
    expected = municipal.sel(region=["0301", "3201"], year=2007).sum("region")
    np.testing.assert_array_equal(population.sel(region="A", year=2007).values, expected.values)
    assert population.attrs["missing"] == ["B:2005"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("municipality,region\n0301,A\n9999,B\n", r"line 3: municipality: '9999' is not a municipality"),
        (
            "municipality,region\n0301,A\n3101,B\n3103,B\n3105,B\n3201,B\n3101,A\n",
            r"line 7: municipality: '3101' is already placed on line 3 \(regions 'B' and 'A'\)",
        ),
        ("municipality,region\n0301,A\n3101,B\n", r"municipality: \['3103', '3105', '3201'\] in no region"),
        ("municipality,region\n0301,A\n3101,\n", r"line 3: region: blank"),
        ("municipality,place\n0301,A\n", r"header: columns \['region'\] missing"),
        (
            "municipality,region,name\n0301,A,x\n3101,A,y\n3103,B,\n3105,B,\n3201,B,\n",
            r"name: region 'A' has two names",
        ),
    ],
)
def test_table_errors_name_the_file_line_and_problem(folder: Path, text: str, message: str) -> None:
    path = _table(folder, text)
    with pytest.raises(DataError, match=f"regions.csv: {message}"):
        load_division("table", folder, path)


def test_kind_and_table_must_agree(folder: Path) -> None:
    with pytest.raises(ValueError, match="division kind must be one of"):
        load_division("fylke", folder)
    with pytest.raises(ValueError, match="a table is given with kind 'table' and only then"):
        load_division("table", folder)
    with pytest.raises(ValueError, match="a table is given with kind 'table' and only then"):
        load_division("county", folder, _table(folder, "municipality,region\n0301,A\n"))


def _workbook(path: Path, rows: list[tuple], sheet: str = "Etter kommune") -> Path:
    book = openpyxl.Workbook()
    book.active.title = sheet
    for row in [("Kommune (per 1. januar 2020)", "BA-region", "Reisetid"), *rows]:
        book.active.append(row)
    book.save(path)
    return path


def test_ba_reader_moves_old_codes_to_2024_and_pads_region_numbers(tmp_path: Path) -> None:
    rows = [
        ("0301 Oslo", "05 Oslo/Bærum", 11.9),
        ("3445 Lunner", "5 Oslo/Bærum", 50.7),
        ("1567 Rindal", "86 Surnadal", 30.9),
    ]
    regions = read_ba_regions(_workbook(tmp_path / "ba.xlsx", rows))
    assert regions["region"].to_dict() == {"0301": "005", "3234": "005", "5061": "086"}
    assert regions.loc["3234", "region_name"] == "Oslo/Bærum"


@pytest.mark.parametrize(
    ("rows", "sheet", "message"),
    [
        ([("0301 Oslo", "05 Oslo/Bærum")], "Sheet1", r"sheet: no sheet 'Etter kommune'"),
        (
            [("Oslo", "05 Oslo/Bærum")],
            "Etter kommune",
            r"Etter kommune row 2: municipality 'Oslo' unreadable",
        ),
        ([("0301 Oslo", "5 Oslo"), ("0301 Oslo", "5 Oslo")], "Etter kommune", r"municipality 0301 twice"),
        (
            [("0301 Oslo", "5 Oslo"), ("3201 Bærum", "5 Bærum")],
            "Etter kommune",
            r"BA region 005 has two names",
        ),
    ],
)
def test_ba_reader_errors(tmp_path: Path, rows: list[tuple], sheet: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_ba_regions(_workbook(tmp_path / "ba.xlsx", rows, sheet))


def test_ba_reader_refuses_a_file_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "ba.xlsx"
    path.write_text("municipality,region\n")
    with pytest.raises(DataError, match="file: not an xlsx workbook"):
        read_ba_regions(path)


@pytest.fixture(scope="module")
def regional(shared_data: Path) -> Path:
    return shared_data / "norway" / "regional"


def test_county_division_sums_are_the_county_file(regional: Path) -> None:
    """Every complete year to the person; in 2005 both lack Vindafjord (Rogaland) and Aure (Møre og Romsdal),
    which the division flags."""
    counties = read_regional_population(
        regional / "DERIVED_csdata_pop_by_age_sex_b2024_nation_county_georegion_to2024.csv.gz", "county"
    )
    summed = regional_population(load_division("county", regional), regional)
    assert summed.attrs["missing"] == ["11:2005", "15:2005"]
    complete = summed.drop_vars("region_name").transpose(*counties.dims)
    np.testing.assert_array_equal(complete.sel(year=slice(2006, None)), counties.sel(year=slice(2006, None)))
    others = [r for r in counties["region"].values if r not in ("11", "15")]
    np.testing.assert_array_equal(
        complete.sel(year=2005, region=others), counties.sel(year=2005, region=others)
    )
    assert bool(complete.sel(year=2005, region=["11", "15"]).isnull().all())


def test_ba_regions_agree_with_the_workbook_by_region_sheet(
    regional: Path, municipal_population: xr.DataArray
) -> None:
    """Sheet 'Etter BA-region' lists each region's municipalities on 2020 codes (some lists end in ", "):
    the same count per region as the municipality sheet read on 2024 codes, which are the municipal
    file's."""
    division = load_division("ba", regional)
    assert sorted(division.region_of.index) == sorted(municipal_population["region"].values)
    assert len(division.regions) == 159
    book = openpyxl.load_workbook(regional / BA_FILE, read_only=True)
    listed = {
        f"{int(row[0]):03d}": len([code for code in str(row[2]).split(", ") if code])
        for row in book["Etter BA-region"].iter_rows(min_row=2, values_only=True)
        if row[0] is not None
    }
    listed["079"] += 1  # Ålesund (1507 in 2020) split into Ålesund 1508 and Haram 1580 in 2024
    assert division.region_of.value_counts().to_dict() == listed
    assert division.names["005"] == "Oslo/Bærum" and len(division.municipalities("005")) == 20
