"""Internal migration estimated without registered flows, as Norway's must be: from regional populations,
national events allocated to regions (`accounts.allocate`) and the national number of internal moves by
year, sex and age (the margins of the origin-destination matrix summed over regions, assumed known).

Net. Each region's net internal migration by age at end of year is the cohort residual

    net_r(t, s, x) = P_r(t, s, x) - aged_r(t, s, x) + deaths_r + emigration_r - immigration_r,

then made to sum to zero over regions (the national sum, which holds the allocation's error and the moves
of people outside the regions, is shared among the regions by their aged stocks).

Gross. Each region sends out a share of the national moves M(t, s, x) in proportion to its aged stock
times a level l_r; each mover goes to another region in proportion to its aged stock (gravity without
attraction terms):

    out_r(t, s, x) = M(t, s, x) exp(l_r) aged_r / sum_j exp(l_j) aged_j
    in_r(t, s, x) = sum_{j != r} out_j(t, s, x) aged_r / sum_{i != j} aged_i

with l summing to zero over regions; in - out sums to zero over regions by construction. l is fitted by
least squares of the modelled net to the residual net over every year, region, sex and age. A region
attraction w_r on the destinations (R - 1 more parameters) is not identified by net flows: on Greenland it
fits the net equally well (cost within 0.5%) with one region's attraction at zero and its out-moves 85%
below the registered ones, so the model leaves it out.
"""

from typing import NamedTuple

import numpy as np
import xarray as xr
from scipy.optimize import least_squares

DIMS = ("year", "region", "sex", "age")


def net_internal_migration(regional_population: xr.DataArray, allocated: xr.Dataset) -> xr.DataArray:
    """The cohort residual net internal migration (year, region, sex, age), summing to zero over regions."""
    residual = (
        regional_population.sel(year=allocated["year"])
        - allocated["aged"]
        + allocated["deaths"]
        + allocated["emigration"]
        - allocated["immigration"]
    )
    weight = allocated["aged"] / allocated["aged"].sum("region").where(lambda total: total > 0)
    return residual - residual.sum("region") * weight.fillna(1.0 / allocated.sizes["region"])


class GrossFlows(NamedTuple):
    """Fitted gross internal moves: out_moves and in_moves (year, region, sex, age); level (region: exp
    l_r, out-moves per person at risk relative to the geometric mean of the regions); cost: half the sum of
    squared net residuals (persons squared)."""

    out_moves: xr.DataArray
    in_moves: xr.DataArray
    level: xr.DataArray
    cost: float


def gravity_moves(level: np.ndarray, aged: np.ndarray, national: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Out- and in-moves (year, region, sex, age) of the model: `level` (region) = exp l, `aged` (year,
    region, sex, age) the stocks at risk, `national` (year, sex, age) the national number of moves."""
    weight = level[None, :, None, None] * aged
    total = weight.sum(1, keepdims=True)
    out = national[:, None] * np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
    elsewhere = aged.sum(1, keepdims=True) - aged  # destinations of each origin: every other region
    per_destination = np.divide(out, elsewhere, out=np.zeros_like(out), where=elsewhere > 0)
    return out, aged * (per_destination.sum(1, keepdims=True) - per_destination)


def _levels(free: np.ndarray) -> np.ndarray:
    """exp l with l = (free, -sum free): the last region's log level makes them sum to zero."""
    return np.exp(np.append(free, -free.sum()))


def fit_gross_flows(net: xr.DataArray, aged: xr.DataArray, national_moves: xr.DataArray) -> GrossFlows:
    """Fit the regions' out-levels to the net internal migration `net` given the aged stocks `aged` (both
    (year, region, sex, age)) and the national number of internal moves `national_moves` (year, sex, age)."""
    net_values, aged_values = net.transpose(*DIMS).values, aged.transpose(*DIMS).values
    national = national_moves.sel(year=net["year"]).transpose("year", "sex", "age").values

    def residuals(free: np.ndarray) -> np.ndarray:
        out, in_moves = gravity_moves(_levels(free), aged_values, national)
        return (in_moves - out - net_values).ravel()

    fit = least_squares(residuals, np.zeros(net.sizes["region"] - 1))
    level = _levels(fit.x)
    out, in_moves = gravity_moves(level, aged_values, national)
    coords = {dim: net[dim].values for dim in DIMS}
    return GrossFlows(
        out_moves=xr.DataArray(out, dims=DIMS, coords=coords),
        in_moves=xr.DataArray(in_moves, dims=DIMS, coords=coords),
        level=xr.DataArray(level, dims="region", coords={"region": net["region"].values}),
        cost=float(fit.cost),
    )
