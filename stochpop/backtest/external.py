"""External projections given as quantiles, on the back-test's (target, horizon, quantile) grid.

Two readers:
* `read_quantile_table`: a CSV of rows "year, quantile, value" (plus an optional `target` column; without
  it every row is `target`), e.g. a published projection's fan chart digitised;
* `read_wpp_quantiles`: the UN WPP probabilistic total population (popprojMed/80l/80u/95l/95u, thousands,
  1 July) for one country, as target `total_population_mid_year`.

`on_horizon_quantiles` places a table on the horizons of a jump-off with the conventions of
`targets.on_horizon` (stocks h years after the jump-off; events and mid-year stocks in the h-th year).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.backtest.targets import MID_YEAR, STOCKS, TARGETS
from stochpop.data.errors import DataError
from stochpop.data.wpp import read_wpp

WPP_QUANTILES = {
    "popproj95l": 0.025,
    "popproj80l": 0.1,
    "popprojMed": 0.5,
    "popproj80u": 0.9,
    "popproj95u": 0.975,
}
"""WPP probabilistic population files and the quantile each holds."""


def read_quantile_table(path: str | Path, target: str = "total_population") -> xr.DataArray:
    """A CSV of year, quantile, value [, target] rows -> DataArray (target, year, quantile).

    DataError naming the file and column for a missing column, a non-number, a quantile outside (0, 1), an
    unknown target, a repeated (target, year, quantile) or a missing combination.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(path, "file", f"cannot read as CSV: {error}") from error
    missing = [c for c in ("year", "quantile", "value") if c not in table.columns]
    if missing:
        raise DataError(path, "header", f"no column(s) {missing}; expected year, quantile, value [, target]")
    if "target" not in table.columns:
        table["target"] = target
    for column in ("year", "quantile", "value"):
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna())[0])
            raise DataError(path, column, f"not a number in data row {row + 1}: {table[column].iloc[row]!r}")
        table[column] = values
    if not table["quantile"].between(0, 1, inclusive="neither").all():
        raise DataError(path, "quantile", "every quantile must lie strictly between 0 and 1")
    unknown = sorted(set(table["target"]) - {*TARGETS, MID_YEAR})
    if unknown:
        raise DataError(
            path, "target", f"unknown target(s) {unknown}; expected some of {[*TARGETS, MID_YEAR]}"
        )
    table["year"] = table["year"].astype(int)
    keys = ["target", "year", "quantile"]
    if table.duplicated(keys).any():
        first = table.loc[table.duplicated(keys), keys].iloc[0].tolist()
        raise DataError(path, "rows", f"(target, year, quantile) {first} given more than once")
    grid = table.set_index(keys)["value"].to_xarray()
    if grid.isnull().any():
        raise DataError(path, "rows", "not every target has every year at every quantile")
    return grid.assign_attrs(source=str(path))


def read_wpp_quantiles(directory: str | Path, country_code: int = 578) -> xr.DataArray:
    """The WPP probabilistic total population of one country (persons, 1 July) from the popproj* files in
    `directory` -> DataArray (target = total_population_mid_year, year, quantile)."""
    directory = Path(directory)
    by_quantile = []
    for stem, quantile in WPP_QUANTILES.items():
        path = directory / f"{stem}.txt"
        if not path.is_file():
            raise DataError(path, "file", "not found")
        by_quantile.append(1000.0 * read_wpp(path, country_code).expand_dims(quantile=[quantile]))
    grid = xr.concat(by_quantile, dim="quantile").expand_dims(target=[MID_YEAR])
    return grid.transpose("target", "year", "quantile").assign_attrs(source=str(directory))


def on_horizon_quantiles(quantiles: xr.DataArray, jump_off: int, horizon: int) -> xr.DataArray:
    """(target, year, quantile) -> (target, horizon, quantile) for a projection from 1 January `jump_off`,
    NaN where the table has no year."""
    steps = np.arange(1, horizon + 1)
    placed = []
    for target in quantiles["target"].values:
        years = jump_off + steps if target in STOCKS else jump_off + steps - 1
        row = quantiles.sel(target=[target]).reindex(year=years).rename(year="horizon")
        placed.append(row.assign_coords(horizon=steps))
    return xr.concat(placed, dim="target")
