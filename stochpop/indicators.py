"""Derived indicators of a projection (`results.projection_dataset`), vectorised over any extra dims."""

import xarray as xr

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
