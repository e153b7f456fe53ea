"""Readers of real data formats: totals read back from the shared Norway data, and one clear DataError
(file: field: problem) for each kind of bad input, on small synthetic files."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.container import CountryData
from stochpop.data.errors import DataError
from stochpop.data.hfd import read_hfd_asfr
from stochpop.data.hmd import read_hmd, read_hmd_births, read_hmd_lifetable
from stochpop.data.norway import load_country
from stochpop.data.ssb import read_ssb_07459, read_ssb_07459_many
from stochpop.data.wpp import read_wpp, read_wpp_countries

HMD_HEADER = "  Year          Age             Female            Male           Total"
HFD_TITLE = (
    "Testland, Period fertility rates by calendar year and age (Lexis squares, age in completed years (ACY))"
)


# ---------------------------------------------------------------- synthetic files


def hmd_lines(title: str, years: list[str], header: str = HMD_HEADER) -> list[str]:
    """An HMD 1x1 file: ages 0..110+, female = age + 1, male = age + 2."""
    lines = [f"Testland, {title}\tLast modified: 01 Jan 2024;  Methods Protocol: v6 (2017)", "", header]
    for year in years:
        for age in range(111):
            label = "110+" if age == 110 else str(age)
            lines.append(f"  {year:<6} {label:>10} {age + 1:18.2f} {age + 2:15.2f} {2 * age + 3:15.2f}")
    return lines


def hmd_row(lines: list[str], year_index: int, age: int) -> int:
    return 3 + 111 * year_index + age


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def hfd_lines(years: list[int]) -> list[str]:
    lines = [HFD_TITLE, "Last modified: 19/04/2023", "Year    Age        ASFR"]
    for year in years:
        for age in range(12, 56):
            label = {12: "12-", 55: "55+"}.get(age, str(age))
            lines.append(f"{year}     {label:<4}   {0.01:.5f}")
    return lines


def ssb_lines(sex: str | None = None, cells: tuple[str, str] = ("10", "20")) -> list[str]:
    """A 07459 export with a title line, ';' delimiter, 'K-' codes and ages 0..2 (2 open)."""
    sex_header, sex_cell = ('"sex";', f'"{sex}";') if sex else ("", "")
    lines = [
        '"07459: Population, by region, age, contents and year"',
        "",
        f'"region";{sex_header}"age";"Persons 2021"',
    ]
    for region in ("K-3001 Hålden", "K-5444 Sør-Varanger"):
        for age, value in zip(("0 years", "1 year", "2 years or older"), (*cells, "30"), strict=True):
            lines.append(f'"{region}";{sex_cell}"{age}";{value}')
    return lines


def expect_error(call, path: Path, field: str, *fragments: str) -> None:
    """`call` raises DataError naming the file, the field and every fragment of the problem."""
    with pytest.raises(DataError) as info:
        call(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: "), message
    for fragment in fragments:
        assert fragment in message, message


# ---------------------------------------------------------------- real data: HMD


@pytest.fixture(scope="module")
def hmd_dir(shared_data: Path) -> Path:
    return shared_data / "norway" / "hmd"


@pytest.fixture(scope="module")
def population(hmd_dir: Path) -> xr.DataArray:
    return read_hmd(hmd_dir / "Population.txt")


def test_hmd_population_totals(population):
    assert population.dims == ("year", "sex", "age")
    assert tuple(population["sex"].values) == SEXES
    np.testing.assert_array_equal(population["age"], np.arange(111))
    assert population.attrs["open_age"] == 110 and population.attrs["units"] == "persons"
    assert population.sel(year=2018).sum().item() == 5_295_701
    assert population.sel(year=2024).sum().item() == 5_550_203
    assert population.attrs["territorial_change_years"] == []


def test_hmd_births_and_deaths(hmd_dir):
    births = read_hmd_births(hmd_dir / "Births.txt")
    deaths = read_hmd(hmd_dir / "Deaths_1x1.txt")
    assert births.dims == ("year", "sex") and births.attrs["units"] == "births"
    assert births.sel(year=2018).sum().item() == 55_120
    assert deaths.sel(year=2018).sum().item() == 40_840
    assert deaths.attrs["units"] == "deaths"


def test_hmd_rates_allow_missing(hmd_dir, population):
    mx = read_hmd(hmd_dir / "Mx_1x1.txt")
    assert mx.attrs["units"] == "deaths per person-year"
    assert mx.sel(year=1846, sex="female", age=107).isnull()
    # m(80) in 2018 against deaths over the mean of the two 1 January populations.
    deaths = read_hmd(hmd_dir / "Deaths_1x1.txt").sel(year=2018, age=80)
    exposure = population.sel(year=[2018, 2019], age=80).mean("year")
    np.testing.assert_allclose(mx.sel(year=2018, age=80), deaths / exposure, rtol=0.02)


def test_hmd_lifetable_matches_file_text(hmd_dir):
    path = hmd_dir / "fltper_1x1.txt"
    table = read_hmd_lifetable(path)
    assert table.attrs["sex"] == "female" and set(table.data_vars) == {
        "mx",
        "qx",
        "ax",
        "lx",
        "dx",
        "Lx",
        "Tx",
        "ex",
    }
    row = next(line.split() for line in path.read_text().splitlines() if line.split()[:2] == ["2018", "0"])
    assert table["ex"].sel(year=2018, age=0).item() == float(row[-1])
    assert table["lx"].sel(year=2018, age=0).item() == 100_000


# ---------------------------------------------------------------- real data: HFD, SSB, WPP


def test_hfd_tfr_2018(shared_data):
    hfd = shared_data / "norway" / "hfd"
    asfr = read_hfd_asfr(hfd / "NORasfrRR.txt")
    assert asfr.dims == ("year", "age") and asfr.attrs["units"] == "births per woman-year"
    assert (asfr.attrs["open_lower_age"], asfr.attrs["open_age"]) == (12, 55)
    assert round(asfr.sel(year=2018).sum().item(), 3) == 1.565
    collection = read_hfd_asfr(hfd / "NORasfrRR_collection.txt")
    assert collection.attrs["series"] > 1
    np.testing.assert_array_equal(collection["age"], np.arange(14, 51))
    assert collection.sel(year=2018).sum().item() == pytest.approx(1.56, abs=0.01)


@pytest.fixture(scope="module")
def ssb_dir(shared_data: Path) -> Path:
    return shared_data / "norway" / "ssb"


def test_ssb_municipality_sums(ssb_dir):
    early = read_ssb_07459(ssb_dir / "Personer2015-2018.csv")
    assert early.dims == ("year", "region", "age") and early.attrs["open_age"] == 105
    assert early.sel(year=2018).sum().item() == 5_295_619
    latest = read_ssb_07459(ssb_dir / "Personer2021.csv")
    assert latest.sel(year=2021).sum().item() == 5_391_369
    assert latest.sel(year=2021, region="3001", age=0).item() == 253
    assert latest["region_name"].sel(region="3001").item() == "Halden"
    by_sex = read_ssb_07459(ssb_dir / "norway_population_by_age_sex_2021.csv")
    assert by_sex.dims == ("year", "region", "sex", "age")
    assert by_sex.sel(year=2021).sum().item() == 5_391_369
    xr.testing.assert_equal(by_sex.sum("sex"), latest)


def test_ssb_many_joins_regions(ssb_dir):
    names = ("Personer2021.csv", "Personer2019.csv", "Personer2020.csv")
    many = read_ssb_07459_many([ssb_dir / name for name in names])
    np.testing.assert_array_equal(many["year"], [2019, 2020, 2021])
    assert many.sel(year=2019, region="0101").notnull().all()  # Halden's code before the 2020 reform
    assert many.sel(year=2021, region="0101").isnull().all()
    assert many.sel(year=2021).sum().item() == 5_391_369
    with pytest.raises(DataError, match="year 2021 is also in"):
        read_ssb_07459_many([ssb_dir / "Personer2021.csv", ssb_dir / "Personer2021.csv"])
    with pytest.raises(DataError, match="dims"):
        read_ssb_07459_many([ssb_dir / "Personer2020.csv", ssb_dir / "norway_population_by_age_sex_2021.csv"])


def test_wpp_migration(shared_data):
    path = shared_data / "norway" / "wpp2024" / "migration.txt"
    migration = read_wpp(path)
    assert migration.dims == ("year",) and migration.attrs["units"] == "thousands"
    assert migration["year"].values[-1] == 2023  # "last.observed" ignored
    assert 5 < migration.sel(year=2015).item() < 60  # thousands, net
    header, norway_row = (line.split("\t") for line in path.read_text().splitlines()[:2])
    assert migration.sel(year=2015).item() == float(norway_row[header.index("2015")])
    mx = read_wpp(path.with_name("mxF5.txt"))
    assert mx.dims == ("age", "period") and mx["age_label"].values[-1] == "100+"
    assert read_wpp(path.with_name("tfr.txt")).attrs["units"] == "children per woman"


def test_norway_country_data(norway):
    assert norway.exposures is None
    assert norway.years[0] == 1967 and norway.years[-1] == 2022
    assert norway.population.sel(year=2024).sum().item() == 5_550_203


# ---------------------------------------------------------------- synthetic: good files


def test_hmd_territorial_change_keeps_plus_row(tmp_path):
    lines = hmd_lines("Population size (abridged)", ["2000", "2001-", "2001+", "2002"])
    plus_first = hmd_row(lines, 2, 0)
    lines[plus_first] = lines[plus_first].replace("1.00", "7.00", 1)
    population = read_hmd(write(tmp_path / "Population.txt", lines))
    np.testing.assert_array_equal(population["year"], [2000, 2001, 2002])
    assert population.sel(year=2001, sex="female", age=0).item() == 7
    assert population.attrs["territorial_change_years"] == [2001]


def test_ssb_latin1_missing_cells(tmp_path):
    path = write(tmp_path / "07459.csv", ssb_lines(cells=(".", "")), encoding="latin-1")
    population = read_ssb_07459(path)
    assert population["region_name"].values.tolist() == ["Hålden", "Sør-Varanger"]
    assert population.sel(region="3001", age=[0, 1]).isnull().all()
    assert population.sel(region="3001", age=2).item() == 30


# ---------------------------------------------------------------- synthetic: bad files


def test_hmd_missing_year(tmp_path):
    path = write(tmp_path / "Deaths_1x1.txt", hmd_lines("Deaths (period 1x1), ", ["2000", "2002"]))
    expect_error(read_hmd, path, "Year", "years are not consecutive", "2001")


def test_hmd_dot_in_counts(tmp_path):
    lines = hmd_lines("Deaths (period 1x1), ", ["2000", "2001"])
    row = hmd_row(lines, 1, 5)
    lines[row] = lines[row].replace("6.00", ".", 1)
    expect_error(read_hmd, write(tmp_path / "Deaths_1x1.txt", lines), "Female", "'.'", "year 2001", "age 5")


def test_hmd_negative_count(tmp_path):
    lines = hmd_lines("Population size (abridged)", ["2000"])
    row = hmd_row(lines, 0, 7)
    lines[row] = lines[row].replace("9.00", "-9.00", 1)
    expect_error(
        read_hmd, write(tmp_path / "Population.txt", lines), "Male", "negative", "year 2000", "age 7"
    )


def test_hmd_ages_out_of_order(tmp_path):
    lines = hmd_lines("Deaths (period 1x1), ", ["2000", "2001"])
    first = hmd_row(lines, 1, 3)
    lines[first], lines[first + 1] = lines[first + 1], lines[first]
    expect_error(read_hmd, write(tmp_path / "Deaths_1x1.txt", lines), "Age", "ages out of order in year 2001")


def test_hmd_sex_columns_swapped(tmp_path):
    header = "  Year          Age             Male            Female           Total"
    path = write(tmp_path / "Deaths_1x1.txt", hmd_lines("Deaths (period 1x1), ", ["2000"], header))
    expect_error(
        read_hmd, path, "header", "columns are Year Age Male Female Total", "expected Year Age Female Male"
    )


def test_hmd_reader_rejects_other_formats(tmp_path):
    hfd = write(tmp_path / "XXXasfrRR.txt", hfd_lines([2000]))
    expect_error(read_hmd, hfd, "title", "not an HMD")
    births = write(
        tmp_path / "Births.txt", ["Testland,  Births (1-year)", "", "Year Female Male Total", "2000 1 2 3"]
    )
    expect_error(read_hmd, births, "title", "not an HMD")
    expect_error(read_hmd_births, hfd, "title", "not an HMD Births file")


def test_hfd_reader_rejects_hmd_file(tmp_path):
    path = write(tmp_path / "Population.txt", hmd_lines("Population size (abridged)", ["2000"]))
    expect_error(read_hfd_asfr, path, "title", "not an HFD")


def test_hfd_missing_year(tmp_path):
    path = write(tmp_path / "XXXasfrRR.txt", hfd_lines([2000, 2001, 2003]))
    expect_error(read_hfd_asfr, path, "Year", "years are not consecutive", "2002")


def test_ssb_rejects_other_csv(tmp_path):
    path = write(tmp_path / "other.csv", ["name,value", "a,1", "b,2"])
    expect_error(read_ssb_07459, path, "header", "not an SSB 07459 export")


def test_ssb_unknown_sex(tmp_path):
    path = write(tmp_path / "07459.csv", ssb_lines(sex="Both sexes"))
    expect_error(read_ssb_07459, path, "sex", "unknown label 'Both sexes'")


def test_ssb_negative_count(tmp_path):
    path = write(tmp_path / "07459.csv", ssb_lines(cells=("-1", "5")))
    expect_error(
        read_ssb_07459, path, "Persons 2021", "negative value '-1'", "region K-3001 Hålden", "age 0 years"
    )


def test_wpp_country_absent(tmp_path):
    path = write(
        tmp_path / "migration.txt",
        ["country_code\tcountry\t2015\t2016\tlast.observed", "752\tSweden\t1\t2\t2016"],
    )
    expect_error(read_wpp, path, "country_code", "no rows for country code 578")
    assert read_wpp(path, country_code=752).values.tolist() == [1, 2]
    expect_error(read_wpp, path.rename(tmp_path / "unknown.txt"), "file name", "unknown WPP indicator")


def test_wpp_countries(shared_data):
    folder = shared_data / "wpp2024_world"
    tfr = read_wpp_countries(folder / "tfr.txt", folder / "UNlocations.txt")
    assert tfr.dims == ("country", "year") and tfr.attrs["units"] == "children per woman"
    assert 900 not in tfr["country"] and 1834 not in tfr["country"]  # World, Sub-Saharan Africa
    assert 200 < tfr.sizes["country"] < 240 and tfr["year"].values[[0, -1]].tolist() == [1950, 2023]
    norway = tfr.sel(country=578)
    assert norway["name"].item() == "Norway" and norway["region"].item() == "Northern Europe"
    assert np.array_equal(norway.values, read_wpp(folder / "tfr.txt", 578).values)


def test_wpp_countries_locations(tmp_path):
    path = write(tmp_path / "tfr.txt", ["country_code\tcountry\t2015\t2016", "900\tWorld\t2.4\t2.3"])
    places = write(
        tmp_path / "UNlocations.txt",
        [
            "name\tcountry_code\treg_name\tarea_name\tlocation_type",
            "World\t900\t\t\t0",
            "Norway\t578\tN\tE\t4",
        ],
    )
    expect_error(
        lambda p: read_wpp_countries(p, places), path, "country_code", "no country of UNlocations.txt"
    )
    write(places, ["name\tcountry_code\tlocation_type", "Norway\t578\t4"])
    expect_error(
        lambda p: read_wpp_countries(path, p), places, "header", "missing columns ['area_name', 'reg_name']"
    )


def test_load_country_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"Population\.txt: file: not found"):
        load_country(tmp_path)


# ---------------------------------------------------------------- container checks


def small_country(**changes) -> CountryData:
    years, ages = [2000, 2001], [0, 1, 2]
    three = xr.DataArray(
        np.ones((2, 2, 3)),
        dims=("year", "sex", "age"),
        coords={"year": years, "sex": list(SEXES), "age": ages},
    )
    fields = {
        "name": "Testland",
        "population": three * 100,
        "deaths": three,
        "births": xr.DataArray(
            np.ones((2, 2)), dims=("year", "sex"), coords={"year": years, "sex": list(SEXES)}
        ),
        "asfr": xr.DataArray(
            np.full((2, 2), 0.1), dims=("year", "age"), coords={"year": years, "age": [15, 16]}
        ),
        "source": "test",
    }
    return CountryData(**{**fields, **changes})


def test_container_rejects_nan_and_negative():
    assert small_country().years.tolist() == [2000]
    population = small_country().population.copy()
    population[0, 1, 2] = np.nan
    with pytest.raises(DataError, match=r"^test: population: missing values"):
        small_country(population=population)
    with pytest.raises(DataError, match=r"^test: deaths: negative values"):
        small_country(deaths=-small_country().deaths)
