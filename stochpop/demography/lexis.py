"""Lexis conversions from age in completed years (Lexis squares) to age at the end of the year.

Registers publish deaths, exposures and fertility by age in completed years at the event (Lexis
squares). The kernel uses age at the end of the year (Lexis parallelograms, see `conventions`). A
parallelogram for age x in year t is the lower triangle of age x plus the upper triangle of age x-1.
With lower-triangle share lambda(x):

    parallelogram(x) = lambda(x) * square(x) + (1 - lambda(x-1)) * square(x-1)

For *rates* lambda is the share of the year a cohort spends in each triangle: 0.5, except age 0 where
`INFANT_DEATHS_LOWER_SHARE` carries the concentration of infant deaths in the first weeks of life; the
result is the cumulative hazard a cohort meets over the year. For *counts* lambda can instead follow the
triangles' exposures (`exposure_lower_share`), which matters where neighbouring cohorts differ in size.
Parallelogram sums over ages equal square sums where the oldest square is an open age group.
"""

from typing import Any

import numpy as np
import xarray as xr

from stochpop.conventions import INFANT_DEATHS_LOWER_SHARE


def lower_triangle_share(ages: np.ndarray) -> np.ndarray:
    """Share of each age's square in its lower triangle by time spent, shape (n_ages,)."""
    ages = np.asarray(ages)
    return np.where(ages == 0, INFANT_DEATHS_LOWER_SHARE, 0.5)


def exposure_lower_share(population: xr.DataArray) -> xr.DataArray:
    """Lower-triangle share of each square's events from 1 January stocks (year, ..., age).

    The lower triangle of age x in year t holds the cohort that is x on 31 December (P(t+1, x)); the
    upper triangle the cohort that was x on 1 January (P(t, x)). Events split in proportion to the two:
    lambda = P(t+1, x) / (P(t, x) + P(t+1, x)); age 0 keeps `INFANT_DEATHS_LOWER_SHARE`; 0.5 where both
    stocks are empty. Years run to the last year with a following stock.
    """
    start = population.isel(year=slice(None, -1))
    end = population.isel(year=slice(1, None)).assign_coords(year=start["year"])
    total = start + end
    share = xr.where(total > 0, end / total.where(total > 0), 0.5)
    return xr.where(share["age"] == 0, INFANT_DEATHS_LOWER_SHARE, share)


def squares_to_parallelograms(
    squares: xr.DataArray, open_age: bool = True, lower_share: xr.DataArray | None = None
) -> xr.DataArray:
    """Counts or rates by age in completed years -> by age at end of year (same `age` coordinate).

    `squares` has an integer `age` dimension of consecutive ages. For counts whose last age is an open
    interval pass `open_age=True`: the cohorts entering it from the age below and those already in it
    both end the year there, so its parallelogram takes its whole square plus the upper triangle of the
    age below. For rates pass `open_age=False` (the last age then averages its own and the previous rate).
    `lower_share` (broadcasting against `squares`) replaces the time-based shares.
    """
    ages = squares["age"].values
    if not np.array_equal(ages, np.arange(ages[0], ages[0] + ages.size)):
        raise ValueError("squares_to_parallelograms: ages must be consecutive integers")
    lam = xr.DataArray(lower_triangle_share(ages), dims="age", coords={"age": ages})
    if lower_share is not None:
        lam = lower_share.sel({d: squares[d].values for d in lower_share.dims if d in squares.dims})
    if open_age:
        lam = lam.where(lam["age"] != ages[-1], 1.0)
    share = lam.expand_dims([d for d in squares.dims if d not in lam.dims]).transpose(*squares.dims).values
    axis = squares.get_axis_num("age")
    out = parallelogram_values(
        np.moveaxis(squares.values, axis, -1), np.moveaxis(share, axis, -1), repeat_youngest=ages[0] > 0
    )
    return squares.copy(data=np.moveaxis(out, -1, axis).astype(squares.dtype, copy=False))


def parallelogram_values(squares: Any, lower_share: Any, xp: Any = np, repeat_youngest: bool = False) -> Any:
    """The Lexis formula on arrays with the age axis last, NumPy or JAX (xp): lower_share(x) square(x) +
    (1 - lower_share(x - 1)) square(x - 1), `lower_share` broadcasting against `squares`. The square before
    the youngest is empty, or with `repeat_youngest` equal to the youngest (half of it in its upper
    triangle)."""
    lower = lower_share * squares
    upper = (1 - lower_share) * squares
    before_youngest = 0.5 * squares[..., :1] if repeat_youngest else xp.zeros_like(squares[..., :1])
    before_youngest = xp.broadcast_to(before_youngest, upper[..., :1].shape)
    return lower + xp.concatenate([before_youngest, upper[..., :-1]], axis=-1)
