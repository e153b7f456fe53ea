"""Norway's 15 counties (2024 borders) assembled from the shared data for the level factors and the replay,
and the same inputs for any regions of a division (`regional_inputs`; `division_inputs` assembles them).

Years. County stocks run from 1 January 2005 to 2024, but the 2005 stocks lack two municipalities
(1160 Vindafjord in Rogaland and 1576 Aure in Møre og Romsdal: 11 710 persons, `read_regional_population`
attrs missing), so the event years are 2006-2023 (jump-off 1 January 2006). County births and deaths are
registered to 2022; 2023's factors are the model's forecasts.

Source anomalies handled (Eurostat demo_r_gind3, PROVENANCE-2 section 1): Oslo and Akershus count as one
unit where events look moved between them (births 2012 and 2014: 6 399 / 10 133 and 9 076 / 6 804 against
about 10 000 / 6 300 in the years around; deaths 2012: 3 952 / 4 362 against 4 350 / 3 727 in 2011); the
2015 county deaths are left out (Oslo 5 491 against about 4 000, every other county below its level, the
national sum right).

Regions other than counties (`regional_inputs`). Registered births and deaths exist for the Eurostat units
of `NUTS_UNITS` only, each a union of 2024 counties. A unit covers the regions whose county (`county_of`:
a region's majority county) it covers; units whose counties are `joined` (where that attribution fails,
`division_inputs.joined_counties`) count as one. The border ratio r_u of `levels` is then the unit's
population over its regions': it absorbs both the units' own border changes and the regions' parts
outside the unit, assumed to have their region's age structure and rates. Where Eurostat publishes no
population for a unit (the 2020 units on 1 January 2020) it is the population of its 2024 counties (for
the counties themselves r_u = 1).
"""

from collections.abc import Mapping
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

Units = tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[int, int]], ...]


class CountyInputs(NamedTuple):
    """population (year, region, sex, age) ending each event year (`as_year_end`; 2005..2023 = 1 January
    2006..2024); rates (`national_rates`, EVENT_YEARS); expected (`expected_events`); births and deaths
    (`levels.Observations` of the registered totals). The regions are the counties (`county_inputs`) or
    a division's (`regional_inputs`)."""

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
    folder = Path(regional_folder)
    population = read_regional_population(folder / POPULATION_FILE, "county")
    own = {str(county): str(county) for county in population["region"].values}
    return regional_inputs(country, folder, population, own, (), years)


def regional_inputs(
    country: CountryData,
    regional_folder: str | Path,
    population: xr.DataArray,
    county_of: Mapping[str, str],
    joined: tuple[tuple[str, ...], ...] = (),
    years: np.ndarray = EVENT_YEARS,
) -> CountyInputs:
    """The inputs of any regions for the event `years` (as `county_inputs`): `population` (year, region,
    sex, age) persons on 1 January of years[0] .. years[-1] + 1 (attrs open_age); `county_of` region ->
    the 2024 county whose registered units count its events; `joined` sets of counties whose units always
    count as one (`nuts_units`). The national rates are on the regions' basis (their sum)."""
    years = np.asarray(years)
    if not set(years.tolist()) <= set(EVENT_YEARS.tolist()) or np.any(np.diff(years) != 1):
        raise ValueError(f"event years must be consecutive within {EVENT_YEARS[0]}-{EVENT_YEARS[-1]}")
    folder = Path(regional_folder)
    population = population.sel(year=slice(int(years[0]), int(years[-1]) + 1))
    events = read_nuts_events(folder / EVENTS_FILE)
    counties = read_regional_population(folder / POPULATION_FILE, "county").sum(["sex", "age"])
    unit_population = _published_or_counties(events["population"], counties)
    women = population.sel(sex="female", drop=True).sum("region")
    rates = national_rates(country, women, years, int(population.attrs["open_age"]))
    ending = as_year_end(population)
    totals = population.sum(["sex", "age"])

    def registered(
        kind: str, merged: tuple[tuple[int, tuple[str, ...]], ...], skip: tuple[int, ...]
    ) -> Observations:
        units = nuts_units(county_of, years, joined, merged)
        return observations(events[kind], unit_population, totals, units, years, skip=skip)

    return CountyInputs(
        population=ending,
        rates=rates,
        expected=expected_events(ending, rates),
        births=registered("births", BIRTHS_MERGED, ()),
        deaths=registered("deaths", DEATHS_MERGED, DEATHS_SKIPPED),
    )


def nuts_units(
    county_of: Mapping[str, str],
    years: np.ndarray,
    joined: tuple[tuple[str, ...], ...] = (),
    merged: tuple[tuple[int, tuple[str, ...]], ...] = (),
) -> Units:
    """`NUTS_UNITS` in each of `years` on regions (`levels.observations`' units, one year each): a unit
    covers the regions whose county (`county_of`, region -> 2024 county) it covers. In a year units count
    as one (codes summed, in the place of the first) where they meet one set of counties of `joined`
    (always) or of `merged` ((year, counties): that year only). ValueError where a unit covers no region."""
    regions = sorted(county_of)
    units = []
    for year in np.asarray(years).tolist():
        together = [set(counties) for counties in joined] + [set(c) for y, c in merged if y == year]
        clusters: list[tuple[list[str], set[str], set[str]]] = []  # codes, counties, counties reached
        for codes, counties, (first, last) in NUTS_UNITS:
            if not first <= year <= last:
                continue
            reach = set(counties).union(*(group for group in together if group & set(counties)))
            hits = [cluster for cluster in clusters if cluster[2] & reach]
            cluster = hits[0] if hits else ([], set(), set())
            for other in hits[1:]:
                cluster[0].extend(other[0])
                cluster[1].update(other[1])
                cluster[2].update(other[2])
                clusters.remove(other)
            cluster[0].extend(codes)
            cluster[1].update(counties)
            cluster[2].update(reach)
            if not hits:
                clusters.append(cluster)
        for unit_codes, unit_counties, _ in clusters:
            covered = tuple(region for region in regions if county_of[region] in unit_counties)
            if not covered:
                raise ValueError(
                    f"{year}: unit {unit_codes} (counties {sorted(unit_counties)}) is no region's county; "
                    "join its counties to a neighbour's"
                )
            units.append((tuple(unit_codes), covered, (year, year)))
    return tuple(units)


def _published_or_counties(published: xr.DataArray, counties: xr.DataArray) -> xr.DataArray:
    """Eurostat's unit populations (year, nuts), where not published for a unit of one code (the 2020
    units on 1 January 2020) the population of its 2024 counties (`counties` (year, region) totals)."""
    filled = published.copy()
    for codes, covered, _ in NUTS_UNITS:
        if len(codes) == 1:
            own = counties.sel(region=list(covered)).sum("region").reindex(year=published["year"])
            filled.loc[{"nuts": codes[0]}] = published.sel(nuts=codes[0]).fillna(own)
    return filled
