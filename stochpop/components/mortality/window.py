"""The observations a mortality component is fitted to: deaths and exposures of a window of years and ages."""

from typing import NamedTuple

import numpy as np
import xarray as xr

from stochpop.data.container import CountryData

FIT_MAX_AGE = 100
"""Ages 0..FIT_MAX_AGE are fitted; above it single-year counts are too sparse for age-specific terms."""
FITTED_AGES = np.arange(FIT_MAX_AGE + 1)
DEFAULT_FIRST_YEAR = 1990


class FitWindow(NamedTuple):
    """Deaths (Lexis squares) and exposures (person-years) of the fitted years and ages, arrays
    (year, sex, age); years (year,) and ages (age,)."""

    deaths: np.ndarray
    exposure: np.ndarray
    years: np.ndarray
    ages: np.ndarray


def fit_window(
    data: CountryData, first_year: int | None, last_year: int | None, max_age: int = FIT_MAX_AGE
) -> FitWindow:
    """Deaths and exposures of years first..last (default: the data's first, last) and ages 0..max_age;
    ValueError if the years are not inside the data or fewer than 6."""
    deaths, exposure = xr.align(data.deaths, data.exposure, join="inner")
    years = deaths["year"].values
    first = years[0] if first_year is None else first_year
    last = years[-1] if last_year is None else last_year
    if first < years[0] or last > years[-1] or last - first < 5:
        raise ValueError(
            f"{data.name}: fit years {first}-{last} not inside the data's {years[0]}-{years[-1]} "
            "(or fewer than 6 years)"
        )
    window = {"year": slice(first, last), "age": slice(0, max_age)}
    deaths = deaths.sel(window).transpose("year", "sex", "age")
    exposure = exposure.sel(window).transpose("year", "sex", "age")
    if deaths.sizes["age"] != max_age + 1:
        raise ValueError(f"{data.name}: deaths stop before age {max_age}")
    return FitWindow(
        np.asarray(deaths.values, float),
        np.asarray(exposure.values, float),
        np.asarray(deaths["year"].values),
        np.asarray(deaths["age"].values),
    )


def filled_log_rates(deaths: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """log(D / E) (..., age), deaths and exposures (..., age), with empty cells (no deaths or no exposure)
    interpolated linearly in log rate between the neighbouring ages (SSB text box 6.1 fills zeros the
    same way)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_m = np.log(deaths / exposure)
    flat = log_m.reshape(-1, log_m.shape[-1])
    ages = np.arange(flat.shape[-1])
    for row in flat:  # a few hundred rows of ~100 ages: preparation only
        ok = np.isfinite(row)
        row[~ok] = np.interp(ages[~ok], ages[ok], row[ok])
    return flat.reshape(log_m.shape)
