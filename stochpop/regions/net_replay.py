"""Replay regional stocks through the kernel with estimated observed rates (`estimated_rates`): national
fertility and death probabilities times each region's level factors, and all migration as net migration
per person at risk.

Each year runs `kernel.project_year` on a stock (region, sex, age), in double precision: the fertility
factor multiplies the births per woman at risk, the mortality factor the death probability (the kernel's
m = -log(1 - d q)), and net migration enters as `Rates.net_migration` counts: the account's net per person
of the registered aged stock times the aged stock being projected (the registered count where nobody was
at risk). `chained=False` starts every year from the registered stock (one year ahead), `chained=True`
from the projected one (the replay's errors accumulate). Data ages 0..open are padded to the kernel's
0..119 (rates above the open age repeat its rate, the open age's net spread over them in proportion to
the aged stock) and summed back into the open age.
"""

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.conventions import N_AGES
from stochpop.demography.ageing import age_one_year
from stochpop.projection.kernel import KernelConfig, Rates, births, project_year
from stochpop.projection.rate_sets import pad_to_kernel_ages, to_data_ages
from stochpop.regions.replay import data_config

STATE_DIMS = ("region", "sex", "age")


def _year_rates(
    state: np.ndarray, rates: xr.Dataset, fertility: np.ndarray, mortality: np.ndarray, net: xr.Dataset
) -> tuple[Rates, KernelConfig]:
    """Kernel rates for one year: `state` (region, sex, 0..119), `rates` one year of `national_rates`,
    fertility (region, mother_age) and death probabilities (region, sex, age) with the factors applied,
    `net` (net and the registered aged stock, region, sex, age) as net per person at risk."""
    config = data_config(float(rates["share_boys"]), rates["mother_age"].values)
    newborns = np.asarray(births(jnp.asarray(state), jnp.asarray(fertility), config))
    aged = np.asarray(age_one_year(state, newborns, np))
    registered = net["aged"].values
    per_person = np.divide(net["net"].values, registered, out=np.zeros_like(registered), where=registered > 0)
    unexplained = np.where(registered > 0, 0.0, net["net"].values)
    counts = pad_to_kernel_ages(per_person) * aged + np.pad(
        unexplained, [(0, 0), (0, 0), (0, N_AGES - registered.shape[-1])]
    )
    survival = np.maximum(1.0 - np.minimum(mortality, 1.0), np.finfo(float).tiny)
    kernel_rates = Rates(
        fertility=jnp.asarray(fertility),
        mortality=jnp.asarray(pad_to_kernel_ages(-np.log(survival))),
        net_migration=jnp.asarray(counts),
    )
    return kernel_rates, config


def replay_net(
    population: xr.DataArray,
    rates: xr.Dataset,
    account: xr.Dataset,
    fertility_factor: xr.DataArray,
    mortality_factor: xr.DataArray,
    chained: bool,
) -> xr.DataArray:
    """Project through the event years of `rates` (`estimated_rates.national_rates`): `population` (year,
    region, sex, age) ending each year (`as_year_end`; the stock before the first year included),
    `account` (`regional_account`: its net and aged), factors (year, region). Returns the projected
    stocks at the end of each year (year, region, sex, age)."""
    years = rates["year"].values
    ages = population.sizes["age"]
    start = population.sel(year=years[0] - 1).transpose(*STATE_DIMS).values.astype(np.float64)
    state = np.pad(start, [(0, 0), (0, 0), (0, N_AGES - ages)])
    projected = []
    with jax.enable_x64(True):
        for year in years:
            if not chained:
                registered = population.sel(year=year - 1).transpose(*STATE_DIMS).values.astype(np.float64)
                state = np.pad(registered, [(0, 0), (0, 0), (0, N_AGES - ages)])
            at = rates.sel(year=year)
            fertility = (at["fertility"] * fertility_factor.sel(year=year)).transpose("region", "mother_age")
            mortality = (at["deaths"] * mortality_factor.sel(year=year)).transpose(*STATE_DIMS)
            net = account[["net", "aged"]].sel(year=year).transpose(*STATE_DIMS)
            kernel_rates, config = _year_rates(state, at, fertility.values, mortality.values, net)
            following, _ = project_year(jnp.asarray(state), kernel_rates, config)
            state = np.asarray(following)
            projected.append(to_data_ages(state, ages))
    coords = {"year": years, **{dim: population[dim].values for dim in STATE_DIMS}}
    return xr.DataArray(np.stack(projected), dims=("year", *STATE_DIMS), coords=coords, name="population")
