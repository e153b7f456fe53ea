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
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False).fillna("")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(path, "file", f"cannot read as a tab-separated WPP file: {err}") from err
    columns = list(table.columns)
    if columns[:2] != ["country_code", "country"]:
        raise DataError(path, "header", f"columns start {columns[:2]}; expected country_code, country")
    rows = table[table["country_code"].str.strip() == str(country_code)]
    if rows.empty:
        raise DataError(path, "country_code", f"no rows for country code {country_code}")
    time_dim, time_columns = _time_columns(columns, path)
    has_age = "age" in columns
    if not has_age and len(rows) > 1:
        raise DataError(path, "country_code", f"{len(rows)} rows for country code {country_code}; expected 1")
    labels = rows[["country_code", *(["age"] if has_age else [])]]
    values = np.column_stack(
        [numbers(rows[c], labels, path, c, allow_missing=True, allow_negative=True) for c in time_columns]
    )
    times = [int(c) for c in time_columns] if time_dim == "year" else time_columns
    coords = {time_dim: times, **(_age_coords(rows["age"].str.strip(), path) if has_age else {})}
    attrs = {
        "units": units,
        "source": str(path),
        "country": rows["country"].iloc[0],
        "country_code": country_code,
        "time": "1 July (mid-year)" if time_dim == "year" else "1 July to 30 June",
    }
    dims = ("age", time_dim) if has_age else (time_dim,)
    data = values if has_age else values[0]
    return xr.DataArray(data, dims=dims, coords=coords, name=path.stem, attrs=attrs)
