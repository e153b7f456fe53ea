"""Indicators of a population by sex and single year of age (`stock_indicators`, NumPy or JAX: the
projection computes them inside its scan, `stochpop.projection.simulate`), and the same indicators observed
in the data (the history fan charts and back-tests compare against)."""

from typing import Any

import numpy as np
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.container import CountryData
from stochpop.demography.lifetable import e0, fold_ages

AGE_GROUPS: dict[str, slice] = {
    "age_0_19": slice(0, 20),
    "age_20_64": slice(20, 65),
    "age_65_plus": slice(65, None),
    "age_80_plus": slice(80, None),
}
"""Broad age groups as positions on an age axis that starts at 0 (so position = age in years)."""


def median_age_values(by_age: Any, xp: Any = np) -> Any:
    """Median age in years (...,) of persons by single year of age (..., A), ages 0..A-1; NumPy or JAX (xp).

    Persons of age x are spread evenly over [x, x + 1); NaN for an empty population. A recursion over the
    ages (`lifetable.fold_ages`): the persons below each age and, where the half lies in it, the median.
    """
    half = 0.5 * by_age.sum(-1)
    persons_at = xp.moveaxis(by_age, -1, 0)

    def older(x: Any, carry: tuple[Any, Any]) -> tuple[Any, Any]:
        below, median = carry
        persons = persons_at[x]
        above = below + persons
        inside = (above >= half) & (below < half)
        median = xp.where(inside, x + (half - below) / xp.where(persons > 0, persons, 1.0), median)
        return above, median

    return fold_ages(older, (xp.zeros_like(half), xp.full_like(half, xp.nan)), by_age.shape[-1], xp)[1]


def stock_indicators(population: Any, xp: Any = np) -> dict[str, Any]:
    """Indicators (...) of populations (..., sex, age) by single years from age 0; NumPy or JAX (xp):
    total_population, the `AGE_GROUPS`, old_age_dependency = 65+ / 20-64 and youth_dependency = 0-19 /
    20-64 (persons per person), median_age (years)."""
    by_age = population.sum(-2)
    groups = {name: by_age[..., ages].sum(-1) for name, ages in AGE_GROUPS.items()}
    return {
        "total_population": by_age.sum(-1),
        **groups,
        "old_age_dependency": groups["age_65_plus"] / groups["age_20_64"],
        "youth_dependency": groups["age_0_19"] / groups["age_20_64"],
        "median_age": median_age_values(by_age, xp),
    }


def _check_ages_from_zero(population: xr.DataArray) -> None:
    if int(population["age"][0]) != 0:
        raise ValueError("population indicators need an age axis that starts at 0")


def _labelled_stocks(population: xr.DataArray) -> dict[str, xr.DataArray]:
    """`stock_indicators` of a population DataArray (..., sex, age), labelled by its other dims."""
    _check_ages_from_zero(population)
    population = population.transpose(..., "sex", "age")
    template = population.isel(sex=0, age=0, drop=True)
    return {name: template.copy(data=v) for name, v in stock_indicators(population.values).items()}


def median_age(population: xr.DataArray) -> xr.DataArray:
    """Median age in years of a population (..., [sex,] age) by single years from age 0
    (`median_age_values`)."""
    _check_ages_from_zero(population)
    by_age = population.sum("sex") if "sex" in population.dims else population
    by_age = by_age.transpose(..., "age")
    return by_age.isel(age=0, drop=True).copy(data=median_age_values(by_age.values))


E0_OPEN_AGE = 100
"""Registered e0 closes the life table at 100+: single ages above it often have no deaths in a small
population, which would make the open interval's rate 0 and e0 infinite."""


def _rates_with_open_age(data: CountryData, open_age: int) -> xr.DataArray:
    """Death rates (year, sex, age 0..open_age), the last age the open group's deaths / exposure."""
    deaths, exposure = xr.align(data.deaths, data.exposure, join="inner")
    group = xr.where(deaths["age"] >= open_age, open_age, deaths["age"])
    deaths, exposure = (v.groupby(group.rename("age")).sum() for v in (deaths, exposure))
    return xr.where(exposure > 0, deaths / exposure.where(exposure > 0), 0.0)


def observed_indicators(data: CountryData) -> xr.Dataset:
    """Registered values of a projection's indicators (`stock_indicators` by `year`; births, deaths and net
    migration by `event_year`), plus tfr (event_year, from the ASFR) and e0 (event_year, sex; HMD life table
    of the death rates with an open age group from `E0_OPEN_AGE`, `lifetable.e0`). Net migration is the
    cohort residual."""
    rates = _rates_with_open_age(data, E0_OPEN_AGE).transpose("year", "sex", "age")
    sexes = np.broadcast_to(np.asarray(SEXES), rates.shape[:-1])
    events = {
        "births": data.births.sum("sex"),
        "deaths": data.deaths.sum(("sex", "age")),
        "net_migration": data.net_migration.sum(("sex", "age")),
        "tfr": data.asfr.sum("age"),
        "e0": xr.DataArray(e0(rates.values, sexes), coords={"year": rates["year"], "sex": list(SEXES)}),
    }
    return xr.Dataset(
        {
            **_labelled_stocks(data.population),
            **{name: value.rename(year="event_year") for name, value in events.items()},
        }
    )
