"""Derived indicators of a projection (`results.projection_dataset`), vectorised over any extra dims, and
the same indicators observed in the data (the history fan charts and back-tests compare against)."""

import numpy as np
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.container import CountryData
from stochpop.lifetable import e0

AGE_GROUPS: dict[str, slice] = {
    "age_0_19": slice(0, 19),
    "age_20_64": slice(20, 64),
    "age_65_plus": slice(65, None),
    "age_80_plus": slice(80, None),
}


def median_age(population: xr.DataArray) -> xr.DataArray:
    """Median age in years of a population (..., age) by single years, interpolating within the year of age.

    Persons of completed age x are spread evenly over [x, x + 1).
    """
    by_age = population.sum("sex") if "sex" in population.dims else population
    cumulative = by_age.cumsum("age")
    half = 0.5 * by_age.sum("age")
    below = cumulative - by_age
    inside = (cumulative >= half) & (below < half)
    fraction = ((half - below) / by_age.where(by_age > 0)).where(inside)
    return (by_age["age"] + fraction).max("age")


def indicators(result: xr.Dataset) -> xr.Dataset:
    """Totals, broad age groups, dependency ratios and median age by `year`; events by `event_year`.

    old_age_dependency = 65+ / 20-64 and youth_dependency = 0-19 / 20-64 (persons per person).
    """
    population = result["population"]
    groups = {name: population.sel(age=ages).sum(("sex", "age")) for name, ages in AGE_GROUPS.items()}
    events = {
        name: result[name].sum([d for d in ("sex", "age") if d in result[name].dims])
        for name in ("births", "deaths", "emigrations", "immigrations")
    }
    return xr.Dataset(
        {
            "population": population.sum(("sex", "age")),
            **groups,
            "old_age_dependency": groups["age_65_plus"] / groups["age_20_64"],
            "youth_dependency": groups["age_0_19"] / groups["age_20_64"],
            "median_age": median_age(population),
            **events,
            "net_migration": events["immigrations"] - events["emigrations"],
        }
    )


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
    """Registered values of `indicators` (by `year` for stocks, `event_year` for events; total population
    as `total_population`), plus tfr (event_year, from the ASFR) and e0 (event_year, sex; HMD life table of
    the death rates with an open age group from `E0_OPEN_AGE`, `lifetable.e0`). Net migration is the
    cohort residual."""
    population = data.population
    groups = {name: population.sel(age=ages).sum(("sex", "age")) for name, ages in AGE_GROUPS.items()}
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
            "total_population": population.sum(("sex", "age")),
            **groups,
            "old_age_dependency": groups["age_65_plus"] / groups["age_20_64"],
            "youth_dependency": groups["age_0_19"] / groups["age_20_64"],
            "median_age": median_age(population),
            **{name: value.rename(year="event_year") for name, value in events.items()},
        }
    )
