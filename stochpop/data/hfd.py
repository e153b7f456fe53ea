"""Reader for Human Fertility Database (HFD) / Collection (HFC) age-specific fertility rates.

Two layouts are read: the HFD file XXXasfrRR.txt (whitespace-separated; ages "12-" .. "55+", the open
ends read as 12 and 55) and a tab-separated HFC+HFD collection export (ages 14..50, "." missing).
The collection export stacks several source series one after the other without naming them: a new
series starts where the year goes back. Where several series cover a year, the one with the most
non-missing ages is kept, ties going to the series listed last (for Norway an HFD series from 1967 on);
attrs["series"] is the number of series found. Its years need not be consecutive.
"""

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.data.errors import DataError
from stochpop.data.hmd import age_values, check_columns, numbers, parse_years, read_text_table, year_age_grid

_TITLE = "fertility rates by calendar year and age"


def _grid(
    years: np.ndarray, table: pd.DataFrame, source: Path, consecutive: bool
) -> tuple[xr.DataArray, list[str]]:
    """One series as (year, age), and its age labels."""
    block_years, labels = year_age_grid(years, table["Age"], source, consecutive=consecutive)
    ages = age_values(labels, source)
    row_labels = pd.DataFrame({"Year": years, "Age": table["Age"].str.strip().to_numpy()})
    values = numbers(table["ASFR"], row_labels, source, "ASFR", allow_missing=True)
    asfr = xr.DataArray(
        values.reshape(block_years.size, ages.size),
        dims=("year", "age"),
        coords={"year": block_years, "age": ages},
    )
    return asfr, labels


def _stacked(years: np.ndarray, table: pd.DataFrame, source: Path) -> tuple[xr.DataArray, list[str], int]:
    """Split a collection export into its series and keep, per year, the most complete one."""
    bounds = np.r_[0, np.flatnonzero(years[1:] < years[:-1]) + 1, years.size]
    pieces = [
        _grid(years[a:b], table.iloc[a:b], source, consecutive=False) for a, b in itertools.pairwise(bounds)
    ]
    labels = pieces[0][1]
    if any(piece_labels != labels for _, piece_labels in pieces):
        raise DataError(source, "Age", "the stacked series have different ages")
    stacked = xr.concat([piece for piece, _ in pieces], dim="series", join="outer")
    complete = stacked.notnull().sum("age").isel(series=slice(None, None, -1))
    best = len(pieces) - 1 - complete.argmax("series")
    return stacked.isel(series=best).drop_vars("series", errors="ignore"), labels, len(pieces)


def read_hfd_asfr(path: str | Path) -> xr.DataArray:
    """Read period age-specific fertility rates (HFD XXXasfrRR.txt or the tab-separated HFC export).

    Returns dims (year, age), units "births per woman-year", mother's age in completed years (Lexis
    squares). An open lower/upper age ("12-", "55+") is read as that integer and noted in attrs
    open_lower_age/open_age. Missing rates (".") become NaN.
    """
    path = Path(path)
    title, header, table = read_text_table(path)
    if _TITLE not in title:
        raise DataError(path, "title", f"'{title}' is not an HFD period age-specific fertility file")
    check_columns(table, ("Year", "Age", "ASFR"), path, "HFD asfrRR")
    years, keep, _ = parse_years(table["Year"], path)
    table = table[keep.to_numpy()]
    if "\t" in header:
        asfr, labels, n_series = _stacked(years, table, path)
    else:
        (asfr, labels), n_series = _grid(years, table, path, consecutive=True), 1
    attrs = {
        "units": "births per woman-year",
        "source": str(path),
        "age": "mother's age in completed years (Lexis squares)",
        "series": n_series,
    }
    if labels[0].endswith("-"):
        attrs["open_lower_age"] = int(asfr["age"][0])
    if labels[-1].endswith("+"):
        attrs["open_age"] = int(asfr["age"][-1])
    asfr.attrs = attrs
    return asfr.rename("asfr")
