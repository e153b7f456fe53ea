"""Readers for Statistics Greenland's small regional demographic account (2011-2020), tidy CSV files.

Each file has a header naming its columns, one row per cell and a `count` column of persons or events:

| file | columns besides count | here |
|---|---|---|
| reg_popn.csv | age, sex, time | population (year, sex, age) |
| reg_popn_region.csv | age, sex, region, time | regional_population (year, region, sex, age) |
| reg_births.csv | age (mother's), triangle, sex (child's), time | births (year, sex, mother_age, triangle) |
| reg_deaths / reg_immigration / reg_emigration.csv | age, triangle, sex, time | (year, sex, age, triangle) |
| reg_internal_region.csv | age, triangle, sex, region, time, direction | internal_in, internal_out |

Time. A population's `year` is the file's time point; events of `year` t happen between the populations
of t - 1 and t (P(t) = P(t-1) + the events of t, checked in `stochpop.regions.accounts`). Ages are
completed years at the event, 0..100 with "100+" open (attrs open_age=100); births by mother's age 13..50.
Lexis triangles: "lower" holds the events of the cohort that reaches age x during the year (age x at its
end), "upper" those of the cohort that was x at its start (x + 1 at its end, or still in the open age).
internal_in and internal_out have dims (year, region, sex, age, triangle).
Internal migration is registered per municipality as in- and out-moves, not as an origin-destination
matrix. The municipalities do not hold the whole population: the national population is 68-233 persons
larger than their sum (people outside any municipality).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.errors import DataError

FILES = {
    "population": "reg_popn.csv",
    "regional_population": "reg_popn_region.csv",
    "births": "reg_births.csv",
    "deaths": "reg_deaths.csv",
    "immigration": "reg_immigration.csv",
    "emigration": "reg_emigration.csv",
    "internal": "reg_internal_region.csv",
}
"""Variable (internal: internal_in and internal_out) -> file name inside the Greenland folder."""

TRIANGLES: tuple[str, str] = ("lower", "upper")

_LABELS = {
    "sex": {"Female": SEXES[0], "Male": SEXES[1]},
    "triangle": {"Lower": TRIANGLES[0], "Upper": TRIANGLES[1]},
    "direction": {"In": "in", "Out": "out"},
}
_DIM_ORDER = ("time", "direction", "region", "sex", "age", "triangle")
_KNOWN_COLUMNS = {*_DIM_ORDER, "count"}


def _read_table(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except OSError as err:
        raise DataError(path, "file", f"cannot read: {err.strerror}") from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(path, "table", f"cannot parse rows: {err}") from err
    unknown = set(table.columns) - _KNOWN_COLUMNS
    if unknown or not {"time", "age", "count"} <= set(table.columns):
        raise DataError(
            path,
            "header",
            f"columns are {list(table.columns)}; expected time, age, count and some of "
            "sex, region, triangle, direction",
        )
    if table.empty:
        raise DataError(path, "table", "no data rows")
    return table


def _integers(text: pd.Series, path: Path, field: str) -> np.ndarray:
    good = text.str.fullmatch(r"\d+")
    if not good.all():
        raise DataError(path, field, f"'{text[~good].iloc[0]}' is not a non-negative integer")
    return text.astype(int).to_numpy()


def _ages(text: pd.Series, path: Path) -> tuple[np.ndarray, int | None]:
    """Integer ages and the open age ("N+", which must be the highest), or None if there is none."""
    is_open = text.str.fullmatch(r"\d+\+")
    ages = _integers(text.str.removesuffix("+"), path, "age")
    open_ages = set(ages[is_open.to_numpy()])
    if len(open_ages) > 1 or (open_ages and max(open_ages) != ages.max()):
        raise DataError(path, "age", f"open ages {sorted(open_ages)}; expected one 'N+', the highest age")
    return ages, (open_ages.pop() if open_ages else None)


def _coordinate(table: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    if column in _LABELS:
        mapped = table[column].map(_LABELS[column])
        if mapped.isna().any():
            bad = table[column][mapped.isna()].iloc[0]
            raise DataError(path, column, f"unknown label '{bad}'; expected one of {list(_LABELS[column])}")
        return mapped.to_numpy()
    if column == "time":
        return _integers(table[column], path, column)
    return table[column].str.strip().to_numpy()


def read_greenland_counts(path: str | Path) -> xr.DataArray:
    """One Greenland file -> counts with dims in the order (year, direction, region, sex, age, triangle)
    of those the file has (time is renamed year). Validated: known columns and labels, non-negative integer
    counts, no duplicate and no missing cell. attrs: source, open_age (None for births)."""
    path = Path(path)
    table = _read_table(path)
    columns = [column for column in _DIM_ORDER if column in table.columns]
    ages, open_age = _ages(table["age"], path)
    keys = {column: ages if column == "age" else _coordinate(table, column, path) for column in columns}
    counts = _integers(table["count"], path, "count")
    index = pd.MultiIndex.from_arrays(list(keys.values()), names=columns)
    if index.duplicated().any():
        first = index[index.duplicated()][0]
        raise DataError(path, "rows", f"duplicate row for {dict(zip(columns, first, strict=True))}")
    levels = {column: sorted(set(values)) for column, values in keys.items()}
    levels["age"] = list(range(min(ages), max(ages) + 1))
    for column, labels in _LABELS.items():
        if column in levels:
            levels[column] = [label for label in labels.values() if label in levels[column]]
    full = pd.MultiIndex.from_product(list(levels.values()), names=columns)
    absent = full.difference(index)
    if len(absent):
        cell = dict(zip(columns, absent[0], strict=True))
        raise DataError(path, "rows", f"no row for {cell} ({len(absent)} cells missing)")
    values = pd.Series(counts, index=index).reindex(full).to_numpy()
    data = xr.DataArray(
        values.reshape([len(labels) for labels in levels.values()]).astype(float),
        dims=columns,
        coords=levels,
    ).rename(time="year")
    data.attrs = {"source": str(path), "open_age": open_age}
    return data


@dataclass(frozen=True)
class GreenlandAccount:
    """Greenland's registered account. Stocks (persons at the time point `year`, 2010..2020):
    population (year, sex, age), regional_population (year, region, sex, age). Events during `year`
    (2011..2020): births (year, sex, mother_age, triangle; sex of the child), deaths, immigration,
    emigration (year, sex, age, triangle), internal_in, internal_out (year, region, sex, age, triangle).
    Ages 0..100, 100 open (`open_age`)."""

    population: xr.DataArray
    regional_population: xr.DataArray
    births: xr.DataArray
    deaths: xr.DataArray
    immigration: xr.DataArray
    emigration: xr.DataArray
    internal_in: xr.DataArray
    internal_out: xr.DataArray
    open_age: int


def _check_alike(name: str, data: xr.DataArray, population: xr.DataArray, regions: xr.DataArray) -> None:
    """Raise unless `data` has the ages, regions, sexes, triangles and years the account expects."""
    source = data.attrs["source"]
    if name != "births" and (data.attrs["open_age"] is None or not data["age"].equals(population["age"])):
        raise DataError(
            source,
            "age",
            f"ages {int(data['age'][0])}..{int(data['age'][-1])} (open "
            f"{data.attrs['open_age']}); expected those of {population.attrs['source']}",
        )
    if "region" in data.dims and list(data["region"].values) != list(regions.values):
        raise DataError(source, "region", "regions differ from those of the regional population")
    if "triangle" in data.dims and tuple(data["triangle"].values) != TRIANGLES:
        raise DataError(source, "triangle", f"triangles {list(data['triangle'].values)}; expected both")
    if tuple(data["sex"].values) != SEXES:
        raise DataError(source, "sex", f"sexes {list(data['sex'].values)}; expected both")
    expected = population["year"].values[1:] if "triangle" in data.dims else population["year"].values
    if not np.array_equal(data["year"].values, expected):
        raise DataError(source, "time", f"years {data['year'].values.tolist()}; expected {expected.tolist()}")


def load_greenland(folder: str | Path) -> GreenlandAccount:
    """The Greenland account from its folder (file names in `FILES`), every file validated and checked
    to share ages (0..open), regions, sexes, triangles and years (events in each year after the first
    population)."""
    folder = Path(folder)
    read = {name: read_greenland_counts(folder / file) for name, file in FILES.items()}
    internal = read.pop("internal")
    read["internal_in"] = internal.sel(direction="in", drop=True)
    read["internal_out"] = internal.sel(direction="out", drop=True)
    population, regions = read["population"], read["regional_population"]["region"]
    for name, data in read.items():
        _check_alike(name, data, population, regions)
    read["births"] = read["births"].rename(age="mother_age")
    return GreenlandAccount(
        **{name: data.rename(name) for name, data in read.items()}, open_age=int(population.attrs["open_age"])
    )
