"""The region axis a user chooses: a division of Norway's 357 municipalities (2024 borders) into regions.

Kinds (`load_division`):

| kind | regions | from (norway/regional) |
|---|---|---|
| "county" | the 15 counties of 2024 | the csdata location hierarchy (`read_locations`) |
| "ba" | SSB's 159 labour-market (BA) regions (78 of one municipality) | baregioner_2024.xlsx |
| "table" | any grouping | a user CSV with columns municipality, region and optionally name |

A division places every municipality in exactly one region. A region's population (`regional_population`)
is the sum of its municipalities' (year, sex, age), 2005-2024; a region-year with a missing municipality
(Vindafjord and Aure in 2005) is NaN and named in attrs missing, as the municipal reader does. On real data
the county division's sums are the county file's to the person in every complete year (2006-2024; the
county file's own 2005 totals for Rogaland and Møre og Romsdal lack the same two municipalities).
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from stochpop.data.errors import DataError
from stochpop.data.regional import (
    group_regions,
    read_ba_regions,
    read_csv_table,
    read_locations,
    read_regional_population,
)

LOCATIONS_FILE = "DERIVED_csdata_locations_hierarchy_b2024.csv.gz"
MUNICIPAL_FILE = "DERIVED_csdata_pop_by_age_sex_b2024_municipality_to2024.csv.gz"
BA_FILE = "baregioner_2024.xlsx"
KINDS = ("county", "ba", "table")


@dataclass(frozen=True)
class Division:
    """Municipalities grouped into regions. region_of: municipality code ("0301") -> region code, sorted by
    municipality; names: region code -> name; source: the file the grouping came from."""

    kind: str
    region_of: pd.Series
    names: dict[str, str]
    source: str

    @property
    def regions(self) -> list[str]:
        """The region codes, sorted (the order of `regional_population`'s region axis)."""
        return sorted(self.names)

    def municipalities(self, region: str) -> list[str]:
        """The municipality codes of `region`, sorted."""
        return sorted(self.region_of.index[self.region_of == region])


def load_division(kind: str, regional_folder: str | Path, table: str | Path | None = None) -> Division:
    """The division of `kind` ("county", "ba" or "table", module docstring) over the municipalities of the
    location hierarchy in `regional_folder` (norway/regional). `table` is the CSV of kind "table"."""
    if kind not in KINDS:
        raise ValueError(f"division kind must be one of {KINDS}, not {kind!r}")
    if (table is None) != (kind != "table"):
        raise ValueError("a table is given with kind 'table' and only then")
    folder = Path(regional_folder)
    locations = read_locations(folder / LOCATIONS_FILE)
    if kind == "county":
        names = locations.drop_duplicates("county").set_index("county")["county_name"]
        return Division(kind, locations["county"].sort_index(), names.to_dict(), str(folder / LOCATIONS_FILE))
    if kind == "ba":
        regions = read_ba_regions(folder / BA_FILE)
        _check_covers(regions.index, locations.index, folder / BA_FILE)
        names = regions.drop_duplicates("region").set_index("region")["region_name"]
        return Division(kind, regions["region"].sort_index(), names.to_dict(), str(folder / BA_FILE))
    assert table is not None  # checked above
    return _read_table(Path(table), locations.index)


def _check_covers(listed: pd.Index, municipalities: pd.Index, path: Path) -> None:
    """Every municipality of the hierarchy placed, and no other code."""
    unknown = listed.difference(municipalities)
    if len(unknown):
        raise DataError(path, "municipality", f"{list(unknown[:5])} are not municipalities on 2024 borders")
    missing = municipalities.difference(listed)
    if len(missing):
        raise DataError(path, "municipality", f"{list(missing[:5])} in no region ({len(missing)} in all)")


def _read_table(path: Path, municipalities: pd.Index) -> Division:
    """A user's CSV (municipality, region[, name]) -> a Division; codes written without their leading zero
    ("301", as spreadsheets save "0301") are read as four digits; a region's name is its one non-blank name,
    else its code. Errors name the line of the file."""
    rows = read_csv_table(path, {"municipality", "region"})
    code = rows["municipality"].str.strip()
    code = code.where(~code.str.fullmatch(r"\d{3}"), code.str.zfill(4))
    region = rows["region"].str.strip()
    line = rows.index.to_numpy() + 2  # the header is line 1
    for index in range(len(rows)):
        if region.iloc[index] == "":
            raise DataError(path, f"line {line[index]}: region", "blank")
        if code.iloc[index] not in municipalities:
            raise DataError(
                path,
                f"line {line[index]}: municipality",
                f"'{code.iloc[index]}' is not a municipality on 2024 borders",
            )
    first = pd.Series(line, index=code).groupby(level=0).first()
    placed = pd.Series(region.to_numpy(), index=code.to_numpy())
    for index in range(len(rows)):
        earlier = int(first[code.iloc[index]])
        if earlier != line[index]:
            raise DataError(
                path,
                f"line {line[index]}: municipality",
                f"'{code.iloc[index]}' is already placed on line {earlier} "
                f"(regions '{placed.iloc[earlier - 2]}' and '{region.iloc[index]}')",
            )
    _check_covers(pd.Index(code), municipalities, path)
    name = rows["name"].str.strip() if "name" in rows.columns else pd.Series("", index=rows.index)
    named = pd.DataFrame({"region": region, "name": name})[name != ""]
    twice = named.groupby("region")["name"].nunique()
    if (twice > 1).any():
        raise DataError(path, "name", f"region '{twice.index[twice > 1][0]}' has two names")
    names = {code: code for code in region} | named.set_index("region")["name"].to_dict()
    return Division("table", placed.sort_index().rename_axis("municipality"), names, str(path))


def regional_population(division: Division, regional_folder: str | Path) -> xr.DataArray:
    """Persons on 1 January (year, region, sex, age) in the division's regions, summed from the municipal
    file in `regional_folder`; coordinate region_name (region). A region-year lacking a municipality is NaN
    and listed in attrs missing ("11:2005")."""
    municipal = read_regional_population(Path(regional_folder) / MUNICIPAL_FILE)
    groups = division.region_of.to_dict()
    summed = group_regions(municipal.fillna(0.0), groups, division.source)
    absent = group_regions(municipal.isnull().all(["sex", "age"]).astype(int), groups, division.source)
    population = summed.where(absent == 0)
    gaps = (absent > 0).stack(cell=["region", "year"])
    population.attrs = {
        **municipal.attrs,
        "missing": [f"{r}:{y}" for r, y in gaps["cell"].values[gaps.values]],
    }
    names = [division.names[str(code)] for code in population["region"].values]
    return population.assign_coords(region_name=("region", names)).rename("population")
