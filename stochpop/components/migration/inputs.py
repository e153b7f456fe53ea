"""What both migration fits take from the data besides the flows: the fit years, the population that scales
the level priors, and what they store with the posterior to be forecast and rebuilt."""

from typing import Any

import numpy as np
import xarray as xr

from stochpop.components.contract import component_attrs
from stochpop.data.container import CountryData


def fit_years(available: np.ndarray, first_year: int | None, last_year: int | None, what: str) -> np.ndarray:
    """The years of `available` in [first_year, last_year] (default: all); consecutive, at least 5."""
    lo = int(available.min() if first_year is None else first_year)
    hi = int(available.max() if last_year is None else last_year)
    missing = sorted(set(range(lo, hi + 1)) - set(np.asarray(available).tolist()))
    if missing:
        raise ValueError(f"{what}: no data for years {missing} (fit period {lo}-{hi})")
    if hi - lo + 1 < 5:
        raise ValueError(f"{what}: the fit period {lo}-{hi} has fewer than 5 years")
    return np.arange(lo, hi + 1)


def reference_stock(data: CountryData, last_year: int) -> xr.DataArray:
    """Population (sex, age) persons on 1 January after the fit period (or of its last year)."""
    year = last_year + 1 if last_year + 1 in data.population["year"].values else last_year
    return data.population.sel(year=year, drop=True).transpose("sex", "age")


def reference_population(data: CountryData, last_year: int) -> float:
    """Total population on 1 January after the fit period (or of its last year), persons."""
    return float(reference_stock(data, last_year).sum())


def level_unit(population: float) -> float:
    """The unit of the level priors, thousands of persons per 1 per mille of `population` (persons)."""
    return population / 1e6


def fit_constants(years: np.ndarray, population: float) -> dict[str, xr.DataArray]:
    """constant_data shared by both fits: `last_year`, `population` (persons) and its `level_unit`."""
    return {
        "last_year": xr.DataArray(int(years[-1])),
        "population": xr.DataArray(population, attrs={"units": "persons"}),
        "unit": xr.DataArray(
            level_unit(population), attrs={"units": "thousands of persons per 1 per 1000 residents"}
        ),
    }


def fit_attributes(component: Any, flows: str, country: str) -> dict[str, str]:
    """Posterior attributes of a fit by `component` (a migration dataclass) of `flows` ("net", "gross"):
    its class and options (`stochpop.components.registry.component_from_posterior` rebuilds it)."""
    return {**component_attrs(component), "component": f"{component.name} ({flows})", "country": country}
