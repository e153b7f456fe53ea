"""The 1 January stock aged one year: the population by age at end of year that a year's events apply to.

Everyone alive on 1 January of year t is one year older at its end: the persons aged x on 1 January reach
x + 1, the newborns of the year reach 0 and the open age keeps its own survivors besides those who reach
it. Deaths and migration of year t by age at end of year (Lexis parallelograms, `conventions`) are taken
from (the kernel) or measured against (observed rates) this aged stock.
"""

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from stochpop.data.container import CountryData


def age_one_year(population: Any, newborns: Any, xp: Any = np) -> Any:
    """1 January stock (..., age) by single years from 0, the last age open -> by age at end of year
    (..., age), NumPy or JAX (xp): `newborns` (...) at age 0, everyone else one year older."""
    open_age = population[..., -2:-1] + population[..., -1:]
    return xp.concatenate([newborns[..., None], population[..., :-2], open_age], axis=-1)


def aged_population(data: "CountryData", years: np.ndarray) -> xr.DataArray:
    """The population at risk of `data` in event `years` by age at end of year (year, sex, age), persons:
    each year's 1 January stock aged one year (`age_one_year`), its births at age 0."""
    aged = xr.apply_ufunc(
        age_one_year,
        data.population.sel(year=years),
        data.births.sel(year=years),
        input_core_dims=[["age"], []],
        output_core_dims=[["age"]],
        keep_attrs=False,
    )
    aged.attrs = {"units": "persons", "age": "age at end of year"}
    return aged.transpose("year", "sex", "age")
