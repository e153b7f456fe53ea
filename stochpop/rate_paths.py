"""Component forecasts -> kernel rate paths: a rate set (`stochpop.rates`) with a `draw` dim.

Components forecast in the registers' conventions: mortality as central death rates by completed age
(Lexis squares), fertility as ASFR per woman-year by completed age. The kernel applies rates by age at
the end of the year to the 1 January stock aged one year, so both are converted here:

* mortality: squares -> parallelograms (`rates.mortality_end_of_year`), the cumulative hazard a cohort
  meets over the year;
* fertility: births per woman-year in the parallelogram of age x, 0.5 f(x - 1) + 0.5 f(x), times the
  woman-years a woman at risk lives in it (about 1; below 1 where women die or emigrate during the year,
  above where immigrants add exposure). That factor is measured on the last observed years
  (`woman_years_per_woman`: observed births per woman at risk over the parallelogram ASFR) and held.

Migration forecasts are already by age at end of year (net persons, or immigrants and emigration
probabilities) and pass through.
"""

from collections.abc import Mapping

import numpy as np
import xarray as xr

from stochpop.data.container import CountryData
from stochpop.lexis import squares_to_parallelograms
from stochpop.rates import FERTILITY_AGES, MIGRATION_VARIABLES, mortality_end_of_year, observed_fertility


def asfr_parallelograms(asfr: xr.DataArray) -> xr.DataArray:
    """ASFR (..., age) by completed age -> births per woman-year by age at end of year, ages 15..49
    (dim `mother_age`)."""
    by_end_age = squares_to_parallelograms(asfr, open_age=False).reindex(age=FERTILITY_AGES, fill_value=0.0)
    return by_end_age.rename(age="mother_age")


def woman_years_per_woman(data: CountryData, n_years: int = 5) -> xr.DataArray:
    """Woman-years lived in each fertile parallelogram per woman at risk (mother_age 15..49): observed
    births per woman at risk (`rates.observed_fertility`) over `asfr_parallelograms` of the observed ASFR,
    averaged over the last `n_years` years with both (ratios of empty cells count as 1)."""
    years = np.intersect1d(data.years, data.asfr["year"].values)[-n_years:]
    per_woman = observed_fertility(data, years)
    per_woman_year = asfr_parallelograms(data.asfr.sel(year=years))
    ratio = (per_woman / per_woman_year.where(per_woman_year > 0)).fillna(1.0)
    ratio = ratio.mean("year")
    ratio.attrs = {"units": "woman-years per woman at risk", "years": f"{years[0]}-{years[-1]}"}
    return ratio


def kernel_fertility(asfr: xr.DataArray, ratio: xr.DataArray) -> xr.DataArray:
    """Births per woman at risk (..., mother_age 15..49) from ASFR (..., age) by completed age."""
    rates = (asfr_parallelograms(asfr) * ratio).astype(asfr.dtype)
    rates.attrs = {"units": "births per woman at risk", "age": "age at end of year"}
    return rates


def rate_paths(forecasts: Mapping[str, xr.Dataset], ratio: xr.DataArray, years: np.ndarray) -> xr.Dataset:
    """The kernel rate set (draw, year, ...) for event `years` from the forecasts of the three components
    (keys mortality, fertility, migration; each with the same `draw` paths)."""
    mortality = forecasts["mortality"]["mortality"].sel(year=years)
    out = {
        "mortality": mortality_end_of_year(mortality).astype(mortality.dtype),
        "fertility": kernel_fertility(forecasts["fertility"]["fertility"].sel(year=years), ratio),
    }
    migration = forecasts["migration"]
    out.update({name: migration[name].sel(year=years) for name in MIGRATION_VARIABLES if name in migration})
    return xr.Dataset(out)
