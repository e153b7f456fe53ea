"""A deterministic projection: observed (or given) rates through the same kernel as the stochastic one."""

import numpy as np
import xarray as xr

from stochpop.data.container import CountryData
from stochpop.projection.kernel import DEFAULT_CONFIG, KernelConfig
from stochpop.projection.labelled import project_rates
from stochpop.projection.rate_sets import observed_rates


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
    """Project `data` from its 1 January `jump_off` stock for `horizon` years.

    rates: a rate set (`stochpop.projection.rate_sets`) covering the event years jump_off .. jump_off + horizon - 1;
    default: rates held at the last observed level (`held_rates`). Returns `results.projection_dataset`.
    """
    if jump_off not in data.population["year"]:
        raise ValueError(f"{data.name}: no 1 January population for the jump-off year {jump_off}")
    if rates is None:
        rates = held_rates(data, jump_off, horizon)
    return project_rates(data.population.sel(year=jump_off), rates, jump_off, horizon, config)
