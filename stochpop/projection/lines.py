"""Deterministic lines: given rates through the same compiled projection as the sampled paths.

A line is a path whose rates are given (a rate set, `stochpop.projection.rate_sets`) instead of generated
from drivers: SSB's alternatives, the back-test's baseline, or rates held at their last observed level
(`held_rates`, `project_deterministic`). Lines run in double precision (`jax.enable_x64`; sampled paths
run in float32) and come out in the paths' results format (`results.results_dataset`) without e0 and tfr.
"""

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import xarray as xr

from stochpop.data.container import CountryData
from stochpop.projection.kernel import DEFAULT_CONFIG, KernelConfig, Rates
from stochpop.projection.rate_sets import observed_rates, to_kernel_ages, to_kernel_rates
from stochpop.projection.results import results_dataset
from stochpop.projection.simulate import checked, simulate

RATE_SET_DIMS = ("year", "sex", "age", "mother_age")
"""The dims of a rate set's cells; any other dim of a rate set holds lines."""


@dataclass(frozen=True)
class GivenRates:
    """The rate source of lines (`simulate.RateSource`): each year of the series is the kernel `Rates`
    themselves; nothing else is kept."""

    def rates(self, fixed: None, step: Rates, population: Any) -> Rates:
        return step

    def kept(self, fixed: None, step: Rates) -> dict[str, Any]:
        return {}


def check_rates(rates: xr.Dataset, years: np.ndarray) -> xr.Dataset:
    """The rate set for event `years`, or a ValueError naming what is missing or not finite."""
    missing = np.setdiff1d(years, rates["year"].values)
    if missing.size:
        raise ValueError(f"rates: no rates for event years {missing.tolist()}")
    rates = rates.sel(year=years)
    for name, variable in rates.data_vars.items():
        if not np.isfinite(variable.values).all():
            raise ValueError(f"rates: {name} has missing or infinite values")
    return rates


def project_lines(
    initial: xr.DataArray,
    rates: xr.Dataset,
    jump_off: int,
    horizon: int,
    config: KernelConfig = DEFAULT_CONFIG,
) -> xr.Dataset:
    """Project the 1 January `jump_off` stock `initial` (sex, age) with `rates` for `horizon` years, in
    double precision.

    Dims of `rates` other than `RATE_SET_DIMS` (e.g. `alternative`, `line`) are the lines: the batch dims of
    the results (`results.results_dataset`, with the rates' labels); every line starts from `initial`.
    """
    rates = check_rates(rates, np.arange(jump_off, jump_off + horizon))
    lines = {str(dim): rates[dim].values for dim in rates.sizes if dim not in RATE_SET_DIMS}
    stock = to_kernel_ages(initial).transpose("sex", "age").values.astype(np.float64)
    stocks = np.broadcast_to(stock, (*(rates.sizes[dim] for dim in lines), *stock.shape))
    with jax.enable_x64(True):
        series = jax.tree.map(lambda a: a.astype(np.float64), to_kernel_rates(rates, batch_dims=tuple(lines)))
        outputs, checks = simulate(GivenRates(), None, series, stocks, config)
        outputs = checked(outputs, checks, "lines")
    return results_dataset(outputs, jump_off, lines)


def held_rates(
    data: CountryData, jump_off: int, horizon: int, migration: str = "net", mean_of: int = 1
) -> xr.Dataset:
    """Rates held at their last observed level before `jump_off`, repeated over `horizon` event years.

    The level is the mean of the last `mean_of` observed years (years before `jump_off` that every
    component covers; the most recent may be earlier than jump_off - 1, e.g. when fertility ends first).
    """
    observed = data.years[data.years < jump_off]
    if observed.size < mean_of:
        raise ValueError(f"{data.name}: fewer than {mean_of} observed years before the jump-off {jump_off}")
    level = observed_rates(data, observed[-mean_of:], migration).mean("year")
    years = np.arange(jump_off, jump_off + horizon)
    return level.expand_dims(year=years)


def project_deterministic(
    data: CountryData,
    jump_off: int,
    horizon: int,
    rates: xr.Dataset | None = None,
    config: KernelConfig = DEFAULT_CONFIG,
) -> xr.Dataset:
    """Project `data` from its 1 January `jump_off` stock for `horizon` years (`project_lines`).

    rates: a rate set covering the event years jump_off .. jump_off + horizon - 1; default: rates held at the
    last observed level (`held_rates`).
    """
    if jump_off not in data.population["year"]:
        raise ValueError(f"{data.name}: no 1 January population for the jump-off year {jump_off}")
    if rates is None:
        rates = held_rates(data, jump_off, horizon)
    return project_lines(data.population.sel(year=jump_off), rates, jump_off, horizon, config)
