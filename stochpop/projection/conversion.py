"""Component values -> kernel rates, on arrays (inside the projection's scan) or as a labelled rate set.

Components forecast in the registers' conventions: mortality as central death rates by completed age
(Lexis squares), fertility as ASFR per woman-year by completed age. The kernel applies rates by age at
the end of the year to the 1 January stock aged one year, so both are converted (`kernel_rates`):

* mortality: squares -> parallelograms (`lexis.parallelogram_values` with the time-spent shares of
  `lexis.lower_triangle_share`), the cumulative hazard a cohort meets over the year;
* fertility: births per woman-year in the parallelogram of age x, 0.5 f(x - 1) + 0.5 f(x), times the
  woman-years a woman at risk lives in it (about 1; below 1 where women die or emigrate during the year,
  above where immigrants add exposure). That factor is measured on the last observed years
  (`woman_years_per_woman`: observed births per woman at risk over the parallelogram ASFR) and held. The
  conversion is linear, so it is one matrix (`fertility_matrix`).

Migration values are already by age at end of year (net persons, or immigrants and emigration
probabilities) and pass through.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.components.contract import FertilityValues, MigrationValues, MortalityValues
from stochpop.conventions import KERNEL_AGES, SEXES
from stochpop.data.container import CountryData
from stochpop.demography.lexis import lower_triangle_share, parallelogram_values, squares_to_parallelograms
from stochpop.projection.kernel import Rates
from stochpop.projection.rate_sets import FERTILITY_AGES, observed_fertility

Array = jax.Array


def asfr_parallelograms(asfr: xr.DataArray) -> xr.DataArray:
    """ASFR (..., age) by completed age -> births per woman-year by age at end of year, ages 15..49
    (dim `mother_age`)."""
    by_end_age = squares_to_parallelograms(asfr, open_age=False).reindex(age=FERTILITY_AGES, fill_value=0.0)
    return by_end_age.rename(age="mother_age")


def woman_years_per_woman(data: CountryData, n_years: int = 5) -> xr.DataArray:
    """Woman-years lived in each fertile parallelogram per woman at risk (mother_age 15..49): observed
    births per woman at risk (`rate_sets.observed_fertility`) over `asfr_parallelograms` of the observed ASFR,
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


def fertility_matrix(ages: np.ndarray, ratio: xr.DataArray) -> np.ndarray:
    """`kernel_fertility` as a matrix (age, mother_age 15..49): ASFR at completed `ages` times it gives births
    per woman at risk."""
    unit = xr.DataArray(np.eye(len(ages)), dims=("unit", "age"), coords={"age": np.asarray(ages)})
    return kernel_fertility(unit, ratio).transpose("unit", "mother_age").values


class RateConversion(NamedTuple):
    """What `kernel_rates` needs besides the values (float32 arrays; a `jit` argument).

    mortality_share: (age 0..119,) lower-triangle shares of the death rates by time spent;
    fertility: (age, mother_age 15..49) `fertility_matrix` for the fertility component's ages.
    """

    mortality_share: Array | np.ndarray  # NumPy when created, `Array` inside `jit`
    fertility: Array | np.ndarray

    @classmethod
    def create(cls, fertility_ages: np.ndarray, ratio: xr.DataArray) -> "RateConversion":
        """The conversion for ASFR at `fertility_ages` with woman-years per woman `ratio`."""
        share = lower_triangle_share(KERNEL_AGES)
        return cls(
            np.asarray(share, np.float32), np.asarray(fertility_matrix(fertility_ages, ratio), np.float32)
        )


class PathValues(NamedTuple):
    """One year of every component of a batch of paths (`Component.values`), leading dims (draw, ...)."""

    mortality: MortalityValues
    fertility: FertilityValues
    migration: MigrationValues


def kernel_rates(values: PathValues, conversion: RateConversion) -> Rates:
    """Kernel `Rates` from the components' `values` (any leading dims, e.g. (draw,) for one year or
    (draw, year))."""
    mortality = parallelogram_values(values.mortality.mortality, conversion.mortality_share, jnp)
    fertility = jnp.matmul(
        values.fertility.fertility, conversion.fertility, precision=jax.lax.Precision.HIGHEST
    )
    migration = values.migration
    return Rates(
        fertility=fertility,
        mortality=mortality,
        net_migration=migration.net_migration,
        immigration=migration.immigration,
        emigration=migration.emigration,
    )


def rate_set(rates: Rates, draws: np.ndarray, years: np.ndarray) -> xr.Dataset:
    """Kernel rates (draw, year, ...) as a labelled rate set (`stochpop.projection.rate_sets`)."""
    cells = ("draw", "year", "sex", "age")
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
        "fertility": (("draw", "year", "mother_age"), np.asarray(rates.fertility))
    }
    out |= {
        name: (cells, np.asarray(value))
        for name, value in rates._asdict().items()
        if value is not None and name != "fertility"
    }
    coords = {"draw": draws, "year": years, "sex": list(SEXES), "age": KERNEL_AGES}
    return xr.Dataset(out, coords={**coords, "mother_age": FERTILITY_AGES})
