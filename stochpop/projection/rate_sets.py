"""Rates in the kernel's convention, as labelled xarray objects, and their hand-over to the kernel.

A *rate set* is an `xr.Dataset` with variables, by age at end of year (`conventions`):

* mortality (year, sex, age 0..119): central death rates m, the cumulative hazard over the year;
* fertility (year, mother_age 15..49): births per woman reaching that age in the year (per woman in
  the 1 January stock aged one year, SSB's birth probability - not per woman-year like ASFR);
* either net_migration (year, sex, age) in persons, or immigration (persons) and emigration
  (probabilities of the aged population), (year, sex, age).

Any extra dims (e.g. `draw`) broadcast through. `observed_rates` derives a rate set from `CountryData`.
"""

import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.conventions import FERTILE_AGES, KERNEL_AGES
from stochpop.data.container import CountryData
from stochpop.demography.ageing import aged_population
from stochpop.demography.lexis import exposure_lower_share, squares_to_parallelograms
from stochpop.projection.kernel import Rates

MIGRATION_VARIABLES = ("net_migration", "immigration", "emigration")
"""The migration variables a rate set may hold (net, or gross as immigration and emigration)."""
FERTILITY_AGES = np.arange(*FERTILE_AGES)


def to_kernel_ages(array: xr.DataArray, fill: float | str = 0.0) -> xr.DataArray:
    """Reindex the `age` dim to 0..119; ages beyond the data get `fill` ("last" repeats the oldest)."""
    if fill == "last":
        return array.reindex(age=KERNEL_AGES, method="ffill")
    return array.reindex(age=KERNEL_AGES, fill_value=fill)


def pad_to_kernel_ages(values: np.ndarray) -> np.ndarray:
    """Data ages (last axis, last open) -> kernel ages 0..119, the open age's value repeated above it (the
    NumPy form of `to_kernel_ages(..., fill="last")`)."""
    return np.concatenate([values, np.repeat(values[..., -1:], KERNEL_AGES.size - values.shape[-1], -1)], -1)


def to_data_ages(values: np.ndarray, n_ages: int) -> np.ndarray:
    """Kernel ages 0..119 (last axis) -> data ages 0..n_ages - 1, everything from the open age n_ages - 1
    summed into it."""
    open_age = n_ages - 1
    return np.concatenate([values[..., :open_age], values[..., open_age:].sum(-1, keepdims=True)], axis=-1)


def mortality_end_of_year(rates: xr.DataArray) -> xr.DataArray:
    """Central death rates by completed age (squares) -> by age at end of year, ages 0..119.

    Above the oldest observed age the rate of the oldest age is kept (the kernel fixes q from age 108).
    """
    converted = to_kernel_ages(squares_to_parallelograms(rates, open_age=False), fill="last")
    converted.attrs = {"units": "deaths per person-year", "age": "age at end of year"}
    return converted


def observed_fertility(data: CountryData, years: np.ndarray) -> xr.DataArray:
    """Births per woman at risk (year, mother_age 15..49), by mother's age at end of year.

    ASFR times female exposure gives births by completed age; split into triangles by cohort size
    (`lexis.exposure_lower_share`) they become births by age at end of year, divided by the women who
    reach that age in the year (the 1 January stock aged one year) - the rate the kernel applies.
    Births to mothers outside 15..49 at the end of the year are left out (as in the kernel).
    """
    exposure = data.exposure.sel(year=years, sex="female")
    asfr = data.asfr.sel(year=years)
    by_completed_age = asfr * exposure.sel(age=asfr["age"])
    share = exposure_lower_share(data.population.sel(sex="female")).sel(year=years)
    births = squares_to_parallelograms(by_completed_age, open_age=False, lower_share=share)
    women = aged_population(data, years).sel(sex="female", age=FERTILITY_AGES)
    rates = (births.sel(age=FERTILITY_AGES) / women.where(women > 0)).fillna(0.0)
    rates.attrs = {"units": "births per woman at risk", "age": "age at end of year"}
    return rates.rename(age="mother_age").drop_vars("sex")


def observed_rates(data: CountryData, years: np.ndarray | None = None, migration: str = "net") -> xr.Dataset:
    """The observed rate set of `data` for event `years` (default: every year all components cover).

    mortality = deaths / exposures converted to age at end of year; fertility per woman at risk
    (`observed_fertility`);
    migration "net" is the cohort residual (`CountryData.net_migration`), "gross" uses the recorded
    immigration counts and emigration / aged population as probabilities.
    """
    years = data.years if years is None else np.asarray(years)
    missing = np.setdiff1d(years, data.years)
    if missing.size:
        raise ValueError(f"{data.name}: no complete observations for years {missing.tolist()}")
    out = xr.Dataset(
        {
            "mortality": mortality_end_of_year(data.mortality_rates.sel(year=years)),
            "fertility": observed_fertility(data, years),
        }
    )
    if migration == "net":
        out["net_migration"] = to_kernel_ages(data.net_migration.sel(year=years))
    elif migration == "gross":
        if data.immigration is None or data.emigration is None:
            raise ValueError(f"{data.name}: gross migration asked for but the data have no gross flows")
        at_risk = aged_population(data, years)
        emigration = (data.emigration.sel(year=years) / at_risk.where(at_risk > 0)).fillna(0.0)
        out["immigration"] = to_kernel_ages(data.immigration.sel(year=years))
        out["emigration"] = to_kernel_ages(emigration.clip(0.0, 1.0))
    else:
        raise ValueError(f"migration must be 'net' or 'gross', not {migration!r}")
    return out


def to_kernel_rates(rate_set: xr.Dataset, batch_dims: tuple[str, ...] = ()) -> Rates:
    """A rate set -> kernel `Rates` with axes (year, *batch_dims, sex, age) (fertility: mother_age)."""

    def required(name: str, trailing: tuple[str, ...]) -> jnp.ndarray:
        da = rate_set[name]  # KeyError if the rate set lacks it
        # Rates without a batch dim broadcast against the state (size-1 axes).
        da = da.expand_dims([d for d in batch_dims if d not in da.dims])
        return jnp.asarray(da.transpose("year", *batch_dims, *trailing).values)

    def arr(name: str, trailing: tuple[str, ...]) -> jnp.ndarray | None:
        return required(name, trailing) if name in rate_set else None

    sex_age = ("sex", "age")
    return Rates(
        fertility=required("fertility", ("mother_age",)),
        mortality=required("mortality", sex_age),
        net_migration=arr("net_migration", sex_age),
        immigration=arr("immigration", sex_age),
        emigration=arr("emigration", sex_age),
    )
