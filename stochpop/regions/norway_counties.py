"""Norway's 15 counties (2024 borders) assembled from the shared data for the level factors and the replay.

Years. County stocks run from 1 January 2005 to 2024, but the 2005 stocks lack two municipalities
(1160 Vindafjord in Rogaland and 1576 Aure in Møre og Romsdal: 11 710 persons, `read_regional_population`
attrs missing), so the event years are 2006-2023 (jump-off 1 January 2006). County births and deaths are
registered to 2022; 2023's factors are the model's forecasts.

Source anomalies handled (Eurostat demo_r_gind3, PROVENANCE-2 section 1): Oslo and Akershus count as one
unit where events look moved between them (births 2012 and 2014: 6 399 / 10 133 and 9 076 / 6 804 against
about 10 000 / 6 300 in the years around; deaths 2012: 3 952 / 4 362 against 4 350 / 3 727 in 2011); the
2015 county deaths are left out (Oslo 5 491 against about 4 000, every other county below its level, the
national sum right).
"""

from pathlib import Path
from typing import NamedTuple

import numpy as np
import xarray as xr

from stochpop.data.container import CountryData
from stochpop.data.regional import NUTS_UNITS, read_nuts_events, read_regional_population
from stochpop.regions.estimated_rates import as_year_end, expected_events, national_rates
from stochpop.regions.levels import Observations, observations

POPULATION_FILE = "DERIVED_csdata_pop_by_age_sex_b2024_nation_county_georegion_to2024.csv.gz"
EVENTS_FILE = "DERIVED_datacommons_eurostat_demo_r_gind3_norway_nuts.csv"
EVENT_YEARS = np.arange(2006, 2024)
OSLO_AKERSHUS = ("03", "32")
BIRTHS_MERGED = ((2012, OSLO_AKERSHUS), (2014, OSLO_AKERSHUS))
DEATHS_MERGED = ((2012, OSLO_AKERSHUS),)
DEATHS_SKIPPED = (2015,)


class CountyInputs(NamedTuple):
    """population (year, region, sex, age) ending each event year (`as_year_end`; 2005..2023 = 1 January
    2006..2024); rates (`national_rates`, EVENT_YEARS); expected (`expected_events`); births and deaths
    (`levels.Observations` of the registered totals)."""

    population: xr.DataArray
    rates: xr.Dataset
    expected: xr.Dataset
    births: Observations
    deaths: Observations


def county_inputs(
    country: CountryData, regional_folder: str | Path, years: np.ndarray = EVENT_YEARS
) -> CountyInputs:
    """The county inputs from Norway's national data (`load_country`) and the norway/regional folder, for
    the event `years` (consecutive, within `EVENT_YEARS`; e.g. those before a back-test's jump-off)."""
    years = np.asarray(years)
    if not set(years.tolist()) <= set(EVENT_YEARS.tolist()) or np.any(np.diff(years) != 1):
        raise ValueError(f"county event years must be consecutive within {EVENT_YEARS[0]}-{EVENT_YEARS[-1]}")
    folder = Path(regional_folder)
    population = read_regional_population(folder / POPULATION_FILE, "county")
    population = population.sel(year=slice(int(years[0]), int(years[-1]) + 1))
    events = read_nuts_events(folder / EVENTS_FILE)
    women = population.sel(sex="female", drop=True).sum("region")
    rates = national_rates(country, women, years, int(population.attrs["open_age"]))
    ending = as_year_end(population)
    expected = expected_events(ending, rates)
    totals = population.sum(["sex", "age"])
    return CountyInputs(
        population=ending,
        rates=rates,
        expected=expected,
        births=observations(
            events["births"], events["population"], totals, NUTS_UNITS, years, BIRTHS_MERGED
        ),
        deaths=observations(
            events["deaths"],
            events["population"],
            totals,
            NUTS_UNITS,
            years,
            DEATHS_MERGED,
            DEATHS_SKIPPED,
        ),
    )
