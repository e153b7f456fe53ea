"""Reader for UN World Population Prospects 2024 indicator files (as in the R package wpp2024).

Tab-separated, one row per country (and age group), columns country_code, country, [age,] then one
column per year ("2015", mid-year) or five-year period ("2020-2025", 1 July to 30 June). Non-year
trailing columns such as "last.observed" are ignored. Counts are in thousands.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.data.errors import DataError
from stochpop.data.hmd import numbers
from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir

# file-name stem prefix -> units
_UNITS = (
    ("births", "thousands"),
    ("deaths", "thousands"),
    ("migration", "thousands"),
    ("pop", "thousands"),
    ("tfr", "children per woman"),
    ("e0", "years"),
    ("cnmr", "per 1000 population"),
    ("mx", "deaths per person-year"),
    ("sexRatio", "male births per female birth"),
    ("percentASFR", "percent of the total fertility rate"),
)
_YEAR = re.compile(r"\d{4}")
_PERIOD = re.compile(r"\d{4}-\d{4}")


def _units(path: Path) -> str:
    for prefix, units in _UNITS:
        if path.stem.startswith(prefix):
            return units
    raise DataError(path, "file name", f"unknown WPP indicator '{path.stem}': pass units=")


def _time_columns(columns: list[str], path: Path) -> tuple[str, list[str]]:
    """The time dimension ("year" or "period") and its columns; other columns are ignored."""
    years = [c for c in columns if _YEAR.fullmatch(c)]
    periods = [c for c in columns if _PERIOD.fullmatch(c)]
    if bool(years) == bool(periods):
        raise DataError(path, "header", "expected columns of either years ('2015') or periods ('2020-2025')")
    return ("year", years) if years else ("period", periods)


def _age_coords(labels: pd.Series, path: Path) -> dict[str, tuple[str, object]]:
    """Age coordinate (lower bound of each group: "0-4" -> 0, "100+" -> 100) and the labels."""
    lower = labels.str.extract(r"^(\d+)(?:-\d+|\+)?$")[0]
    if lower.isna().any() or labels.duplicated().any():
        raise DataError(
            path, "age", f"age groups {labels.tolist()} are not distinct labels like '0-4' or '100+'"
        )
    return {"age": ("age", lower.astype(int).to_numpy()), "age_label": ("age", labels.to_numpy())}


def _read_table(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False).fillna("")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(path, "file", f"cannot read as a tab-separated WPP file: {err}") from err
    if list(table.columns[:2]) != ["country_code", "country"]:
        raise DataError(
            path, "header", f"columns start {list(table.columns[:2])}; expected country_code, country"
        )
    return table


def _time_values(rows: pd.DataFrame, labels: pd.DataFrame, path: Path) -> tuple[str, list, np.ndarray]:
    """The time dimension, its coordinate and the values (rows, times) of `rows`."""
    time_dim, time_columns = _time_columns(list(rows.columns), path)
    values = np.column_stack(
        [numbers(rows[c], labels, path, c, allow_missing=True, allow_negative=True) for c in time_columns]
    )
    times = [int(c) for c in time_columns] if time_dim == "year" else time_columns
    return time_dim, times, values


def _time_attr(time_dim: str) -> str:
    return "1 July (mid-year)" if time_dim == "year" else "1 July to 30 June"


def read_wpp(path: str | Path, country_code: int = 578, units: str | None = None) -> xr.DataArray:
    """Read one country from a WPP 2024 indicator file.

    Returns dims (year,) or (period,), or (age, year) / (age, period) for files with an age column
    (age = lower bound of the group, `age_label` the file's label). Units from the file name stem
    unless given: births/deaths/migration/pop* thousands, tfr* children per woman, e0* years, cnmr per
    1000 population, mx* deaths per person-year, sexRatio male births per female birth, percentASFR
    percent.
    """
    path = Path(path)
    units = units or _units(path)
    table = _read_table(path)
    rows = table[table["country_code"].str.strip() == str(country_code)]
    if rows.empty:
        raise DataError(path, "country_code", f"no rows for country code {country_code}")
    has_age = "age" in table.columns
    if not has_age and len(rows) > 1:
        raise DataError(path, "country_code", f"{len(rows)} rows for country code {country_code}; expected 1")
    labels = rows[["country_code", *(["age"] if has_age else [])]]
    time_dim, times, values = _time_values(rows, labels, path)
    coords = {time_dim: times, **(_age_coords(rows["age"].str.strip(), path) if has_age else {})}
    attrs = {
        "units": units,
        "source": str(path),
        "country": rows["country"].iloc[0],
        "country_code": country_code,
        "time": _time_attr(time_dim),
    }
    dims = ("age", time_dim) if has_age else (time_dim,)
    data = values if has_age else values[0]
    return xr.DataArray(data, dims=dims, coords=coords, name=path.stem, attrs=attrs)


COUNTRY_LOCATION_TYPE = "4"
"""`location_type` of a country or area in WPP's UNlocations (regions and aggregates have other types)."""


def read_wpp_countries(path: str | Path, locations: str | Path, units: str | None = None) -> xr.DataArray:
    """Every country of a WPP 2024 indicator file without an age column, dims (country, year).

    `locations` is WPP's UNlocations table (tab-separated): its rows of `location_type` 4 say which codes
    are countries or areas (aggregates such as "World" or "Northern Europe" are dropped). Coordinates:
    country (code), name, and the UN region (`reg_name`) and area (`area_name`) of each.
    """
    path, locations = Path(path), Path(locations)
    units = units or _units(path)
    table = _read_table(path)
    if "age" in table.columns:
        raise DataError(path, "age", "read_wpp_countries reads files without an age column")
    try:
        places = pd.read_csv(locations, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(locations, "file", f"cannot read as WPP's tab-separated UNlocations: {err}") from err
    missing = {"country_code", "location_type", "reg_name", "area_name"} - set(places.columns)
    if missing:
        raise DataError(locations, "header", f"missing columns {sorted(missing)}")
    places = places[places["location_type"].str.strip() == COUNTRY_LOCATION_TYPE].set_index("country_code")
    rows = table[table["country_code"].str.strip().isin(places.index)]
    if rows.empty:
        raise DataError(path, "country_code", f"no country of {locations.name} in the file")
    if rows["country_code"].duplicated().any():
        raise DataError(path, "country_code", "a country has more than one row")
    time_dim, times, values = _time_values(rows, rows[["country_code"]], path)
    codes = rows["country_code"].str.strip()
    coords = {
        "country": codes.astype(int).to_numpy(),
        "name": ("country", rows["country"].to_numpy()),
        "region": ("country", places.loc[codes, "reg_name"].to_numpy()),
        "area": ("country", places.loc[codes, "area_name"].to_numpy()),
        time_dim: times,
    }
    attrs = {"units": units, "source": str(path), "time": _time_attr(time_dim)}
    return xr.DataArray(values, dims=("country", time_dim), coords=coords, name=path.stem, attrs=attrs)


WORLD_FOLDER = "wpp2024_world"
"""The shared data's WPP 2024 world folder (tfr.txt, births.txt, e0F.txt, e0M.txt, migration.txt,
UNlocations.txt), where the world fits learn."""


def shared_world_folder() -> Path:
    """The shared data folder's WPP 2024 world folder, `WORLD_FOLDER` (DataError if absent)."""
    root = shared_data_dir()
    if root is None:
        raise DataError("shared data", WORLD_FOLDER, MISSING_SHARED_DATA)
    if not (root / WORLD_FOLDER).is_dir():
        raise DataError(root, WORLD_FOLDER, "no such folder: the world fits (fertility, mortality) need it")
    return root / WORLD_FOLDER


def countries_named(values: xr.DataArray, name: str) -> list[int]:
    """Codes of the WPP countries of `values` (country, ...) called `name` (case-insensitive; none for a
    name WPP does not use)."""
    names = np.char.lower(values["name"].values.astype(str))
    return [int(c) for c in values["country"].values[names == name.lower()]]
