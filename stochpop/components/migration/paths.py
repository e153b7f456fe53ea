"""Forecast paths shared by the migration components: the years after the fit, a level's AR(1) paths and
a shifting level's totals keyed by path (`stochpop.components.randomness`), schedules on the kernel's ages,
and the labelled forecast."""

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import xarray as xr

from stochpop.components.processes import ar1_recursion, level_shift_paths
from stochpop.components.randomness import Paths, path_indices, path_shocks
from stochpop.conventions import KERNEL_AGES, N_AGES, SEXES

Array = jax.Array

_ar1_paths = jax.jit(ar1_recursion)
"""`ar1_recursion` compiled once per shape: forecasts call it with (draw,) parameters."""
_level_shift_paths = jax.jit(level_shift_paths)
"""`level_shift_paths` compiled once per shape."""


def forecast_steps(years: Sequence[int] | np.ndarray, last_year: int) -> np.ndarray:
    """The step index (n,) of each forecast year (0 = the year after `last_year`); all must be later."""
    requested = np.asarray(years, dtype=int)
    if requested.size == 0 or requested.min() <= last_year:
        raise ValueError(f"forecast years must all come after the fit period's last year {last_year}")
    return requested - last_year - 1


def level_paths(
    keys: Array,
    stream: int,
    last: float,
    loc: np.ndarray,
    persistence: np.ndarray,
    scale: np.ndarray,
    df: np.ndarray | None,
    index: np.ndarray,
) -> np.ndarray:
    """AR(1) level paths (path, len(index)) float32 at steps `index` after the last fitted value `last`,
    parameters (path,) each; vectorised over paths.

    Shocks: Student-t with `df` (path,) or normal if None, from stream `stream` of each path's key
    (`stochpop.components.randomness.path_shocks`).
    """
    shocks = path_shocks(keys, stream, (int(index.max()) + 1,), df)
    start = np.full(keys.shape[0], last, dtype=np.float32)
    args = (np.asarray(a, dtype=np.float32) for a in (start, loc, persistence, scale))
    return np.asarray(_ar1_paths(*args, shocks.T))[index].T


def level_shift_total_paths(
    keys: Array,
    level: np.ndarray,
    deviation: np.ndarray,
    damping: np.ndarray,
    level_scale: np.ndarray,
    loc: np.ndarray,
    persistence: np.ndarray,
    scale: np.ndarray,
    df: np.ndarray | None,
    index: np.ndarray,
    bounds: np.ndarray | None = None,
) -> np.ndarray:
    """Totals (path, len(index)) float32 of a damped level plus AR(1) deviations (`level_shift_paths`) at
    steps `index` after the last fitted year's `level` and `deviation`, parameters (path,) each; the
    level bent into `bounds` (4,) if given (`processes.soft_bounds`).

    Deviation shocks: Student-t with `df` (path,) or normal if None, stream 1 of each path's key (as
    `level_paths`); level shocks: normal, stream 2.
    """
    steps = (int(index.max()) + 1,)
    shocks = path_shocks(keys, 1, steps, df)
    level_shocks = path_shocks(keys, 2, steps)
    args = (
        np.asarray(a, dtype=np.float32)
        for a in (level, deviation, loc, damping, level_scale, persistence, scale)
    )
    limits = None if bounds is None else np.asarray(bounds, dtype=np.float32)
    return np.asarray(_level_shift_paths(*args, level_shocks.T, shocks.T, limits))[index].T


def pad_ages(values: np.ndarray, ages: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """(..., len(ages)) -> (..., 120) float32 on the kernel's ages 0..119; ages not in `ages` get `fill`."""
    out = np.full((*values.shape[:-1], N_AGES), fill, dtype=np.float32)
    out[..., ages] = values
    return out


def forecast_dataset(
    variables: dict[str, Array], paths: Paths, years: Sequence[int] | np.ndarray, attrs: dict[str, Any]
) -> xr.Dataset:
    """A migration forecast: each variable (draw, year, sex, age 0..119) or (draw, year); `draw` holds the
    path indices."""
    cells, totals = ("draw", "year", "sex", "age"), ("draw", "year")
    return xr.Dataset(
        {name: (cells if v.ndim == 4 else totals, np.asarray(v)) for name, v in variables.items()},
        coords={"draw": path_indices(paths), "year": years, "sex": list(SEXES), "age": KERNEL_AGES},
        attrs=attrs,
    )
