"""Summaries of sampled paths: quantiles, prediction intervals and SSB-style L/M/H variants.

Every function takes labelled results with a `draw` dimension (any other dims pass through) and uses
xarray's quantile (linear interpolation, numpy's default), so tables agree with `numpy.quantile` on the
stored draws. Paths hold no NaN (`pipeline.check_paths`), so NaN-skipping is off: a NaN would show.
"""

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import xarray as xr

DEFAULT_QUANTILES: tuple[float, ...] = (0.025, 0.1, 0.5, 0.9, 0.975)
DEFAULT_VARIANT_QUANTILES: dict[str, float] = {"L": 0.1, "M": 0.5, "H": 0.9}


def quantiles(paths: xr.Dataset | xr.DataArray, q: Sequence[float] = DEFAULT_QUANTILES) -> xr.Dataset:
    """Quantiles over `draw` (dim `quantile`) of every variable."""
    dataset = paths.to_dataset() if isinstance(paths, xr.DataArray) else paths
    return dataset.quantile(list(q), dim="draw", skipna=False)


def intervals(
    paths: xr.Dataset | xr.DataArray, levels: Sequence[float] = (0.5, 0.8, 0.95)
) -> xr.Dataset | xr.DataArray:
    """Central prediction intervals: `lower`/`upper` variables with a `level` dim (e.g. 0.8 -> 10%-90%)."""
    lower = paths.quantile([(1 - lv) / 2 for lv in levels], dim="draw", skipna=False).rename(quantile="level")
    upper = paths.quantile([(1 + lv) / 2 for lv in levels], dim="draw", skipna=False).rename(quantile="level")
    level = list(levels)
    return xr.concat(
        [lower.assign_coords(level=level), upper.assign_coords(level=level)],
        dim=pd.Index(["lower", "upper"], name="bound"),
    )


def variants(paths: xr.Dataset, levels: dict[str, float] | None = None) -> xr.Dataset:
    """SSB-style variants as quantiles of each output (dim `variant`: L, M, H by default 10/50/90%)."""
    levels = DEFAULT_VARIANT_QUANTILES if levels is None else levels
    table = paths.quantile(list(levels.values()), dim="draw", skipna=False)
    return table.rename(quantile="variant").assign_coords(variant=list(levels))


def tidy(table: xr.Dataset) -> pd.DataFrame:
    """A summary dataset -> one long table: columns for every dim, `variable` and `value`."""
    frames = []
    for name, variable in table.data_vars.items():
        frame = variable.to_dataframe(name="value").reset_index()
        frames.append(frame.assign(variable=name))
    columns = ["variable", *sorted({c for f in frames for c in f.columns} - {"variable", "value"}), "value"]
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def write_table(
    table: pd.DataFrame, path_without_suffix: Path, formats: Sequence[str] = ("csv", "parquet")
) -> list[Path]:
    """Write a tidy table as CSV and/or parquet; returns the paths written."""
    written = []
    for fmt in formats:
        path = path_without_suffix.with_suffix(f".{fmt}")
        if fmt == "csv":
            table.to_csv(path, index=False)
        elif fmt == "parquet":
            table.to_parquet(path, index=False)
        else:
            raise ValueError(f"unknown table format {fmt!r} (csv or parquet)")
        written.append(path)
    return written
