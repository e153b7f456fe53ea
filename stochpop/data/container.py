"""`CountryData`: the observed demography of one country, the same for real and demo data.

All arrays are labelled xarray objects with dims among (year, sex, age); sex labels are
`conventions.SEXES`; ages are integers and the last population/deaths age is an open interval.

Derived quantities and their methods:

* exposures (person-years) where none are given: the mean of the 1 January populations of years t and
  t+1 at the same age in completed years, E(t, x) = (P(t, x) + P(t+1, x)) / 2 (the usual approximation
  when only 1 January stocks exist; it assumes events spread evenly over the year).
* net migration by the cohort residual method, by *age at end of year* (the kernel's convention): for
  the cohort that is x-1 on 1 January of year t (newborns for x = 0),
      N(t, x) = P(t+1, x) - P(t, x-1) + D(t, x)        (x >= 1; the open age adds P(t, open))
      N(t, 0) = P(t+1, 0) - B(t) + D(t, 0)
  where D(t, x) are deaths by age at end of year (Lexis parallelograms, split by the triangles' cohort
  sizes: `deaths_end_of_year_age`).
  The residual also absorbs registration and estimation errors in stocks and deaths.
"""

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.errors import DataError
from stochpop.demography.ageing import aged_population
from stochpop.demography.lexis import exposure_lower_share, squares_to_parallelograms


def _check(array: xr.DataArray | None, name: str, source: str, dims: tuple[str, ...]) -> None:
    """Validate dims, labels, ordering and values of one container field."""
    if array is None:
        return
    if tuple(array.dims) != dims:
        raise DataError(source, name, f"dims are {tuple(array.dims)}, expected {dims}")
    if "sex" in dims and tuple(array["sex"].values) != SEXES:
        raise DataError(source, name, f"sex labels are {tuple(array['sex'].values)}, expected {SEXES}")
    for axis in ("year", "age"):
        if axis in dims:
            values = np.asarray(array[axis].values)
            if values.size == 0:
                raise DataError(source, name, f"no {axis}s")
            if not np.array_equal(values, np.arange(values[0], values[0] + values.size)):
                problem = f"{axis}s are not consecutive and increasing: {values.tolist()}"
                raise DataError(source, name, problem)
    values = array.values
    for bad, problem in ((np.isnan(values), "missing values (NaN)"), (values < 0, "negative values")):
        if bad.any():
            where = zip(array.dims, np.nonzero(bad), strict=True)
            first = {d: array[d].values[i[0]].item() for d, i in where}
            raise DataError(source, name, f"{problem}, first at {first}")


@dataclass(frozen=True)
class CountryData:
    """Observed demography of a country.

    population: (year, sex, age) persons on 1 January, last age open.
    deaths: (year, sex, age) deaths by age in completed years (Lexis squares), same ages.
    births: (year, sex) live births.
    asfr: (year, age) births per woman-year by mother's age in completed years.
    exposures: (year, sex, age) person-years, or None to derive them from `population`.
    immigration, emigration: (year, sex, age) gross flows by age at end of year, where the source has them.
    """

    name: str
    population: xr.DataArray
    deaths: xr.DataArray
    births: xr.DataArray
    asfr: xr.DataArray
    exposures: xr.DataArray | None = None
    immigration: xr.DataArray | None = None
    emigration: xr.DataArray | None = None
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        src = self.source or self.name
        three = ("year", "sex", "age")
        for name in ("population", "deaths", "exposures", "immigration", "emigration"):
            _check(getattr(self, name), name, src, three)
        _check(self.births, "births", src, ("year", "sex"))
        _check(self.asfr, "asfr", src, ("year", "age"))
        if not np.array_equal(self.deaths["age"], self.population["age"]):
            raise DataError(src, "deaths", "ages differ from the population's")
        missing = np.setdiff1d(self.deaths["year"], self.population["year"])
        if missing.size:
            raise DataError(src, "population", f"no 1 January population for years {missing.tolist()}")

    def known_at(self, jump_off: int) -> "CountryData":
        """What was registered on 1 January `jump_off`: stocks up to that date, events of the years before.

        The data a projection (or back-test) from `jump_off` may see; nothing later can leak in.
        """

        def until(array: xr.DataArray, last_year: int) -> xr.DataArray:
            kept = array.sel(year=array["year"] <= last_year)
            if kept.sizes["year"] == 0:
                raise DataError(self.source or self.name, "year", f"no data before the jump-off {jump_off}")
            return kept

        events: dict[str, Any] = {
            name: None if (array := getattr(self, name)) is None else until(array, jump_off - 1)
            for name in ("deaths", "births", "asfr", "exposures", "immigration", "emigration")
        }
        return replace(self, population=until(self.population, jump_off), **events)

    @cached_property
    def years(self) -> np.ndarray:
        """Event years with population at both ends, deaths, births and fertility."""
        pop_years = self.population["year"].values
        common = np.intersect1d(self.deaths["year"], pop_years[np.isin(pop_years + 1, pop_years)])
        common = np.intersect1d(common, self.births["year"])
        return np.intersect1d(common, self.asfr["year"])

    @cached_property
    def exposure(self) -> xr.DataArray:
        """Person-years (year, sex, age): given, or the mean of adjacent 1 January populations."""
        if self.exposures is not None:
            return self.exposures
        pop = self.population
        following = pop.shift(year=-1)
        mean = (0.5 * (pop + following)).dropna("year")
        mean.attrs = {"units": "person-years", "method": "mean of 1 January populations of t and t+1"}
        return mean

    @cached_property
    def mortality_rates(self) -> xr.DataArray:
        """Central death rates m = D / E (year, sex, age) by age in completed years; 0 where E = 0."""
        deaths, exposure = xr.align(self.deaths, self.exposure, join="inner")
        rates = xr.where(exposure > 0, deaths / exposure.where(exposure > 0), 0.0)
        rates.attrs = {"units": "deaths per person-year", "age": "completed years (Lexis squares)"}
        return rates

    @cached_property
    def deaths_end_of_year_age(self) -> xr.DataArray:
        """Deaths by age at end of year (Lexis parallelograms), (year, sex, age), years `years`.

        Each square's deaths split between its triangles in proportion to the two cohorts' sizes
        (`lexis.exposure_lower_share`), so small cohorts next to large ones get their share of deaths.
        """
        share = exposure_lower_share(self.population).sel(year=self.years)
        return squares_to_parallelograms(self.deaths.sel(year=self.years), open_age=True, lower_share=share)

    @cached_property
    def net_migration(self) -> xr.DataArray:
        """Net migration by the cohort residual method (year, sex, age at end of year), persons."""
        years = self.years
        end = self.population.sel(year=years + 1).assign_coords(year=years)
        residual = end - aged_population(self, years) + self.deaths_end_of_year_age.sel(year=years)
        residual.attrs = {"units": "persons", "age": "age at end of year", "method": "cohort residual"}
        return residual.transpose("year", "sex", "age")
